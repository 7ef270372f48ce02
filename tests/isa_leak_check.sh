#!/usr/bin/env bash
# The per-instruction-set CPU kernels must not leak: code compiled with -mavx2 or -mavx512*
# (host/cpu/kernels_isa.cpp) may only be reached through its KernelTable, never linked in
# place of a function the rest of the library calls (an inline function or template
# instantiated in both, of which the linker keeps one copy). The kernels' code lives in
# the inline namespaces isa_avx2 / isa_avx512 (maths/hd.hpp); this disassembles a binary
# linked with libl2o and fails when any other function uses a VEX or EVEX instruction
# (v-prefixed mnemonics, ymm/zmm/mask registers), which a baseline x86-64 build never emits.
#   bash tests/isa_leak_check.sh BINARY
set -euo pipefail
bin=$1
command -v objdump >/dev/null || { echo "objdump not found (binutils)"; exit 1; }
objdump -d -C --no-show-raw-insn "$bin" | awk '
  /^[0-9a-f]+ <.*>:$/ {
    fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn)
    isa = (fn ~ /::isa_avx2::|::isa_avx512::|kernels_avx2\(\)|kernels_avx512\(\)/)
    next
  }
  /^ *[0-9a-f]+:\t/ {
    if (isa) { wide++; next }
    split($0, f, "\t"); ins = f[2]
    if (ins ~ /^v/ || ins ~ /%[yz]mm|%k[0-7]/) {
      if (!(fn in seen)) { seen[fn] = 1; bad++; print "wide instruction outside the ISA kernels: " fn ": " ins }
    }
    base++
  }
  END {
    printf "%d instructions in the ISA kernels, %d elsewhere, %d functions outside them with wide instructions\n", wide, base, bad
    if (wide == 0) { print "no ISA kernel code found: is this binary linked with libl2o?"; exit 1 }
    exit bad > 0
  }'
