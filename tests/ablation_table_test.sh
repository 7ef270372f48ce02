#!/usr/bin/env bash
# The table of scripts/ablation.sh, from rows already there (nothing is run): the
# baselines are the lower of a reference suite's two tunings, a cell is bold where it is
# below both, n/a where an LSTM-sub phi does not apply, and a NAME=@DIR column reads DIR.
#   ablation_table_test.sh
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/ref/lr-points-4" "$dir/out/sub" "$dir/long"
# The reference suite: | row | LSTM | Adam | NAG |, and a re-run of one row with a better NAG.
cat >"$dir/ref/README.md" <<'EOF'
| row | LSTM | Adam | NAG |
|---|---|---|---|
| mlp-1x20-relu-100 | -0.203 (6.3e-01 ± 1e-02) | -0.228 (5.9e-01 ± 1e-02) | -0.230 (5.9e-01 ± 1e-02) |
| quadratic-normal-100 | -0.421 (3.8e-01 ± 1e-02) | -0.492 (3.2e-01 ± 1e-02) | -0.350 (4.5e-01 ± 1e-02) |
EOF
cat >"$dir/ref/lr-points-4/README.md" <<'EOF'
| mlp-1x20-relu-100 | -0.203 (6.3e-01 ± 1e-02) | -0.220 (6.0e-01 ± 1e-02) | -0.248 (5.6e-01 ± 1e-02) |
EOF
lstm_row() { echo "| LSTM (l2o) | 2x20 LSTM | $1 | 0 ± 0 | 0.5 |"; }
lstm_row -0.250 >"$dir/out/sub/mlp-1x20-relu-100.log"  # below -0.248: bold
echo "l2o eval: run_learned: the optimizee has 1 parameter group, phi 2 LSTMs" \
  >"$dir/out/sub/quadratic-normal-100.log"
touch "$dir/out/sub/lstm.l2o"
lstm_row -0.240 >"$dir/long/mlp-1x20-relu-100.log"  # above NAG's better tuning
lstm_row -0.500 >"$dir/long/quadratic-normal-100.log"
echo "not a row" >"$dir/long/train.log"
if ! REUSE=1 ROWS="^no row$" OUT="$dir/out" bash "$root/scripts/ablation.sh" "$dir/ref" \
  sub="$dir/out/sub/lstm.l2o" long=@"$dir/long" >"$dir/log" 2>&1; then
  echo "FAIL: ablation.sh exited with an error:"
  cat "$dir/log"
  exit 1
fi
expected='| row | Adam | NAG | reference | sub | long |
|---|---|---|---|---|---|
| mlp-1x20-relu-100 | -0.228 | -0.248 | -0.203 | **-0.250** | -0.240 |
| quadratic-normal-100 | -0.492 | -0.350 | -0.421 | n/a | **-0.500** |
| rows below both | | | 0/2 | 1/2 | 1/2 |'
if [ "$(cat "$dir/out/table.md")" != "$expected" ]; then
  echo "FAIL: the table is"
  cat "$dir/out/table.md"
  echo "expected"
  echo "$expected"
  exit 1
fi
# A missing folder is refused before anything runs.
if OUT="$dir/out" bash "$root/scripts/ablation.sh" "$dir/ref" x=@"$dir/none" >"$dir/log" 2>&1 ||
  ! grep -q "is not a folder" "$dir/log"; then
  echo "FAIL: a missing @DIR was not refused:"
  cat "$dir/log"
  exit 1
fi
echo "ok: ablation.sh's table"
