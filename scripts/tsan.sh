#!/usr/bin/env bash
# ThreadSanitizer on l2o's threaded code (OpenMP): the CPU-only build with clang, LLVM's
# OpenMP runtime and its Archer tool (which tells TSan about OpenMP's own synchronisation,
# so that only real races are reported), running the tests that exercise the parallel
# loops. Any report fails. Run by .ci/run.
#   bash scripts/tsan.sh [BUILD_DIR]          (default build-tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
archer=$(ls /usr/lib/llvm-*/lib/libarcher.so 2>/dev/null | sort -V | tail -1 || true)
[ -n "$archer" ] || { echo "tsan: libarcher.so not found (Debian: libomp-dev)"; exit 1; }
echo "== l2o: TSan build ($dir, OpenMP race detection through $archer)"
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DL2O_CUDA=OFF \
  -DL2O_BUILD_BENCH=OFF -DL2O_BUILD_EXAMPLES=OFF -DL2O_NATIVE=ON -DL2O_MPI=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -g -O1" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
  >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "${JOBS:-$(nproc)}" --target l2o_tests >"$dir.build.log" 2>&1 ||
  { tail -40 "$dir.build.log"; exit 1; }
export OMP_TOOL_LIBRARIES=$archer OMP_NUM_THREADS=4
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1"
"$dir/tests/l2o_tests" \
  --gtest_filter='CpuStep.*:MultiTensor.*:MetaGradient.*:MetaSession.*:Unroller.*:Baselines.*:TrainTest.Results*:BFloat16.*'
echo "tsan: no data race in the threaded tests"
