#!/usr/bin/env bash
# The held-out generalisation suite (docs/generalisation.md): one learned optimizer against
# Adam and NAG, their learning rates tuned per task, on tasks beyond the paper's training
# setting — 1 x 20 sigmoid (the training task), ReLU and tanh MLPs, a 2 x 40 ReLU MLP, a
# two-convolution ReLU CNN and
# Gaussian and uniform quadratics — each at 100 steps and at LONG steps. One `l2o eval` per
# row (its table, curves and plot in OUT/ROW/), then OUT/README.md: per row the log10 mean
# final losses with standard errors, how many optimizees the LSTM ends lower on than
# each baseline, and whether it beats both.
#   bash scripts/generalisation.sh PHI [BUILD_DIR]
# Environment: OUT (default docs/results/generalisation/<PHI's name>), RUNS (held-out
# optimizees per 100-step row, 50), LONG_RUNS (per long row, 20), LONG (1000),
# VALIDATION (optimizees tuning each baseline, 5), LR_POINTS (learning rates tried per
# decade, 4), ROWS (an extended regular expression selecting rows by name, e.g.
# '^mlp-1x20-relu-100$'), DEVICE (auto).
set -euo pipefail
cd "$(dirname "$0")/.."
phi=${1:?usage: generalisation.sh PHI [BUILD_DIR]}
build=${2:-build-cpu}
name=$(basename "$phi" .l2o)
out=${OUT:-docs/results/generalisation/$name}
long=${LONG:-1000}
l2o="$build/l2o"
mkdir -p "$out"
source scripts/suite_rows.sh
start=$(date +%s)
for row in "${suite_rows[@]}"; do
  task=${row%%|*}
  read -r -a opts <<<"${row#*|}"
  for steps in 100 "$long"; do
    id="$task-$steps"
    [[ $id =~ ${ROWS:-.} ]] || continue
    runs=${RUNS:-50}
    [ "$steps" != 100 ] && runs=${LONG_RUNS:-20}
    device=${DEVICE:-auto}
    echo "== $id ($runs held-out optimizees, $(($(date +%s) - start)) s so far)"
    "$l2o" eval "${opts[@]}" --optimizer "$phi" --steps "$steps" --runs "$runs" \
      --validation "${VALIDATION:-5}" --lr-points "${LR_POINTS:-4}" --baselines adam,nag \
      --device "$device" --out-dir "$out/$id" --force >"$out/$id.log" 2>&1 ||
      { tail -5 "$out/$id.log"; exit 1; }
    grep -E '^\| (LSTM|adam|nag)' "$out/$id.log"
  done
done
python3 - "$out" "$phi" "$long" <<'PY'
import pathlib, re, sys
out, phi, long = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rows, won, total = [], 0, 0
suite_logs = [p for p in out.glob("*.log") if re.fullmatch(r".+-\d+", p.stem)]  # not train.log
for log in sorted(suite_logs, key=lambda p: (p.stem.rsplit("-", 1)[0], int(p.stem.rsplit("-", 1)[1]))):
    cells = {}
    for line in log.read_text().splitlines():
        m = re.match(r"\| (LSTM \(l2o\)|adam|nag) \|", line)
        if m:
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            cells[m.group(1)] = c
    if set(cells) != {"LSTM (l2o)", "adam", "nag"}:
        continue
    lstm = float(cells["LSTM (l2o)"][2])
    adam, nag = float(cells["adam"][2]), float(cells["nag"][2])
    beats = lstm < adam and lstm < nag
    total += 1
    won += beats
    rows.append("| %s | %s (%s) | %s (%s, %s) | %s (%s, %s) | %s / %s | %s |" % (
        log.stem, cells["LSTM (l2o)"][2], cells["LSTM (l2o)"][3], cells["adam"][2],
        cells["adam"][1], cells["adam"][3], cells["nag"][2], cells["nag"][1], cells["nag"][3],
        cells["adam"][-1], cells["nag"][-1], "**yes**" if beats else "no"))
text = ["# Generalisation suite: %s" % phi, "",
        "`bash scripts/generalisation.sh %s` (docs/generalisation.md). Log10 of the mean final"
        " loss over the held-out optimizees (mean ± standard error in parentheses); the"
        " baselines' learning rates tuned per row on separate validation optimizees; 'lower on':"
        " held-out optimizees where the LSTM ends below Adam / NAG." % phi, "",
        "| row (task-steps) | LSTM | Adam (lr, mean ± s.e.) | NAG (lr, mean ± s.e.) | LSTM lower on (vs Adam / NAG) | beats both |",
        "|---|---|---|---|---|---|"] + rows + ["",
        "The LSTM beats both tuned baselines on %d of %d rows." % (won, total), ""]
(out / "README.md").write_text("\n".join(text))
print("\n".join(text))
PY
echo "suite took $(($(date +%s) - start)) s"
