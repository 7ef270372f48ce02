#!/usr/bin/env bash
# l2o's CPU benchmarks, once per instruction set this CPU runs (L2O_CPU_ISA), and the same
# workloads in PyTorch (bench/pytorch_l2o.py), one after the other on this machine with
# the same number of threads; each l2o figure as a fraction of the FMA peak measured in
# the same run at that instruction set, and as a speed-up over PyTorch.
#   bash bench/compare_cpu.sh [BUILD_DIR]     (PyTorch: Debian's python3-torch, installed
#                                              here if missing; not needed by CI)
#   ISAS="avx2" bash bench/compare_cpu.sh     (only these instruction sets)
# PyTorch runs with OMP_WAIT_POLICY=PASSIVE, its fastest and steadiest setting here: with
# OpenMP's default spinning its meta-iteration at n = 1,280 took anywhere from 50 to 470 ms
# per call on 2 cores (the autograd thread competes with the spinning OpenMP threads),
# ~55 ms every call when passive. l2o runs with the default (passive made its small
# meta-iterations ~15% slower).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cpu}
threads=${THREADS:-$(nproc)}
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
  echo "installing python3-torch (Debian) for the comparison"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
cmake --build "$build" -j "$threads" --target l2o_bench_cpu l2o_cli >/dev/null
isas=${ISAS:-$("$build/l2o" devices | sed -n 's/.*this CPU runs \(.*\);.*/\1/p' | tr -d ,)}
out=$(mktemp -d)
flags=$(lscpu | sed -n 's/^Flags: *//p')
avx512=no; [[ " $flags " == *" avx512f "* ]] && avx512=yes
echo "== $(lscpu | sed -n 's/^Model name: *//p') (AVX-512: $avx512), $threads threads, $(date -u '+%Y-%m-%d')"
for isa in $isas; do
  L2O_CPU_ISA=$isa OMP_NUM_THREADS=$threads "$build/bench/l2o_bench_cpu" --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_format=json \
    --benchmark_filter='BM_FmaPeak|BM_CopyBandwidth|BM_Step/|BM_MetaIteration' >"$out/l2o-$isa.json"
done
OMP_WAIT_POLICY=PASSIVE $py bench/pytorch_l2o.py --threads "$threads" --repeats 5 \
  --csv "$out/torch.csv"
$py - "$out" $isas <<'PY'
import csv, json, os, sys
out, isas = sys.argv[1], sys.argv[2:]
unit = {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}
torch = {(r["workload"], int(r["n"])): float(r["seconds"])
         for r in csv.DictReader(open(os.path.join(out, "torch.csv")))}
print("\n| workload | n (coordinates) | kernels | l2o | model FLOPs / peak | all arithmetic / peak | PyTorch | l2o speed-up |")
print("|---|---|---|---|---|---|---|---|")
for isa in isas:
    rows = json.load(open(os.path.join(out, f"l2o-{isa}.json")))["benchmarks"]
    machine = {}
    for r in rows:
        name = r["name"].split("/")[0]
        if name in ("BM_FmaPeak", "BM_CopyBandwidth") and r.get("aggregate_name") == "median":
            machine[name] = r.get("GFLOPs", r.get("GBs"))
    print(f"| FMA peak / copy bandwidth | | {isa} | {machine['BM_FmaPeak']:.0f} GFLOP/s | | | "
          f"{machine['BM_CopyBandwidth']:.1f} GB/s | |")
    for r in rows:
        parts = r["name"].split("/")
        if r.get("aggregate_name") != "median" or not parts[1].isdigit():
            continue
        kind, arg = parts[0], int(parts[1])
        key = {"BM_Step": ("step", arg), "BM_MetaIteration": ("meta_iteration", arg * 10)}.get(kind)
        if key is None or key not in torch:
            continue
        t, p = float(r["real_time"]) * unit[r["time_unit"]], torch[key]
        frac = r["GFLOPs"] / machine["BM_FmaPeak"]
        arith = frac * r["arith_frac"] / r["peak_frac"]
        print(f"| {key[0]} | {key[1]:,} | {isa} | {t*1e3:.2f} ms | {frac:.0%} | {arith:.0%} | "
              f"{p*1e3:.2f} ms | {p/t:.1f}x |")
PY
