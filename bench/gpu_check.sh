#!/usr/bin/env bash
# The one GPU check of l2o, for a machine with an NVIDIA GPU (built for sm_90 by default:
# H100 / H200). Configures and builds (with -lineinfo), runs the whole test suite on the
# GPU, runs the GPU tests under compute-sanitizer (memcheck, racecheck, synccheck), the
# GPU benchmark side by side with PyTorch on the same card (bench/compare_gpu.sh), a short
# meta-training of the quadratic and of the Fashion-MNIST MLP on the GPU (throughput), the
# CPU step benchmark, and prints a summary last. Everything it prints is also in OUTDIR.
#   bash bench/gpu_check.sh OUTDIR [CUDA_ARCH]
# Budget: about 10 minutes on an H100 (build ~3, tests ~1, sanitizers ~3, benchmarks ~2).
set -uo pipefail
out=${1:?usage: gpu_check.sh OUTDIR [CUDA_ARCH]}
arch=${2:-90}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PATH="$PATH:/usr/local/cuda/bin"
build=build-gpu-check
summary="$out/summary.txt"
: >"$summary"
note() { echo "$*" | tee -a "$summary"; }
t0=$(date +%s)
stamp() { echo "$(($(date +%s) - t0))s"; }

note "l2o GPU check — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
note "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"
note "command: bash bench/gpu_check.sh OUTDIR $arch"

status_build=FAIL
if cmake -S . -B "$build" -DL2O_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" -DL2O_LINEINFO=ON \
  -DCMAKE_BUILD_TYPE=Release >"$out/configure.log" 2>&1 &&
  cmake --build "$build" -j "$(nproc)" >"$out/build.log" 2>&1; then
  status_build=ok
fi
note "build (sm_$arch): $status_build ($(stamp))"
[ "$status_build" = ok ] || {
  tail -30 "$out/build.log"
  exit 1
}

(cd "$build" && ctest --output-on-failure --timeout 300 -j 4) >"$out/ctest.log" 2>&1
note "tests: $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1) ($(stamp))"
grep -E "\(Failed\)|\(Skipped\)|\(Timeout\)" "$out/ctest.log" | head -20 | tee -a "$summary"

san=compute-sanitizer
command -v $san >/dev/null || san=/usr/local/cuda/bin/compute-sanitizer
for tool in memcheck racecheck synccheck; do
  timeout 240 $san --tool $tool --error-exitcode 99 "$build/tests/l2o_tests" --gtest_filter='Cuda*' \
    >"$out/sanitizer-$tool.log" 2>&1
  rc=$?
  note "compute-sanitizer $tool: $([ $rc = 0 ] && echo clean || echo "FAILED (exit $rc)") — $(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1) ($(stamp))"
done

timeout 300 bash bench/compare_gpu.sh "$build" "$out" >"$out/compare_gpu.log" 2>&1
note "GPU benchmark + PyTorch: exit $? ($(stamp))"

# Meta-training throughput on the GPU (issue: timing of the MLP study's optimizer).
for problem in quadratic mlp; do
  timeout 120 "$build/l2o" train --problem $problem --epochs 40 --eval-every 40 --validation 5 \
    --device cuda --meta-lr 0.01 --out "$out/train-$problem.l2o" --force \
    >"$out/train-$problem.log" 2>&1
  note "meta-training $problem on the GPU: $(grep -E '^trained' "$out/train-$problem.log" || tail -1 "$out/train-$problem.log") ($(stamp))"
done

"$build/bench/l2o_bench_cpu" --benchmark_filter='Step' --benchmark_min_time=0.2 \
  >"$out/bench_cpu.txt" 2>&1
note "CPU step benchmark ($(nproc) cores): exit $? ($(stamp))"

echo
echo "================ summary ================"
cat "$summary"
echo
grep -E '^#|^\||^\(' "$out/l2o_gpu.txt" 2>/dev/null
cat "$out/ratios.md" 2>/dev/null
grep -E "^BM_" "$out/bench_cpu.txt"
