#!/usr/bin/env bash
# The one GPU check of l2o, for a machine with an NVIDIA GPU (built for sm_90 by default:
# H100 / H200). Configures and builds, runs the whole test suite on the GPU, runs the GPU
# tests under compute-sanitizer (memcheck, racecheck, synccheck), runs the benchmarks,
# and prints a one-screen summary last. Everything it prints is also in OUTDIR.
#   bash bench/gpu_check.sh OUTDIR [CUDA_ARCH]
# Budget: under 8 minutes on an H100 (most of it is the build).
set -uo pipefail
out=${1:?usage: gpu_check.sh OUTDIR [CUDA_ARCH]}
arch=${2:-90}
cd "$(dirname "$0")/.."
mkdir -p "$out"
export PATH="$PATH:/usr/local/cuda/bin"
build=build-gpu-check
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
t0=$(date +%s)
stamp() { echo "$(( $(date +%s) - t0 ))s"; }

note "l2o GPU check — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"

status_build=FAIL
if cmake -S . -B "$build" -DL2O_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DL2O_LINEINFO=ON \
     -DCMAKE_BUILD_TYPE=Release >"$out/configure.log" 2>&1 &&
   cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1; then
  status_build=ok
fi
note "build (sm_$arch): $status_build ($(stamp))"
[ "$status_build" = ok ] || { tail -30 "$out/build.log"; exit 1; }

(cd "$build" && ctest --output-on-failure --timeout 600) >"$out/ctest.log" 2>&1
note "tests: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1) ($(stamp))"
grep -E "Skipped|Failed" "$out/ctest.log" | grep -v "^Total" | head -20 | tee -a "$summary"

san=compute-sanitizer
command -v $san >/dev/null || san=/usr/local/cuda/bin/compute-sanitizer
for tool in memcheck racecheck synccheck; do
  $san --tool $tool --error-exitcode 99 "$build/tests/l2o_tests" --gtest_filter='Cuda*' \
    >"$out/sanitizer-$tool.log" 2>&1
  rc=$?
  note "compute-sanitizer $tool: $([ $rc = 0 ] && echo clean || echo "FAILED (exit $rc)") — $(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1) ($(stamp))"
done

if [ -x "$build/bench/l2o_bench_gpu" ]; then
  "$build/bench/l2o_bench_gpu" --csv "$out/bench_gpu.csv" >"$out/bench_gpu.txt" 2>&1
  note "GPU benchmark: exit $? ($(stamp))"
fi
if [ -x "$build/bench/l2o_bench_cpu" ]; then
  "$build/bench/l2o_bench_cpu" --benchmark_filter=Step --benchmark_min_time=0.2 \
    >"$out/bench_cpu.txt" 2>&1
  note "CPU benchmark ($(nproc) cores): exit $? ($(stamp))"
fi

echo
echo "================ summary ================"
cat "$summary"
[ -f "$out/bench_gpu.txt" ] && { echo; cat "$out/bench_gpu.txt"; }
[ -f "$out/bench_cpu.txt" ] && { echo; grep -E "^BM_" "$out/bench_cpu.txt"; }
