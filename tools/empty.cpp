// libjcas.so is made of the static libraries linked whole (CMakeLists.txt); a shared
// library target needs at least one source of its own.
