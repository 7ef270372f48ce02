#!/usr/bin/env bash
# The main job: set up, build, meta-train an LSTM optimizer on the paper's quadratic
# problem, and compare it on held-out quadratics with SGD, RMSprop, Adam and NAG, each
# with its learning rate tuned. Runs on the GPU when one is usable, else on the CPU.
# Results: out/quadratic/ (results.md table, curves.csv, loss.svg plot, the optimizer).
#   bash scripts/main.sh            (EPOCHS=N to change the training length)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
epochs=${EPOCHS:-1500}
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 &&
   { command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; }; then
  export PATH="$PATH:/usr/local/cuda/bin"
  build=build device=cuda cuda=ON
else
  build=build-cpu device=cpu cuda=OFF
fi
echo "== l2o: building ($build, CUDA $cuda)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DL2O_CUDA=$cuda >/dev/null
cmake --build "$build" -j "$(nproc)" --target l2o_cli
out=out/quadratic
mkdir -p "$out"
echo "== l2o: meta-training on quadratics ($epochs optimizees, device $device)"
start=$(date +%s)
"$build/l2o" train --problem quadratic --epochs "$epochs" --device "$device" \
  --out "$out/lstm.l2o" --force ${TRAIN_ARGS:-}
echo "== l2o: meta-training took $(( $(date +%s) - start )) s"
echo "== l2o: evaluating on 100 held-out quadratics against tuned baselines"
"$build/l2o" eval --problem quadratic --optimizer "$out/lstm.l2o" --device "$device" \
  --runs 100 --out-dir "$out" --force
