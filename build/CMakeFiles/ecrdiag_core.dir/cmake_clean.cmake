file(REMOVE_RECURSE
  "CMakeFiles/ecrdiag_core.dir/src/core/buf.c.o"
  "CMakeFiles/ecrdiag_core.dir/src/core/buf.c.o.d"
  "CMakeFiles/ecrdiag_core.dir/src/core/err.c.o"
  "CMakeFiles/ecrdiag_core.dir/src/core/err.c.o.d"
  "libecrdiag_core.a"
  "libecrdiag_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ecrdiag_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
