#!/usr/bin/env bash
# The default inference kernel's resources, read from the compiler (ptxas -v) without a
# GPU: for the paper's configuration the lanes kernel (kernels/unfolded_lanes.cu, the
# --products auto route for line-of-sight channels) must need no stack frame and spill
# nothing -- a thread's local memory is DRAM-backed, the first H200 run's thread-per-
# realization kernel streamed its 32 KB slot through it -- and keep to the registers and
# static shared memory that give the occupancy its design assumes: 80 registers in float
# (6 blocks of 4 warps an SM), 96 in double (5 blocks), under 3 KB of static shared memory.
#   kernel_resources.sh NVCC SOURCE_DIR
set -uo pipefail
nvcc="$1" src="$2"
out=$("$nvcc" -DJCAS_HAVE_CUDA=1 -I"$src" -I"$src/include" -O3 -DNDEBUG --generate-code=arch=compute_90,code=sm_90 \
  --expt-relaxed-constexpr -std=c++17 -x cu -c "$src/kernels/unfolded_lanes.cu" -o /dev/null -Xptxas -v 2>&1)
fail=0
for prec in f:float:80 d:double:96; do
  IFS=: read -r code name regs_max <<<"$prec"
  block=$(echo "$out" | awk -v k="lanes_kernelI${code}E" '
    /Compiling entry function/ { on = index($0, k) > 0 } on && /Function properties|stack frame|Used/ { print }')
  stack=$(echo "$block" | sed -n 's/.* \([0-9]*\) bytes stack frame.*/\1/p' | head -1)
  spills=$(echo "$block" | sed -n 's/.*, \([0-9]*\) bytes spill stores, \([0-9]*\) bytes spill loads.*/\1 \2/p' | head -1)
  regs=$(echo "$block" | sed -n 's/.*Used \([0-9]*\) registers.*/\1/p' | head -1)
  smem=$(echo "$block" | sed -n 's/.*, \([0-9]*\) bytes smem.*/\1/p' | head -1)
  echo "lanes_kernel<$name>: ${regs:-?} registers, stack ${stack:-?} B, spill stores/loads ${spills// //} B, static shared ${smem:-?} B"
  if [ -z "$regs" ] || [ "$stack" != 0 ] || [ "$spills" != "0 0" ] || [ "$regs" -gt "$regs_max" ] || [ "$smem" -gt 3072 ]; then
    echo "FAIL: lanes_kernel<$name> is over its budget (0 stack, 0 spills, <= $regs_max registers, <= 3072 B static shared)"
    fail=1
  fi
done
[ -n "$(echo "$out" | grep -i ' error')" ] && { echo "$out" | grep -i ' error'; fail=1; }
exit $fail
