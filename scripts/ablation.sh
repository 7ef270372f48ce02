#!/usr/bin/env bash
# The ablation of the generalisation options (docs/generalisation.md): each learned
# optimizer PHI on the rows of scripts/generalisation.sh (scripts/suite_rows.sh), the LSTM
# alone (`l2o eval --baselines none`, the same held-out optimizees), against the tuned
# Adam and NAG of a suite already run (REFERENCE: a folder of scripts/generalisation.sh's
# output; where it holds an lr-points-4/ re-run of a row, the lower of the two tunings'
# results is the baseline). Output: OUT/table.md, a column for the reference suite's own
# phi and one per PHI, each cell the LSTM's log10 mean final loss, in bold where it is
# below both baselines, and the count of such rows.
#   bash scripts/ablation.sh REFERENCE NAME=PHI|NAME=@DIR [...]
# NAME=@DIR: a column read from DIR's ROW.log files, rows of a run made before (e.g. a
# suite of scripts/generalisation.sh, whose LSTM rows these are); nothing is run for it.
# Environment: OUT (default docs/results/generalisation/ablation), BUILD (build-cpu),
# RUNS (50), LONG_RUNS (20), LONG (1000), ROWS (a regular expression selecting rows),
# REUSE (when set, rows already run for a NAME are not run again: only the table is made).
# Two runs may share OUT (e.g. one per ROWS) once NAME/lstm.l2o is there.
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:?usage: ablation.sh REFERENCE NAME=PHI [NAME=PHI ...]}
shift
[ $# -ge 1 ] || { echo "ablation.sh: no NAME=PHI given" >&2; exit 2; }
out=${OUT:-docs/results/generalisation/ablation}
l2o="${BUILD:-build-cpu}/l2o"
long=${LONG:-1000}
mkdir -p "$out"
source scripts/suite_rows.sh
start=$(date +%s)
names=()  # NAME=FOLDER of its rows, for the table
for arg in "$@"; do
  name=${arg%%=*}
  phi=${arg#*=}
  if [[ $phi == @* ]]; then
    [ -d "${phi#@}" ] || { echo "ablation.sh: '${phi#@}' is not a folder" >&2; exit 2; }
    names+=("$name=${phi#@}")
    continue
  fi
  [ -f "$phi" ] || { echo "ablation.sh: '$phi' is not a file" >&2; exit 2; }
  names+=("$name=$out/$name")
  mkdir -p "$out/$name"
  cmp -s "$phi" "$out/$name/lstm.l2o" || cp "$phi" "$out/$name/lstm.l2o"
  for row in "${suite_rows[@]}"; do
    task=${row%%|*}
    read -r -a opts <<<"${row#*|}"
    for steps in 100 "$long"; do
      id="$task-$steps"
      [[ $id =~ ${ROWS:-.} ]] || continue
      runs=${RUNS:-50}
      [ "$steps" != 100 ] && runs=${LONG_RUNS:-20}
      if [ -n "${REUSE:-}" ] &&
        grep -Eq '^\| LSTM \(l2o\) \||parameter groups?, phi' "$out/$name/$id.log" 2>/dev/null; then
        continue  # this row of this phi was run before (or found n/a)
      fi
      echo "== $name $id ($runs held-out optimizees, $(($(date +%s) - start)) s so far)"
      if ! "$l2o" eval "${opts[@]}" --optimizer "$phi" --steps "$steps" --runs "$runs" \
        --baselines none --device cpu --out-dir "$out/$name/$id" --force \
        >"$out/$name/$id.log" 2>&1; then
        # An LSTM-sub phi does not apply to an optimizee of one parameter group (the
        # quadratics): the row is n/a. Anything else stops the run.
        grep -Eq "parameter groups?, phi" "$out/$name/$id.log" || {
          tail -5 "$out/$name/$id.log"
          exit 1
        }
        echo "   n/a: $(tail -1 "$out/$name/$id.log")"
      fi
    done
  done
done
python3 - "$out" "$ref" "${names[@]}" <<'PY'
import pathlib, re, sys
out, ref = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
folder = dict(a.split("=", 1) for a in sys.argv[3:])  # NAME -> the folder of its rows
folder = {n: pathlib.Path(f) for n, f in folder.items()}
names = list(folder)

def log10_of(cell):  # "-0.203 (6.261e-01 ± 1.9e-02)" -> -0.203
    return float(cell.split()[0])

# The baselines: the reference suite's rows, the lower of its tunings per baseline; and
# the reference phi's own result (the LSTM column of the reference suite).
base, reference = {}, {}
for readme in [ref / "README.md", ref / "lr-points-4" / "README.md"]:
    if not readme.exists():
        continue
    for line in readme.read_text().splitlines():
        c = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(c) < 4 or not re.match(r"^(mlp|cnn|quadratic)-", c[0]):
            continue
        adam, nag = log10_of(c[2]), log10_of(c[3])
        reference[c[0]] = log10_of(c[1])
        a0, n0 = base.get(c[0], (adam, nag))
        base[c[0]] = (min(a0, adam), min(n0, nag))

def lstm_of(log):  # the LSTM's row of an eval table; None where the phi does not apply
    text = log.read_text()
    for line in text.splitlines():
        if line.startswith("| LSTM (l2o) |"):
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            return float(c[2])  # log10 mean final loss
    if re.search(r"parameter groups?, phi", text):
        return None  # an LSTM-sub phi on an optimizee of one group
    raise SystemExit(f"ablation.sh: no LSTM row in {log}")

ids = sorted({p.stem for n in names for p in folder[n].glob("*.log")
              if re.fullmatch(r".+-\d+", p.stem)} | set(base),  # not train.log
             key=lambda s: (s.rsplit("-", 1)[0], int(s.rsplit("-", 1)[1])))
lines = ["| row | Adam | NAG | reference | " + " | ".join(names) + " |",
         "|---|---|---|---|" + "---|" * len(names)]
wins = {n: 0 for n in ["reference"] + names}
for i in ids:
    a, g = base.get(i, (float("nan"), float("nan")))
    cells = []
    for n in ["reference"] + names:
        log = folder.get(n, out) / f"{i}.log"
        v = reference.get(i) if n == "reference" else lstm_of(log) if log.exists() else None
        won = v is not None and v < a and v < g
        wins[n] += won
        na = n != "reference" and log.exists() and v is None
        cells.append("n/a" if na else "" if v is None else f"**{v:.3f}**" if won else f"{v:.3f}")
    lines.append(f"| {i} | {a:.3f} | {g:.3f} | " + " | ".join(cells) + " |")
lines.append("| rows below both | | | " +
             " | ".join(f"{wins[n]}/{len(ids)}" for n in ["reference"] + names) + " |")
table = "\n".join(lines)
(out / "table.md").write_text(table + "\n")
print(table)
PY
