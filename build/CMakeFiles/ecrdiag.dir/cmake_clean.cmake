file(REMOVE_RECURSE
  "CMakeFiles/ecrdiag.dir/src/cli/main.c.o"
  "CMakeFiles/ecrdiag.dir/src/cli/main.c.o.d"
  "ecrdiag"
  "ecrdiag.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ecrdiag.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
