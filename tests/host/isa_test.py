"""-march is confined to the CPU backend's SIMD island (host/cpu_isa.hpp, CMakeLists.txt).

usage: isa_test.py ISLAND_OBJECT JCAS_EXECUTABLE HOST_LIBRARY

Checks, from the machine code (objdump, nm):
1. the island object's only global symbols are its entries jcas::cpu::isa::*, and it
   holds code of the level (256- or 512-bit registers, VEX or EVEX instructions);
2. no other object of the host library holds one instruction above baseline x86-64;
3. in the linked jcas, every function with such an instruction is local (one of the
   island's own copies), so baseline code can never run one.
"""

import re
import subprocess
import sys

# Mnemonics above baseline x86-64 as GCC emits them: every VEX or EVEX instruction begins
# with v (baseline's own verr / verw are never emitted), plus BMI1 / BMI2 / LZCNT / MOVBE.
# tzcnt is left out: baseline code writes rep bsf, which objdump prints as tzcnt.
ABOVE = {"andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx", "sarx", "shlx", "shrx",
         "lzcnt", "movbe"}
HEADER = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN = re.compile(r"^\s+[0-9a-f]+:\s+(?:\S+ )?([a-z][a-z0-9.]*)\s*(.*)$")


def above_baseline(mnemonic, operands):
    if mnemonic.startswith("v") and mnemonic not in ("verr", "verw"):
        return True
    return mnemonic in ABOVE or "%ymm" in operands or "%zmm" in operands


def functions_above(path):
    """{member or '': {function: first instruction above baseline}} of an object, archive or program."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-w", path], check=True, capture_output=True,
                         text=True).stdout
    found, member, fn = {}, "", None
    for line in out.splitlines():
        if line.startswith("In archive"):
            continue
        m = re.match(r"^(\S+):\s+file format", line)
        if m:
            member = m.group(1).rsplit("/", 1)[-1]
            continue
        h = HEADER.match(line)
        if h:
            fn = (int(h.group(1), 16), h.group(2))
            continue
        i = INSN.match(line)
        if i and fn and above_baseline(i.group(1), i.group(2)):
            found.setdefault(member, {}).setdefault(fn, i.group(1) + " " + i.group(2))  # (address, name)
    return found


def merged(found):
    return {f: insn for fns in found.values() for f, insn in fns.items()}


def global_symbols(path):
    """{(address, name)} of the global symbols a file defines."""
    out = subprocess.run(["nm", "--defined-only", path], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TWVDBRui":  # global bindings
            syms.add((int(parts[0], 16), parts[2]))
    return syms


def main():
    island, program, library = sys.argv[1:4]
    bad = 0

    def report(ok, what):
        nonlocal bad
        bad += not ok
        print(("ok   " if ok else "FAIL ") + what)

    names = {name for _, name in global_symbols(island)}
    entries = [s for s in names if s.startswith("_ZN4jcas3cpu3isa")]
    others = sorted(set(names) - set(entries))
    report(not others, f"island: {len(names)} global symbols, {len(others)} outside jcas::cpu::isa {others[:5]}")
    demangled = subprocess.run(["c++filt"], input="\n".join(entries), capture_output=True, text=True).stdout
    for entry in ("generate_batch", "init_batch", "solve_batch", "training_gradients"):
        report(f"jcas::cpu::isa::{entry}(" in demangled, f"island: entry jcas::cpu::isa::{entry}")
    island_code = merged(functions_above(island))
    wide = [f for f, insn in island_code.items() if "%ymm" in insn or "%zmm" in insn]
    report(len(wide) > 0, f"island: {len(island_code)} functions above baseline, {len(wide)} with 256/512-bit "
                          "registers (the level is in effect)")

    members = functions_above(library)
    leaks = {m: fns for m, fns in members.items() if m != "jcas_cpu_isa.o"}
    report("jcas_cpu_isa.o" in members, "host library: the island is a member")
    for m, fns in sorted(leaks.items()):
        (_, fn), insn = next(iter(fns.items()))
        print(f"      {m}: {len(fns)} functions, e.g. {fn}: {insn}")
    report(not leaks, f"host library: no other member holds an instruction above baseline x86-64 "
                      f"({len(leaks)} do)")

    code = merged(functions_above(program))
    exported = global_symbols(program)
    # A local copy in the island may share its name with a global baseline one: by address.
    visible = sorted(f for f in code if f in exported and not f[1].startswith("_ZN4jcas3cpu3isa"))
    for f in visible[:10]:
        print(f"      {f[1]}: {code[f]}")
    report(len(code) > 0 and not visible,
           f"jcas: {len(code)} functions above baseline, {len(visible)} of them global outside the island's entries")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
