# The held-out generalisation suite's tasks (docs/generalisation.md), sourced by
# scripts/generalisation.sh and scripts/ablation.sh: "name|l2o problem options", each run
# at 100 steps and at LONG steps.
suite_rows=(
  "mlp-1x20-sigmoid|--problem mlp --mlp-hidden 20 --activation sigmoid"
  "mlp-1x20-relu|--problem mlp --mlp-hidden 20 --activation relu"
  "mlp-1x20-tanh|--problem mlp --mlp-hidden 20 --activation tanh"
  "mlp-2x40-relu|--problem mlp --mlp-hidden 40,40 --activation relu"
  "cnn-relu|--problem cnn --cnn-channels 8,16 --activation relu"
  "quadratic-uniform|--problem quadratic --dist uniform"
  "quadratic-normal|--problem quadratic --dist normal"
)
