#!/usr/bin/env bash
# CUDA compiler launcher of jcas_cuda (CMakeLists.txt): runs the compile command "$@" and
# keeps what ptxas -v said about each kernel (registers, stack frame, spills, shared
# memory) beside the object, in OBJECT.ptxas, for tests/backend/kernel_resources.sh to
# read: the resources of the kernels the build made, without compiling them again. The
# compiler's other messages go to stderr as usual.
set -uo pipefail
obj=""
prev=""
for a in "$@"; do
  [ "$prev" = "-o" ] && obj="$a"
  prev="$a"
done
log=$(mktemp)
"$@" 2>"$log"
rc=$?
grep -v -E '^ptxas info|^ptxas +info|bytes stack frame|^ +Compile time|^ +Used [0-9]+ registers' "$log" >&2
if [ -n "$obj" ]; then
  if [ $rc -eq 0 ]; then
    cp "$log" "$obj.ptxas.tmp" && mv "$obj.ptxas.tmp" "$obj.ptxas"
  else
    rm -f "$obj.ptxas"
  fi
fi
rm -f "$log"
exit $rc
