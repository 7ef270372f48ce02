#!/usr/bin/env bash
# The one GPU check of l2o, for a machine with an NVIDIA GPU (sm_90 by default: H100 /
# H200) and no package registry: what the build needs beyond nvcc, CMake and a compiler
# comes from the bundle of bench/gpu_bundle.sh (docs/gpu.md). Stages, each with its own
# time limit, each recorded as ok / FAILED / skipped (with the reason), none stopping the
# others:
#   dependencies, build (-lineinfo, ninja when present), device probe, the whole test
#   suite, compute-sanitizer (memcheck, racecheck, synccheck, initcheck) on the GPU tests,
#   the GPU benchmark beside PyTorch on the same card (bench/compare_gpu.sh), a short
#   meta-training of the quadratic and of the Fashion-MNIST MLP on the GPU, the NCCL
#   exchange of data-parallel meta-training as one rank (phi equal to the host's), the Python
#   package's tests and torch optimizer benchmark (where python3 has nanobind, scikit-build-core,
#   torch and pytest), the CPU step benchmark.
# Full logs go to OUTDIR; the summary table is printed last (and is OUTDIR/summary.txt).
# The whole check ends within L2O_CHECK_BUDGET seconds (default 510: under 9 minutes).
#   bash bench/gpu_check.sh OUTDIR [CUDA_ARCH]
# Environment: L2O_GPU_BUNDLE (default .gpu-bundle), L2O_BUNDLE_ONLY=1 (take every
# dependency from the bundle: bench/gpu_rehearsal.sh), L2O_CHECK_BUILD (build folder,
# default build-gpu-check), L2O_CHECK_BUILD_CAP and L2O_CHECK_TEST_CAP (seconds the build
# and ctest may take, default 300 and 150: ample on the 16 cores of a GPU machine, not on
# 2), PYTHON (default python3).
set -uo pipefail
out=${1:?usage: gpu_check.sh OUTDIR [CUDA_ARCH]}
arch=${2:-90}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
export PATH="$PATH:/usr/local/cuda/bin"
build=${L2O_CHECK_BUILD:-build-gpu-check}
budget=${L2O_CHECK_BUDGET:-510}
build_cap=${L2O_CHECK_BUILD_CAP:-300}
test_cap=${L2O_CHECK_TEST_CAP:-150}
py=${PYTHON:-python3}
t0=$(date +%s)
summary="$out/summary.txt"
: >"$summary"
failures=0

elapsed() { echo $(($(date +%s) - t0)); }
# Seconds a stage may take: its own cap, or what is left of the budget (less a reserve
# for the summary), whichever is smaller.
limit() {
  local left=$((budget - $(elapsed) - 10))
  ((left < $1)) && echo $((left > 0 ? left : 0)) || echo "$1"
}
line() { echo "$*" | tee -a "$summary"; }
# record NAME STATUS DETAIL
record() {
  printf '%-34s %-8s %s (t=%ss)\n' "$1" "$2" "$3" "$(elapsed)" | tee -a "$summary"
  [ "$2" = FAILED ] && failures=$((failures + 1))
  return 0
}
# run_stage NAME CAP LOG CMD...: runs CMD with a time limit, output to LOG; sets $rc.
run_stage() {
  local name=$1 cap=$2 log=$3 secs
  shift 3
  secs=$(limit "$cap")
  if ((secs < 5)); then
    rc=skip
    record "$name" skipped "time budget of ${budget}s spent"
    return 1
  fi
  timeout -k 5 "$secs" "$@" >"$log" 2>&1
  rc=$?
  [ $rc = 124 ] || [ $rc = 137 ] && record "$name" FAILED "timed out after ${secs}s ($(basename "$log"))" && return 1
  return 0
}

line "l2o GPU check — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
line "card: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"
line "nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'not found'); cmake: $(cmake --version 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*' || echo 'not found'); cores: $(nproc)"
line "command: bash bench/gpu_check.sh OUTDIR $arch"

# --- dependencies ---------------------------------------------------------------------
. bench/gpu_deps.sh
l2o_deps "${L2O_GPU_BUNDLE:-.gpu-bundle}" >"$out/deps.log" 2>&1
deps_rc=$?
if [ $deps_rc = 0 ]; then
  record dependencies ok "$L2O_DEPS_REPORT"
else
  record dependencies FAILED "$L2O_DEPS_REPORT (run bench/gpu_bundle.sh where a registry is reachable)"
fi
cat "${L2O_GPU_BUNDLE:-.gpu-bundle}/MANIFEST" >>"$out/deps.log" 2>/dev/null

# --- build ----------------------------------------------------------------------------
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
built=0
if run_stage "build (sm_$arch)" "$build_cap" "$out/build.log" bash -c '
    set -e
    cmake -S . -B "$0" "${@:2}"
    cmake --build "$0" -j "$1"' "$build" "$(nproc)" "${gen[@]}" -DL2O_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DL2O_LINEINFO=ON -DCMAKE_BUILD_TYPE=Release \
  "${L2O_DEPS_CMAKE[@]}"; then
  if [ $rc = 0 ]; then
    built=1
    record "build (sm_$arch)" ok "$(grep -c . "$out/build.log") lines of log, $(ls "$build"/bench 2>/dev/null | grep -c l2o_bench) benchmarks"
  else
    record "build (sm_$arch)" FAILED "exit $rc: $(grep -m1 -iE 'error|not found' "$out/build.log" | cut -c1-160)"
    tail -40 "$out/build.log"
  fi
fi

# --- device ---------------------------------------------------------------------------
device=0
why="build failed"
if [ $built = 1 ]; then
  "$build/l2o" devices >"$out/devices.log" 2>&1
  if grep -q '^cuda: available' "$out/devices.log"; then
    device=1
    record "device probe" ok "$(grep '^cuda' "$out/devices.log")"
  else
    why="no usable CUDA device"
    record "device probe" skipped "$why: $(grep '^cuda' "$out/devices.log" | cut -c1-140)"
  fi
fi
# needs_device NAME: records the stage as skipped when there is no device.
needs_device() {
  [ $device = 1 ] && return 0
  record "$1" skipped "$why"
  return 1
}

# --- tests ----------------------------------------------------------------------------
if [ $built = 1 ]; then
  if run_stage "tests (ctest)" "$test_cap" "$out/ctest.log" bash -c "cd '$build' && ctest --output-on-failure --timeout 120 -j 4"; then
    result=$(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1)
    skipped=$(grep -c '(Skipped)' "$out/ctest.log")
    [ $rc = 0 ] && record "tests (ctest)" ok "$result; $skipped skipped" ||
      record "tests (ctest)" FAILED "$result; see ctest.log"
    grep -E '\(Failed\)|\(Timeout\)|\(SEGFAULT\)|\(Subprocess aborted\)' "$out/ctest.log" | head -20 | tee -a "$summary"
  fi
else
  record "tests (ctest)" skipped "$why"
fi

# --- compute-sanitizer ------------------------------------------------------------------
san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# The GPU tests but the one that takes 11 GB (minutes under the sanitizer).
filter='Cuda*:-*Past2To31*'
for tool in memcheck racecheck synccheck initcheck; do
  name="compute-sanitizer $tool"
  needs_device "$name" || continue
  [ -x "$san" ] || { record "$name" skipped "compute-sanitizer not found"; continue; }
  run_stage "$name" 75 "$out/sanitizer-$tool.log" "$san" --tool $tool --error-exitcode 99 \
    "$build/tests/l2o_tests" --gtest_filter="$filter" || continue
  summary_line=$(grep -E 'ERROR SUMMARY' "$out/sanitizer-$tool.log" | tail -1)
  if grep -qiE 'Device not supported|device is not supported|error 999|Unable to find injection' "$out/sanitizer-$tool.log"; then
    record "$name" skipped "the sanitizer refused this device: $(grep -m1 -iE 'not supported|999|injection' "$out/sanitizer-$tool.log" | cut -c1-100)"
  elif [ $rc = 0 ]; then
    record "$name" ok "clean: $summary_line"
  else
    record "$name" FAILED "exit $rc: $summary_line"
  fi
done

# --- GPU benchmark beside PyTorch ---------------------------------------------------------
if needs_device "GPU benchmark + PyTorch"; then
  if run_stage "GPU benchmark + PyTorch" 150 "$out/compare_gpu.log" env PYTHON="$py" bash bench/compare_gpu.sh "$build" "$out"; then
    if [ $rc != 0 ]; then
      record "GPU benchmark + PyTorch" FAILED "exit $rc; see compare_gpu.log"
    elif grep -q 'no PyTorch comparison' "$out/compare_gpu.log"; then
      record "GPU benchmark + PyTorch" ok "l2o only; PyTorch half skipped: no PyTorch with CUDA for $py"
    else
      record "GPU benchmark + PyTorch" ok "tables below"
    fi
  fi
fi

# --- meta-training on the GPU ---------------------------------------------------------------
for problem in quadratic mlp; do
  name="meta-training $problem (GPU)"
  needs_device "$name" || continue
  if [ $problem = mlp ] && [ ! -f "${L2O_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}/train-images-idx3-ubyte.gz" ]; then
    record "$name" skipped "no Fashion-MNIST data (bench/gpu_bundle.sh brings it)"
    continue
  fi
  run_stage "$name" 60 "$out/train-$problem.log" "$build/l2o" train --problem $problem \
    --epochs 40 --eval-every 40 --validation 5 --device cuda --meta-lr 0.01 \
    --out "$out/train-$problem.l2o" --force || continue
  [ $rc = 0 ] && record "$name" ok "$(grep -E '^trained' "$out/train-$problem.log" | cut -c1-120)" ||
    record "$name" FAILED "exit $rc: $(tail -1 "$out/train-$problem.log" | cut -c1-120)"
done

# --- the NCCL exchange of data-parallel meta-training, as one rank ----------------------------
# The same meta-batch of 4 with the gradients exchanged on the host and through NCCL (kept on
# the GPU): the two phi files must be equal, byte for byte (docs/scaling.md).
name="NCCL exchange, one rank (GPU)"
if needs_device "$name"; then
  if ! grep -q 'NCCL exchange ON' "$out/build.log"; then
    record "$name" skipped "built without NCCL ($(grep -o 'NCCL exchange.*' "$out/build.log" | head -1))"
  elif run_stage "$name" 60 "$out/nccl.log" bash -c '
      set -e
      for e in host nccl; do
        "$0/l2o" train --problem quadratic --epochs 16 --eval-every 8 --validation 4 \
          --meta-batch 4 --device cuda --exchange $e --meta-lr 0.01 --out "$1/nccl-$e.l2o" --force
      done
      cmp "$1/nccl-host.l2o" "$1/nccl-nccl.l2o" && echo "phi files equal"' "$build" "$out"; then
    [ $rc = 0 ] && record "$name" ok "$(grep -o 'exchanged: nccl' "$out/nccl.log"); phi equal to the host exchange's" ||
      record "$name" FAILED "exit $rc: $(tail -1 "$out/nccl.log" | cut -c1-120)"
  fi
fi

# --- Python package: pytest (its CUDA tests) and the torch optimizer benchmark --------------
name="Python package + pytest + torch bench"
if ! needs_device "$name"; then
  :
elif ! $py -c "import nanobind, scikit_build_core, torch, pytest" >/dev/null 2>&1; then
  record "$name" skipped "$py lacks nanobind, scikit-build-core, torch or pytest"
elif run_stage "$name" 150 "$out/python.log" bash -c '
    set -e
    rm -rf /tmp/l2o-python
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$0" -m pip install -q --no-build-isolation --no-deps --target /tmp/l2o-python .
    export PYTHONPATH=/tmp/l2o-python
    (cd /tmp && "$0" -m pytest -q -rs "$1/python/tests")
    "$0" bench/bench_torch_optimizer.py --device "$2"' "$py" "$PWD"   "$([ $device = 1 ] && echo cuda || echo cpu)"; then
  [ $rc = 0 ] && record "$name" ok "$(grep -E '[0-9]+ passed' "$out/python.log" | tail -1)" ||
    record "$name" FAILED "exit $rc; see python.log"
fi

# --- CPU step benchmark (the machine's cores, for the record) ---------------------------------
if [ ! -x "$build/bench/l2o_bench_cpu" ]; then
  record "CPU step benchmark" skipped "not built (no Google Benchmark)"
elif run_stage "CPU step benchmark" 40 "$out/bench_cpu.txt" "$build/bench/l2o_bench_cpu" \
  --benchmark_filter='BM_Step' --benchmark_min_time=0.2; then
  [ $rc = 0 ] && record "CPU step benchmark" ok "$(nproc) cores" ||
    record "CPU step benchmark" FAILED "exit $rc"
fi

echo
echo "================ l2o GPU check: summary ($(elapsed) s, $failures failed) ================"
cat "$summary"
echo
grep -E '^#|^\||^\(' "$out/l2o_gpu.txt" 2>/dev/null
cat "$out/ratios.md" 2>/dev/null
grep -E "^BM_" "$out/bench_cpu.txt" 2>/dev/null
grep -E "^#|^\|" "$out/python.log" 2>/dev/null
echo "logs: $out"
exit $((failures > 0))
