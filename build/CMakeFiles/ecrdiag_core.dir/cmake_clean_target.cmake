file(REMOVE_RECURSE
  "libecrdiag_core.a"
)
