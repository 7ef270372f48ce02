#!/usr/bin/env bash
# The paper's MNIST study (Figures 3-5) on Fashion-MNIST: meta-train the LSTM optimizer on
# a 1 x 20 sigmoid MLP for 100 steps, then compare it with SGD, RMSprop, Adam and NAG
# (learning rates tuned per architecture on validation optimizees) on held-out optimizees:
# the training setting, 200 steps, 1 x 40, 2 x 20, and ReLU. Results: docs/results/mlp/.
#   bash scripts/mlp_study.sh [BUILD_DIR]     (EPOCHS, RUNS, VALIDATION to change sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cpu}
epochs=${EPOCHS:-300}
runs=${RUNS:-50}
val=${VALIDATION:-10}
out=docs/results/mlp
mkdir -p "$out"
l2o="$build/l2o"
start=$(date +%s)
"$l2o" train --problem mlp --epochs "$epochs" --eval-every 50 --validation "$val" \
  --meta-lr "${META_LR:-0.01}" \
  --out "$out/lstm.l2o" --force 2>&1 | tee "$out/train.log"
echo "meta-training took $(( $(date +%s) - start )) s" | tee -a "$out/train.log"
run() {  # name, then problem options
  local name=$1
  shift
  "$l2o" eval --problem mlp --optimizer "$out/lstm.l2o" --runs "$runs" --validation "$val" \
    --out-dir "$out/$name" "$@" 2>&1 | tee "$out/$name.log"
}
run 1x20-sigmoid-100 --steps 100
run 1x20-sigmoid-200 --steps 200
run 1x40-sigmoid-100 --steps 100 --mlp-hidden 40
run 2x20-sigmoid-100 --steps 100 --mlp-hidden 20,20
run 1x20-relu-100 --steps 100 --activation relu
