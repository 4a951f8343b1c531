#!/usr/bin/env python3
"""Which micro-kernel loops touch the stack: the check behind docs/kernels.md's "accumulators
in registers" notes (an accumulator array kept in memory costs a store per multiply-add).

    objdump -d --no-show-raw-insn BINARY > dis.s          # x86-64
    aarch64-linux-gnu-objdump -d --no-show-raw-insn BINARY > dis.s
    python3 kernels/tools/loop_stack.py dis.s [FUNCTION_REGEX]   (default: gemm.{1,2}ukr)

For every function whose name matches, every loop (a backward branch and its target) that
holds multiply-add instructions (vfmadd*/vpdpbusd/vpmaddubsw/vpmaddwd/vdpbf16ps on x86-64;
fmla/sdot/usmmla/bfmmla/bfdot/smlal on aarch64) is listed with its instruction and
multiply-add counts, its vector registers stored to the stack and all its stack accesses
(`(%rsp)` / `[sp`). A k loop should store no vector to the stack (an integer reload of a loop
count is harmless); the epilogue's loops (GELU's polynomial is multiply-adds too) may. Loops that nest are listed once
per backward branch, so an outer loop repeats its inner one's counts. Exit status 0 always.
"""
import re
import sys

MAC = re.compile(r"^(vfmadd|vfnmadd|vpdpbusd|vpmaddubsw|vpmaddwd|vdpbf16ps|\{vex\}|fmla|sdot|udot|"
                 r"usmmla|bfmmla|bfdot|smlal|umlal)")
STACK = re.compile(r"\(%rsp\)|\[sp")
# A vector register stored to the stack: x86-64 `vmov* %xmm/%ymm/%zmm, ..(%rsp)`, aarch64
# `str/stp q../d../s.., [sp..]` (AT&T operand order: source first; Arm: register first).
VSTORE = re.compile(r"^%[xyz]mm\d+,.*\(%rsp\)|^[qds]\d+, ([qds]\d+, )?\[sp")
BRANCH = re.compile(r"^(j[a-z]+|b|b\.[a-z]+|cbn?z|tbn?z)$")


def functions(path):
    name, body = None, []
    for line in open(path, errors="replace"):
        m = re.match(r"^([0-9a-f]+) <(.*)>:$", line)
        if m:
            if name:
                yield name, body
            name, body = m.group(2), []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and name:
            body.append((int(m.group(1), 16), m.group(2), m.group(3)))
    if name:
        yield name, body


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pattern = re.compile(sys.argv[2] if len(sys.argv) > 2 else r"gemm.{1,2}ukr")
    for name, body in functions(sys.argv[1]):
        if not pattern.search(name):
            continue
        short = re.sub(r"17h[0-9a-f]{16}E$", "", name)
        for addr, op, args in body:
            t = re.search(r"\b([0-9a-f]+) <", args)
            if not (t and BRANCH.match(op)) or int(t.group(1), 16) >= addr:
                continue
            lo = int(t.group(1), 16)
            loop = [(a, o, x) for a, o, x in body if lo <= a <= addr]
            macs = sum(1 for _, o, x in loop if MAC.match(o) or MAC.match(x))
            if macs == 0:
                continue
            stack = sum(1 for _, _, x in loop if STACK.search(x))
            vstore = sum(1 for _, o, x in loop if o.startswith(("vmov", "str", "stp")) and VSTORE.search(x))
            print(f"{vstore:4d} vector stores {stack:4d} stack  {macs:4d} mac  {len(loop):5d} insns  "
                  f"{lo:x}-{addr:x}  {short}")


if __name__ == "__main__":
    main()
