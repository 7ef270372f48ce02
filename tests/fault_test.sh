#!/usr/bin/env bash
# Fault injection: `l2o train` ended abruptly (L2O_FAULT_AT=k: as if killed at the k-th
# step of its atomic writes, host/io/checkpoint.cpp) at every such step of a short run.
# After each: every file it left is loadable, and resuming (or restarting, when no
# training state was written yet) ends with the same phi and training state, byte for
# byte, as an uninterrupted run. Then a full disk (a small tmpfs, where one can be mounted;
# skipped visibly otherwise): the write fails with a message and the old file survives.
#   fault_test.sh PATH/TO/l2o
set -u
l2o=$1
dir=$(mktemp -d)
trap 'umount "$dir/small" 2>/dev/null; rm -rf "$dir"' EXIT
fails=0
args=(train --problem quadratic --dims 3 --batch 4 --hidden 4 --layers 1 --epochs 3
      --eval-every 1 --validation 2 --steps 4 --unroll 2)
"$l2o" "${args[@]}" --out "$dir/ref.l2o" >/dev/null 2>&1 || { echo "FAIL: reference run"; exit 1; }
killed=0
for k in $(seq 1 60); do
  rm -f "$dir"/run.l2o*
  L2O_FAULT_AT=$k "$l2o" "${args[@]}" --out "$dir/run.l2o" >/dev/null 2>&1
  rc=$?
  [ $rc = 0 ] && break  # past the last write step: the run completed
  if [ $rc != 86 ]; then
    echo "FAIL: fault at step $k: exit $rc, expected 86"
    fails=$((fails + 1))
    continue
  fi
  killed=$((killed + 1))
  for f in "$dir/run.l2o" "$dir/run.l2o.train"; do
    if [ -e "$f" ] && ! "$l2o" info "$f" >/dev/null 2>&1; then
      echo "FAIL: fault at step $k left '$f' unloadable"
      fails=$((fails + 1))
    fi
  done
  if [ -e "$dir/run.l2o.train" ]; then
    "$l2o" "${args[@]}" --out "$dir/run.l2o" --resume >/dev/null 2>&1
  else
    "$l2o" "${args[@]}" --out "$dir/run.l2o" --force >/dev/null 2>&1
  fi || { echo "FAIL: fault at step $k: the resumed run failed"; fails=$((fails + 1)); continue; }
  if ! cmp -s "$dir/run.l2o" "$dir/ref.l2o" || ! cmp -s "$dir/run.l2o.train" "$dir/ref.l2o.train"; then
    echo "FAIL: fault at step $k: the resumed run differs from the uninterrupted one"
    fails=$((fails + 1))
  fi
done
echo "fault injection: killed at $killed write steps, each resumed to the same phi"
[ $killed -ge 20 ] || { echo "FAIL: only $killed write steps were reached"; fails=$((fails + 1)); }

mkdir -p "$dir/small"
if mount -t tmpfs -o size=256k tmpfs "$dir/small" 2>/dev/null; then
  "$l2o" init --out "$dir/small/phi.l2o" --hidden 4 --layers 1 >/dev/null
  cp "$dir/small/phi.l2o" "$dir/before.l2o"
  head -c 230000 /dev/zero >"$dir/small/filler" 2>/dev/null
  out=$("$l2o" init --force --out "$dir/small/phi.l2o" --hidden 40 2>&1)
  rc=$?
  if [ $rc != 2 ] || ! grep -q "No space left" <<<"$out"; then
    echo "FAIL: a full disk gave exit $rc: $out"
    fails=$((fails + 1))
  fi
  cmp -s "$dir/small/phi.l2o" "$dir/before.l2o" || { echo "FAIL: the old file was damaged"; fails=$((fails + 1)); }
  ls "$dir/small" | grep -q "\.tmp\." && { echo "FAIL: a temporary file was left"; fails=$((fails + 1)); }
  echo "disk full: refused with a message, the old file kept"
else
  echo "SKIPPED: disk-full check (cannot mount a tmpfs here)"
fi
[ "$fails" = 0 ] && echo "fault injection: all checks passed" || { echo "fault injection: $fails checks failed"; exit 1; }
