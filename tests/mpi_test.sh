#!/usr/bin/env bash
# Data-parallel meta-training over MPI (docs/scaling.md), with the real launcher:
#   1. mpirun -np 2 writes the same phi file, byte for byte, as one process with the same
#      --meta-batch, and the same again on a second run;
#   2. a rank killed with SIGKILL ends the whole job with an error, not a hang;
#   3. a job killed with SIGKILL (every process) resumes from its last checkpoint and ends
#      with the phi of an uninterrupted run.
#   mpi_test.sh PATH/TO/l2o
set -u
l2o=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"; pkill -9 -f "$dir" 2>/dev/null' EXIT
fails=0
say() { echo "$*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
mpi=(mpirun --oversubscribe -np 2 -x OMP_NUM_THREADS=1)
[ "$(id -u)" -eq 0 ] && mpi=(mpirun --allow-run-as-root --oversubscribe -np 2 -x OMP_NUM_THREADS=1)
train=(train --problem quadratic --batch 16 --steps 40 --unroll 10 --validation 4 --meta-batch 4)

# 1. Same phi as one process, and run after run.
OMP_NUM_THREADS=1 "$l2o" "${train[@]}" --epochs 16 --eval-every 8 --out "$dir/one.l2o" >"$dir/one.log" 2>&1 ||
  bad "one process: $(tail -3 "$dir/one.log")"
for run in a b; do
  "${mpi[@]}" "$l2o" "${train[@]}" --epochs 16 --eval-every 8 --out "$dir/mpi-$run.l2o" \
    >"$dir/mpi-$run.log" 2>&1 || bad "mpirun -np 2 ($run): $(tail -5 "$dir/mpi-$run.log")"
done
if cmp -s "$dir/one.l2o" "$dir/mpi-a.l2o" && cmp -s "$dir/mpi-a.l2o" "$dir/mpi-b.l2o"; then
  say "ok: 2 ranks write the phi of one process with --meta-batch 4, twice"
else
  bad "phi files differ: one process vs mpirun -np 2 vs a second mpirun"
fi
grep -q "rank 1 of 2" "$dir/mpi-a.log" || bad "rank 1 did not announce itself: $(head -3 "$dir/mpi-a.log")"

# 2. Kill rank 1: the job ends (mpirun reports it) within a minute.
"${mpi[@]}" "$l2o" "${train[@]}" --epochs 100000 --eval-every 1000 --out "$dir/killed.l2o" \
  >"$dir/killed.log" 2>&1 &
job=$!
pid=""
for _ in $(seq 100); do
  pid=$(sed -n 's/.*rank 1 of 2 (pid \([0-9]*\)).*/\1/p' "$dir/killed.log" | head -1)
  [ -n "$pid" ] && break
  sleep 0.1
done
if [ -z "$pid" ]; then
  bad "no pid of rank 1 in: $(head -5 "$dir/killed.log")"
  kill -9 $job 2>/dev/null
else
  sleep 1
  kill -9 "$pid"
  ended=""
  for _ in $(seq 600); do
    if ! kill -0 $job 2>/dev/null; then ended=yes; break; fi
    sleep 0.1
  done
  if [ -z "$ended" ]; then
    bad "the job still runs 60 s after rank 1 was killed"
    pkill -9 -P $job 2>/dev/null; kill -9 $job 2>/dev/null
  else
    wait $job; rc=$?
    if [ "$rc" -ne 0 ] && grep -q "process rank 1 .*signal 9" "$dir/killed.log"; then
      say "ok: killing rank 1 ended the job (exit $rc): $(grep -m1 "process rank 1" "$dir/killed.log")"
    else
      bad "after rank 1 was killed: exit $rc, output: $(tail -5 "$dir/killed.log")"
    fi
  fi
fi

# 3. kill -9 of the whole job after its first checkpoint, then --resume.
"${mpi[@]}" "$l2o" "${train[@]}" --epochs 48 --eval-every 8 --out "$dir/whole.l2o" \
  >"$dir/whole.log" 2>&1 || bad "uninterrupted run: $(tail -3 "$dir/whole.log")"
"${mpi[@]}" "$l2o" "${train[@]}" --epochs 48 --eval-every 8 --out "$dir/resumed.l2o" \
  >"$dir/part.log" 2>&1 &
job=$!
for _ in $(seq 300); do
  [ -f "$dir/resumed.l2o.train" ] && break
  sleep 0.05
done
pkill -9 -f "$dir/resumed.l2o" 2>/dev/null; kill -9 $job 2>/dev/null; wait $job 2>/dev/null
if [ ! -f "$dir/resumed.l2o.train" ]; then
  bad "no checkpoint before the kill: $(tail -3 "$dir/part.log")"
else
  "${mpi[@]}" "$l2o" "${train[@]}" --epochs 48 --eval-every 8 --out "$dir/resumed.l2o" --resume \
    >"$dir/resume.log" 2>&1 || bad "--resume: $(tail -5 "$dir/resume.log")"
  if cmp -s "$dir/whole.l2o" "$dir/resumed.l2o" && cmp -s "$dir/whole.l2o.train" "$dir/resumed.l2o.train"; then
    say "ok: killed with SIGKILL and resumed, the job ends with the uninterrupted run's phi and state"
  else
    bad "resumed run differs from the uninterrupted one ($(grep -m1 trained "$dir/resume.log"))"
  fi
fi
[ "$fails" -eq 0 ] && echo "all MPI checks passed" || echo "$fails MPI check(s) failed"
exit $((fails > 0))
