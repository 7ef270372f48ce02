#!/usr/bin/env bash
# The CPU-only build with AddressSanitizer and UndefinedBehaviorSanitizer (any report
# fails: -fno-sanitize-recover), running the whole ctest suite. Run by .ci/run.
#   bash scripts/sanitize.sh [BUILD_DIR]          (default build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g"
echo "== l2o: ASan + UBSan build ($dir)"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DL2O_CUDA=OFF -DL2O_BUILD_BENCH=OFF -DL2O_MPI=OFF \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "${JOBS:-$(nproc)}" >"$dir.build.log" 2>&1 || { tail -40 "$dir.build.log"; exit 1; }
# OpenMP's runtime keeps thread pools alive at exit: not leaks of l2o's.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd "$dir" && ctest --output-on-failure --timeout 900 -E 'docs\.|headers\.')
