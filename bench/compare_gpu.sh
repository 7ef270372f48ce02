#!/usr/bin/env bash
# l2o's GPU benchmark (bench/bench_gpu.cu) and the same workloads in PyTorch
# (bench/pytorch_l2o.py --device cuda) on the same card, one after the other, and the
# ratios. Needs a built l2o_bench_gpu and a python3 with a CUDA build of PyTorch
# (PYTHON=... to choose it).
#   bash bench/compare_gpu.sh BUILD_DIR OUTDIR
set -uo pipefail
build=${1:?usage: compare_gpu.sh BUILD_DIR OUTDIR}
out=${2:?usage: compare_gpu.sh BUILD_DIR OUTDIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
py=${PYTHON:-python3}
"$build/bench/l2o_bench_gpu" --csv "$out/l2o_gpu.csv" | tee "$out/l2o_gpu.txt"
if ! $py -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "PyTorch with CUDA not available to $py: no PyTorch comparison"
  exit 0
fi
$py bench/pytorch_l2o.py --device cuda --repeats 5 --csv "$out/torch_gpu.csv" | tee "$out/torch_gpu.txt"
$py - "$out/l2o_gpu.csv" "$out/torch_gpu.csv" <<'PY' | tee "$out/ratios.md"
import csv, sys
l2o = {}
for r in csv.DictReader(open(sys.argv[1])):
    if r["variant"] in ("fp32 state", "fused, fp32", "cuda graph"):
        l2o[(r["workload"], int(r["n"]))] = float(r["ms"])
card = next(csv.DictReader(open(sys.argv[1])))["card"]
print(f"\n| workload ({card}) | N | l2o ms | PyTorch ms | l2o speed-up |")
print("|---|---|---|---|---|")
for r in csv.DictReader(open(sys.argv[2])):
    key = (r["workload"], int(r["n"]))
    if key in l2o:
        t, p = l2o[key], float(r["seconds"]) * 1e3
        print(f"| {key[0]} | {key[1]:,} | {t:.3f} | {p:.3f} | {p / t:.1f}x |")
PY
