#!/usr/bin/env bash
# Rehearses bench/gpu_check.sh on a machine without a GPU, as CI does: proves that the
# bundle of bench/gpu_bundle.sh alone is enough to build and test l2o (CMake ignores /usr
# and /usr/local for every find, and an audit checks afterwards that no header or library
# of a bundled package came from the system), then runs the check itself, whose stages
# that need a device must report "skipped: no usable CUDA device" and carry on to the
# summary. A few minutes on 2 cores.
#   bash bench/gpu_rehearsal.sh [OUTDIR]        (default: build-rehearsal/out)
set -euo pipefail
cd "$(dirname "$0")/.."
base=build-rehearsal
out=${1:-$base/out}
mkdir -p "$base" "$out"
jobs=${JOBS:-$(nproc)}

bash bench/gpu_bundle.sh
export L2O_BUNDLE_ONLY=1
. bench/gpu_deps.sh
l2o_deps .gpu-bundle
echo "== rehearsal: dependencies: $L2O_DEPS_REPORT"

echo "== rehearsal: CPU-only build from the bundle alone"
cmake -S . -B "$base/cpu" -DL2O_CUDA=OFF -DCMAKE_BUILD_TYPE=Release "${L2O_DEPS_CMAKE[@]}" \
  >"$base/cpu.configure.log" 2>&1 || { cat "$base/cpu.configure.log"; exit 1; }
cmake --build "$base/cpu" -j "$jobs" >"$base/cpu.build.log" 2>&1 || { tail -40 "$base/cpu.build.log"; exit 1; }
(cd "$base/cpu" && ctest --output-on-failure --timeout 600) | tail -4

echo "== rehearsal: bench/gpu_check.sh (CUDA-enabled build from the bundle alone)"
rc=0
# A CUDA build on 2 cores (CI) takes several minutes, and longer when the machine is busy.
L2O_CHECK_BUILD="$base/gpu" L2O_CHECK_BUDGET=${L2O_CHECK_BUDGET:-1800} \
  L2O_CHECK_BUILD_CAP=${L2O_CHECK_BUILD_CAP:-900} L2O_CHECK_TEST_CAP=${L2O_CHECK_TEST_CAP:-450} \
  bash bench/gpu_check.sh "$out" || rc=$?

echo "== rehearsal: what the check must have said"
bad=0
expect() {  # PATTERN WHAT
  grep -qE "$1" "$out/summary.txt" || { echo "rehearsal: missing in the summary: $2" >&2; bad=1; }
}
expect '^dependencies +ok .*gtest bundle; benchmark bundle; zlib bundle; openblas bundle; fashion-mnist bundle' "every dependency from the bundle"
expect '^build \(sm_[0-9]+\) +ok' "the CUDA-enabled build"
expect '^device probe +skipped +no usable CUDA device' "the device probe's skip"
expect '^tests \(ctest\) +ok +100% tests passed' "the test suite passing"
for stage in 'compute-sanitizer memcheck' 'GPU benchmark \+ PyTorch' 'meta-training mlp \(GPU\)'; do
  expect "^$stage +skipped +no usable CUDA device" "'$stage' skipped for want of a device"
done
expect '^CPU step benchmark +ok' "the CPU step benchmark"
expect '^Python package \+ pytest \+ torch bench +skipped +no usable CUDA device' "the Python stage skipped"
grep -q FAILED "$out/summary.txt" && { echo "rehearsal: a stage failed" >&2; bad=1; }
[ $rc = 0 ] || { echo "rehearsal: gpu_check.sh exited $rc" >&2; bad=1; }

echo "== rehearsal: audit: nothing of a bundled package came from the system"
# Headers, from the compilers' dependency files (Makefiles) or ninja's log of them;
# libraries, from the loader. The audit must have seen the bundle's headers, or it proved
# nothing.
headers() {
  local d
  for d in "$base/cpu" "$base/gpu"; do
    if [ -f "$d/build.ninja" ]; then
      ninja -C "$d" -t deps
    else
      find "$d" -name '*.d' -o -name 'compiler_depend.make' | xargs cat
    fi
  done 2>/dev/null | tr ' \\' '\n\n' | sed 's/^ *//' | sort -u
}
seen=$(headers | grep -cE "^$PWD/build-gpu-deps/usr/include/(gtest/gtest|zlib|.*/cblas)\.h$" || true)
[ "$seen" -ge 3 ] || { echo "rehearsal: the audit found no dependency information ($seen)" >&2; bad=1; }
leaks=$(headers | grep -E '^/usr/(local/)?include/(gtest|gmock|benchmark)/|^/usr/(local/)?include/(.*/)?(zlib|zconf|cblas|openblas_config)\.h$' || true)
for bin in "$base/cpu/tests/l2o_tests" "$base/cpu/bench/l2o_bench_cpu" "$base/gpu/tests/l2o_tests" "$base/gpu/l2o"; do
  [ -x "$bin" ] || continue
  leaks+=$(ldd "$bin" | grep -E 'libopenblas|libbenchmark|libgfortran|libquadmath' | grep -v "$PWD/build-gpu-deps/" || true)
done
if [ -n "$leaks" ]; then
  echo "rehearsal: taken from the system instead of the bundle:" >&2
  echo "$leaks" >&2
  bad=1
fi
[ $bad = 0 ] && echo "rehearsal: ok (every dependency from the bundle; device stages skipped; summary complete)"
exit $bad
