#!/usr/bin/env bash
# The paper's MNIST study (Figures 3-5) on Fashion-MNIST: meta-train the LSTM optimizer on
# a 1 x 20 sigmoid MLP for 100 steps, then compare it with SGD, RMSprop, Adam and NAG
# (learning rates tuned per architecture on validation optimizees) on held-out optimizees:
# the training setting, 200 steps, 1 x 40, 2 x 20, and ReLU. Results: docs/results/mlp/.
#   bash scripts/mlp_study.sh [BUILD_DIR]
# Sizes: EPOCHS (3000), META_LR (0.01) decayed to META_LR_FINAL (0.0005), TRAIN_VALIDATION
# (50 optimizees that pick the best phi every 100 epochs), RUNS (50 held-out optimizees per
# evaluation), VALIDATION (10 optimizees that tune each baseline's learning rate).
# SKIP_TRAIN=1 evaluates the optimizer already in docs/results/mlp/lstm.l2o.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cpu}
epochs=${EPOCHS:-3000}
runs=${RUNS:-50}
val=${VALIDATION:-10}
train_val=${TRAIN_VALIDATION:-50}
out=docs/results/mlp
mkdir -p "$out"
l2o="$build/l2o"
if [[ ${SKIP_TRAIN:-0} != 1 ]]; then
  start=$(date +%s)
  "$l2o" train --problem mlp --epochs "$epochs" --eval-every 100 --validation "$train_val" \
    --meta-lr "${META_LR:-0.01}" --meta-lr-final "${META_LR_FINAL:-0.0005}" \
    --out "$out/lstm.l2o" --force 2>&1 | tee "$out/train.log"
  echo "meta-training took $(( $(date +%s) - start )) s" | tee -a "$out/train.log"
fi
run() {  # name, then problem options
  local name=$1
  shift
  "$l2o" eval --problem mlp --optimizer "$out/lstm.l2o" --runs "$runs" --validation "$val" \
    --out-dir "$out/$name" --force "$@" 2>&1 | tee "$out/$name.log"
}
run 1x20-sigmoid-100 --steps 100
run 1x20-sigmoid-200 --steps 200
run 1x40-sigmoid-100 --steps 100 --mlp-hidden 40
run 2x20-sigmoid-100 --steps 100 --mlp-hidden 20,20
run 1x20-relu-100 --steps 100 --activation relu
