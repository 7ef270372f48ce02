#!/usr/bin/env bash
# l2o's CPU benchmarks and the same workloads in PyTorch (bench/pytorch_l2o.py), run one
# after the other on this machine with the same number of threads, and their ratios.
#   bash bench/compare_cpu.sh [BUILD_DIR]     (PyTorch: Debian's python3-torch, installed
#                                              here if missing; not needed by CI)
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
cmake --build "$build" -j "$threads" --target l2o_bench_cpu >/dev/null
out=$(mktemp -d)
echo "== $(lscpu | sed -n 's/^Model name: *//p'), $threads threads, $(date -u '+%Y-%m-%d')"
OMP_NUM_THREADS=$threads "$build/bench/l2o_bench_cpu" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$out/l2o.json"
$py bench/pytorch_l2o.py --threads "$threads" --repeats 3 --csv "$out/torch.csv"
$py - "$out/l2o.json" "$out/torch.csv" <<'PY'
import csv, json, sys
l2o = {}
for row in json.load(open(sys.argv[1]))["benchmarks"]:
    name = row["name"]
    if row.get("aggregate_name") != "median":
        continue
    kind, arg = name.split("/")[0], int(name.split("/")[1])
    secs = float(row["real_time"]) * {"ms": 1e-3, "us": 1e-6, "ns": 1e-9, "s": 1.0}[row["time_unit"]]
    if kind == "BM_Step":
        l2o[("step", arg)] = secs
    elif kind == "BM_MetaIteration":
        l2o[("meta_iteration", arg * 10)] = secs
print("\n| workload | n (coordinates) | l2o | PyTorch | l2o speed-up |")
print("|---|---|---|---|---|")
for row in csv.DictReader(open(sys.argv[2])):
    key = (row["workload"], int(row["n"]))
    if key in l2o:
        t, p = l2o[key], float(row["seconds"])
        print(f"| {key[0]} | {key[1]:,} | {t*1e3:.2f} ms | {p*1e3:.2f} ms | {p/t:.1f}x |")
PY
