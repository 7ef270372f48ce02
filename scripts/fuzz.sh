#!/usr/bin/env bash
# Builds l2o's libFuzzer harnesses (tests/fuzz/: the checkpoint reader with CRC fix-up and
# a save/load round-trip property, the IDX reader with its invariants, the option parser)
# with clang, ASan and UBSan, and runs each for SECONDS (default 30) from the committed
# seed corpora. Fails on any crash, leak, timeout or broken invariant.
#   bash scripts/fuzz.sh [SECONDS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
dir=${2:-build-fuzz}
cxx=$(command -v clang++ || command -v clang++-14)
mkdir -p "$dir"
flags=(-std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I. -Iinclude -Ibuild-fuzz-gen)
# The generated public headers, as CMake would make them (CPU-only, static).
mkdir -p build-fuzz-gen/l2o
sed -e 's/@PROJECT_VERSION_MAJOR@/0/;s/@PROJECT_VERSION_MINOR@/0/;s/@PROJECT_VERSION_PATCH@/0/;s/@PROJECT_VERSION@/fuzz/' \
  cmake/version.hpp.in >build-fuzz-gen/l2o/version.hpp
sed -e 's/@L2O_WITH_CUDA_01@/0/;s/@L2O_SHARED_01@/0/' cmake/build.hpp.in >build-fuzz-gen/l2o/build.hpp
lib=(host/io/checkpoint.cpp host/config.cpp host/weights.cpp host/io/idx.cpp)
for h in checkpoint idx options; do
  echo "== fuzz: building fuzz_$h"
  srcs=(tests/fuzz/fuzz_$h.cpp)
  [ $h = options ] || srcs+=("${lib[@]}")
  "$cxx" "${flags[@]}" "${srcs[@]}" -lz -o "$dir/fuzz_$h"
done
for h in checkpoint idx options; do
  echo "== fuzz: fuzz_$h for ${secs}s"
  work="$dir/corpus-$h"
  mkdir -p "$work"
  ASAN_OPTIONS=detect_leaks=1 "$dir/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 "$work" "tests/fuzz/corpus/$h" 2>"$dir/fuzz_$h.log" ||
    { tail -40 "$dir/fuzz_$h.log"; exit 1; }
  grep -E "stat::number_of_executed_units|cov:" "$dir/fuzz_$h.log" | tail -2
done
echo "fuzz: no crash, leak, timeout or broken invariant"
