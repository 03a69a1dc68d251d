#!/usr/bin/env bash
# The default GPU kernels' resources, read from the compiler (ptxas -v) without a GPU. A
# thread's local memory (its stack frame and spills) is DRAM-backed: the first H200 run's
# kernels streamed their slots and their views through it. So each kernel below must need
# no stack frame and spill nothing, and keep to the registers and static shared memory
# that give the occupancy its design assumes:
# - inference, the lanes kernels (kernels/unfolded_lanes.cu, the --products auto route for
#   line-of-sight channels, teams of 32, 16 or 8 lanes a realization): 80 registers in
#   float (6 blocks of 4 warps an SM), 96 in double (5 blocks), under 3 KB of static
#   shared memory (the slots' views) for every 4 realizations of a block;
# - training, the warp kernels (kernels/train_kernels.cu): a warp per realization with its
#   workspace's views in static shared memory (some 1.3 KB a warp); the default one a block
#   each with 74.9 KB of dynamic shared memory at the paper's size, so 3 blocks an SM are
#   bound by shared memory, not by their 168 registers (12 warps' worth).
# The reports are the build's own (tools/ptxas_report.sh, the launcher of jcas_cuda's
# compiles): OBJECT.ptxas beside each object.
#   kernel_resources.sh "OBJECTS" (jcas_cuda's objects, ;-separated: $<TARGET_OBJECTS>)
set -uo pipefail
report() {  # the ptxas report of the object compiled from kernels/$1
  local o
  IFS=';' read -ra objs <<<"$objects"
  for o in "${objs[@]}"; do
    case "$o" in */kernels/"$1".o)
      [ -s "$o.ptxas" ] && { echo "$o.ptxas"; return 0; }
      echo "FAIL: no ptxas report $o.ptxas: build jcas_cuda with tools/ptxas_report.sh as its launcher" >&2
      return 1 ;;
    esac
  done
  echo "FAIL: no object of kernels/$1 among jcas_cuda's" >&2
  return 1
}
objects="$1"
lanes=$(report unfolded_lanes.cu) || exit 1
train=$(report train_kernels.cu) || exit 1
fail=0
# check OUTPUT MANGLED-NAME-PART NAME MAX-REGISTERS MAX-STATIC-SHARED-BYTES
check() {
  local out="$1" key="$2" name="$3" regs_max="$4" smem_max="$5"
  local block stack spills regs smem
  block=$(awk -v k="$key" '
    /Compiling entry function/ { on = index($0, k) > 0 } on && /Function properties|stack frame|Used/ { print }' "$out")
  stack=$(echo "$block" | sed -n 's/.* \([0-9]*\) bytes stack frame.*/\1/p' | head -1)
  spills=$(echo "$block" | sed -n 's/.*, \([0-9]*\) bytes spill stores, \([0-9]*\) bytes spill loads.*/\1 \2/p' | head -1)
  regs=$(echo "$block" | sed -n 's/.*Used \([0-9]*\) registers.*/\1/p' | head -1)
  smem=$(echo "$block" | sed -n 's/.*, \([0-9]*\) bytes smem.*/\1/p' | head -1)
  echo "$name: ${regs:-?} registers, stack ${stack:-?} B, spill stores/loads ${spills// //} B, static shared ${smem:-?} B"
  if [ -z "$regs" ] || [ "$stack" != 0 ] || [ "$spills" != "0 0" ] || [ "$regs" -gt "$regs_max" ] ||
    [ "${smem:-0}" -gt "$smem_max" ]; then
    echo "FAIL: $name is over its budget (0 stack, 0 spills, <= $regs_max registers, <= $smem_max B static shared)"
    fail=1
  fi
}
for g in 32 16 8; do  # the views of 4 x 32 / g realizations' slots
  check "$lanes" "lanes_kernelIfLi${g}E" "lanes_kernel<float, $g>" 80 $((3072 * 32 / g))
  check "$lanes" "lanes_kernelIdLi${g}E" "lanes_kernel<double, $g>" 96 $((3072 * 32 / g))
done
check "$train" loss_grad_shared_kernelIdE "loss_grad_shared_kernel<double>" 168 1536
check "$train" loss_grad_warp_kernelIdE "loss_grad_warp_kernel<double>" 168 6144
for f in "$lanes" "$train"; do
  if grep -qi ' error' "$f"; then
    grep -i ' error' "$f"
    fail=1
  fi
done
exit $fail
