#!/usr/bin/env bash
# The command line's answers to bad input: a message, exit status 2, nothing overwritten.
#   cli_test.sh PATH/TO/l2o
set -u
l2o=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")  # absolute: some checks run elsewhere
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fails=0
expect() {  # expect STATUS PATTERN -- command...
  local want=$1 pattern=$2
  shift 3
  local out
  out=$("$@" 2>&1)
  local got=$?
  if [ "$got" != "$want" ] || ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $got (want $want), output: $out"
    fails=$((fails + 1))
  else
    echo "ok: $* -> $got"
  fi
}
expect 2 "unknown command" -- "$l2o" frobnicate
# The CPU kernels: which run, and a forced instruction set that is not one is refused.
expect 0 "kernels generic" -- env L2O_CPU_ISA=generic "$l2o" devices
expect 2 "L2O_CPU_ISA=sse9 is not an instruction set of this build (expected auto or one of" -- env L2O_CPU_ISA=sse9 "$l2o" devices
expect 2 "L2O_CPU_ISA=sse9" -- env L2O_CPU_ISA=sse9 "$l2o" train --problem quadratic --epochs 1 --out "$dir/isa.l2o"
expect 2 "unknown problem 'cubic'" -- "$l2o" train --problem cubic --out "$dir/x.l2o"
expect 2 "unknown option --epoch" -- "$l2o" train --problem quadratic --epoch 3 --out "$dir/x.l2o"
expect 2 "not a multiple of --unroll" -- "$l2o" train --problem quadratic --steps 50 --out "$dir/x.l2o"
expect 2 "epochs = '0', expected an integer in \[1, " -- "$l2o" train --problem quadratic --epochs 0 --out "$dir/x.l2o"
# Integers are never cut to a narrower type: 2^32 + 100 steps is refused with the range,
# not run as 100; the largest seed is a seed; a negative one is not.
expect 2 "steps = '4294967396', expected an integer in \[1, 2147483647\]" -- "$l2o" train --problem quadratic --steps 4294967396 --out "$dir/x.l2o"
expect 2 "runs = '2147483648', expected an integer in \[1, 2147483647\]" -- "$l2o" eval --problem quadratic --optimizer "$dir/none.l2o" --runs 2147483648
expect 2 "seed = '-1', expected an integer in \[0, 18446744073709551615\]" -- "$l2o" init --out "$dir/s.l2o" --seed -1
expect 0 "" -- "$l2o" init --out "$dir/s.l2o" --seed 18446744073709551615
# Reals are finite and in range; a subnormal is a number.
expect 2 "meta-lr = 'nan', expected a finite number" -- "$l2o" train --problem quadratic --meta-lr nan --out "$dir/x.l2o"
expect 2 "meta-lr = 'inf', expected a finite number" -- "$l2o" train --problem quadratic --meta-lr inf --out "$dir/x.l2o"
expect 2 "clip = '-1', expected a finite number in \[0, " -- "$l2o" train --problem quadratic --clip -1 --out "$dir/x.l2o"
expect 0 "trained 1 epochs" -- "$l2o" train --problem quadratic --meta-lr 1e-320 --epochs 1 --eval-every 1 --validation 1 --steps 20 --out "$dir/sub.l2o"
expect 2 "expected an integer" -- "$l2o" train --problem quadratic --epochs ten --out "$dir/x.l2o"
expect 2 "meta-batch = '0', expected an integer in \[1, 65536\]" -- "$l2o" train --problem quadratic --meta-batch 0 --out "$dir/x.l2o"
expect 2 "dims = '0', expected an integer in \[1, 64\]" -- "$l2o" train --problem quadratic --dims 0 --out "$dir/x.l2o"
expect 2 "hidden = 7" -- "$l2o" train --problem quadratic --hidden 7 --out "$dir/x.l2o"
expect 2 "expected auto, cpu or cuda" -- "$l2o" train --problem quadratic --device gpu --out "$dir/x.l2o"
expect 2 "steps-max 150, expected a multiple of --unroll 20 of at least --steps 100" -- "$l2o" train --problem quadratic --steps-max 150 --out "$dir/x.l2o"
expect 2 "exchange 'mpi': expected auto, host or nccl" -- "$l2o" train --problem quadratic --exchange mpi --out "$dir/x.l2o"
expect 2 "exchange nccl" -- "$l2o" train --problem quadratic --epochs 1 --device cpu --exchange nccl --out "$dir/x.l2o"
# The options after the paper (docs/generalisation.md): checked, trained, kept in the file.
expect 2 "random-scale = '0.5', expected a finite number in \[1, " -- "$l2o" train --problem quadratic --random-scale 0.5 --out "$dir/x.l2o"
expect 2 "nominal-lr = '-1'" -- "$l2o" train --problem quadratic --nominal-lr -1 --out "$dir/x.l2o"
expect 0 "trained 2 epochs" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 2 --eval-every 1 --validation 2 --steps 20 --moment-inputs --bounded-output --nominal-lr 0.01 --random-scale 10 --out "$dir/opt.l2o"
expect 0 "moment inputs, bounded output, nominal Adam term lr 0.01" -- "$l2o" info "$dir/opt.l2o"
expect 0 "LSTM (l2o)" -- "$l2o" eval --problem quadratic --dims 4 --batch 8 --optimizer "$dir/opt.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/evopt"
# Meta-training options: drawn truncations, decay of phi, PES; LSTM-sub needs groups.
expect 2 "unroll-max 10, expected at least --unroll 20" -- "$l2o" train --problem quadratic --unroll-max 10 --out "$dir/x.l2o"
expect 2 "pes-particles 3, expected an even number" -- "$l2o" train --problem quadratic --estimator pes --pes-particles 3 --out "$dir/x.l2o"
expect 2 "need --estimator pes" -- "$l2o" train --problem quadratic --pes-sigma 0.1 --out "$dir/x.l2o"
expect 2 "expected bptt or pes" -- "$l2o" train --problem quadratic --estimator es --out "$dir/x.l2o"
expect 0 "PES (4 particles, sigma 0.02)" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 2 --eval-every 1 --validation 2 --steps 20 --unroll 5 --unroll-max 20 --phi-decay 0.5 --estimator pes --pes-particles 4 --pes-sigma 0.02 --out "$dir/pes.l2o"
expect 2 "1 parameter group (32) for a phi of 2 LSTMs" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --groups 2 --epochs 1 --device cpu --out "$dir/x.l2o"
expect 2 "groups = '0', expected an integer in \[1, 16\]" -- "$l2o" init --groups 0 --out "$dir/x.l2o"
# LSTM+GAC: checked, meta-trained on the CPU from the paper's phi, kept in the file, evaluated.
expect 2 "gac = 21, expected 0..20" -- "$l2o" init --gac 21 --out "$dir/x.l2o"
expect 0 "trained 2 epochs" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 2 --eval-every 1 --validation 2 --steps 20 --gac 4 --init "$dir/s.l2o" --device cpu --out "$dir/gac.l2o"
expect 0 "4 global averaging units per layer" -- "$l2o" info "$dir/gac.l2o"
expect 0 "LSTM (l2o)" -- "$l2o" eval --problem quadratic --dims 4 --batch 8 --optimizer "$dir/gac.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/evgac"
# The time input: carried onto a phi without it (a zero column), trained, kept, evaluated; a
# layer of 4 units has no room for five inputs.
# (opt.l2o's bounded output and nominal term are left out by these flags, and the run says so.)
expect 0 "note: .*opt.l2o was trained with --bounded-output, --nominal-lr 0.01, which" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 2 --eval-every 1 --validation 2 --steps 20 --moment-inputs --time-input --init "$dir/opt.l2o" --out "$dir/time.l2o"
expect 0 "moment inputs, time input (beta1" -- "$l2o" info "$dir/time.l2o"
expect 0 "LSTM (l2o)" -- "$l2o" eval --problem quadratic --dims 4 --batch 8 --optimizer "$dir/time.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/evtime"
expect 2 "5 inputs with hidden = 4" -- "$l2o" init --hidden 4 --moment-inputs --time-input --out "$dir/x.l2o"
# l2o plot: columns of several curves.csv in one SVG; malformed entries and files refused.
expect 0 "wrote $dir/both.svg (2 series)" -- "$l2o" plot --curves "opt=$dir/evopt/curves.csv:lstm,time=$dir/evtime/curves.csv:lstm" --title "two" --out "$dir/both.svg"
grep -q "<svg" "$dir/both.svg" && grep -q ">time<" "$dir/both.svg" || { echo "FAIL: both.svg has no svg or no 'time' series"; fails=$((fails + 1)); }
expect 2 "pass --force" -- "$l2o" plot --curves "opt=$dir/evopt/curves.csv:lstm" --out "$dir/both.svg"
expect 2 "has no column 'adam' (it has: lstm)" -- "$l2o" plot --curves "a=$dir/evopt/curves.csv:adam" --out "$dir/x.svg"
expect 2 "entry 'opt', expected LABEL=FILE:COLUMN" -- "$l2o" plot --curves "opt" --out "$dir/x.svg"
printf 'step,lstm\n0,1.5\n2,1.0\n' >"$dir/gap.csv"
expect 2 "line 3: step 2, expected 1" -- "$l2o" plot --curves "g=$dir/gap.csv:lstm" --out "$dir/x.svg"
printf 'step,lstm\n0,1.5\n1,one\n' >"$dir/word.csv"
expect 2 "line 3: 'one' is not a number" -- "$l2o" plot --curves "w=$dir/word.csv:lstm" --out "$dir/x.svg"
expect 2 "cannot open" -- "$l2o" plot --curves "m=$dir/missing.csv:lstm" --out "$dir/x.svg"
[ ! -e "$dir/x.svg" ] || { echo "FAIL: a refused plot left x.svg"; fails=$((fails + 1)); }
expect 2 "unknown problem 'cnns'" -- "$l2o" eval --problem cnns --optimizer "$dir/opt.l2o"
expect 2 "--cnn-channels entry '0'" -- "$l2o" eval --problem cnn --cnn-channels 8,0 --optimizer "$dir/opt.l2o"
expect 2 "cannot open" -- "$l2o" eval --problem quadratic --optimizer "$dir/missing.l2o"
echo "not a checkpoint" >"$dir/junk.l2o"
expect 2 "wrong magic" -- "$l2o" eval --problem quadratic --optimizer "$dir/junk.l2o"
expect 2 "wrong magic" -- "$l2o" info "$dir/junk.l2o"
# An existing output is not overwritten without --force, and stays as it was.
expect 2 "pass --force" -- "$l2o" train --problem quadratic --out "$dir/junk.l2o"
expect 2 "pass --force" -- "$l2o" init --out "$dir/junk.l2o"
if [ "$(cat "$dir/junk.l2o")" != "not a checkpoint" ]; then
  echo "FAIL: junk.l2o was modified"
  fails=$((fails + 1))
fi
expect 0 "wrote" -- "$l2o" init --out "$dir/phi.l2o" --hidden 8
expect 0 "2x8 LSTM" -- "$l2o" info "$dir/phi.l2o"
expect 0 "LSTM (l2o)" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --steps 20 --runs 2 --validation 2 --baselines sgd --out-dir "$dir/ev"
expect 0 "LSTM (l2o, bf16 state)" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --steps 5 --runs 2 --state both --baselines none --out-dir "$dir/evb"
expect 2 "expected fp32, bf16 or both" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --state fp16
expect 2 "meta-lr-final 0, expected > 0" -- "$l2o" train --problem quadratic --meta-lr-final 0 --out "$dir/y.l2o"
expect 2 "cannot open" -- "$l2o" train --problem quadratic --init "$dir/missing.l2o" --out "$dir/y.l2o"
expect 2 "this run asks for '2x20" -- "$l2o" train --problem quadratic --init "$dir/phi.l2o" --hidden 20 --out "$dir/y.l2o"
expect 0 "from $dir/phi.l2o" -- "$l2o" train --problem quadratic --init "$dir/phi.l2o" --epochs 2 --eval-every 1 --validation 2 --steps 20 --meta-lr 0.01 --meta-lr-final 0.001 --out "$dir/y.l2o"
expect 0 "2x8 LSTM" -- "$l2o" info "$dir/y.l2o"
expect 0 "wrote $dir/zero.l2o" -- "$l2o" init --output-init zero --out "$dir/zero.l2o"
expect 2 "output-init 'none', expected random or zero" -- "$l2o" init --output-init none --out "$dir/none.l2o"
expect 2 "--init starts from" -- "$l2o" train --problem quadratic --init "$dir/zero.l2o" --output-init zero --out "$dir/z2.l2o"
# An optimizer whose output is ~0 leaves the optimizees where they start: train says so.
expect 0 "restart with another --seed" -- "$l2o" train --problem quadratic --scale 1e-30 --epochs 1 --eval-every 1 --validation 2 --steps 20 --out "$dir/idle.l2o"
if "$l2o" train --problem quadratic --epochs 1 --eval-every 1 --validation 2 --steps 20 --out "$dir/busy.l2o" 2>&1 | grep -q "another --seed"; then
  echo "FAIL: a working optimizer was reported idle"
  fails=$((fails + 1))
fi
expect 2 "unknown option --hidden-sizes" -- "$l2o" eval --problem mlp --optimizer "$dir/phi.l2o" --hidden-sizes 3
expect 2 "activation 'swish'" -- "$l2o" eval --problem mlp --optimizer "$dir/phi.l2o" --activation swish
expect 2 "dataset-fashion-mnist" -- "$l2o" eval --problem mlp --optimizer "$dir/phi.l2o" --data "$dir/none"
if [ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  expect 0 "784-3-4-10 relu" -- "$l2o" eval --problem mlp --optimizer "$dir/phi.l2o" --mlp-hidden 3,4 --activation relu --steps 2 --runs 1 --validation 1 --baselines sgd --out-dir "$dir/evm"
  expect 0 "Fashion-MNIST CNN 28x28 -conv3x3/2-> 4x14x14" -- "$l2o" eval --problem cnn --cnn-channels 4 --optimizer "$dir/phi.l2o" --steps 2 --runs 1 --validation 1 --baselines sgd --device cpu --out-dir "$dir/evc"
fi
# Outputs are checked before any work: a missing folder, a folder in the way, results
# already there (eval: only with --force, and no folder is made by a failed run).
expect 2 "does not exist" -- timeout 20 "$l2o" train --problem quadratic --epochs 1000 --out "$dir/no/such/phi.l2o"
mkdir "$dir/adir"
expect 2 "is a folder" -- timeout 20 "$l2o" train --problem quadratic --out "$dir/adir" --force
expect 2 "exists; pass --force" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/ev"
expect 0 "LSTM (l2o)" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/ev2" --force
expect 2 "is a file" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --steps 5 --runs 1 --baselines none --out-dir "$dir/junk.l2o"
expect 2 "eval: --runs" -- "$l2o" eval --problem quadratic --optimizer "$dir/phi.l2o" --runs 0 --out-dir "$dir/never"
[ -e "$dir/never" ] && { echo "FAIL: a refused eval made its folder"; fails=$((fails + 1)); }
# Special files are refused at once instead of blocking or reading forever.
mkfifo "$dir/fifo.l2o"
expect 2 "not a regular file (a FIFO)" -- timeout 20 "$l2o" info "$dir/fifo.l2o"
expect 2 "not a regular file (a character device)" -- timeout 20 "$l2o" eval --problem quadratic --optimizer /dev/zero
expect 2 "not a regular file (a directory)" -- timeout 20 "$l2o" info "$dir/adir"
# A resumed run must continue the same problem; its log has one JSON line per validation.
expect 0 "trained 2 epochs" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 2 --eval-every 1 --validation 2 --steps 20 --out "$dir/r.l2o"
expect 2 "was trained on" -- "$l2o" train --problem quadratic --dims 5 --batch 8 --epochs 4 --eval-every 1 --validation 2 --steps 20 --out "$dir/r.l2o" --resume
expect 2 "was trained on" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 4 --eval-every 1 --validation 3 --steps 20 --out "$dir/r.l2o" --resume
expect 0 "trained 2 epochs" -- "$l2o" train --problem quadratic --dims 4 --batch 8 --epochs 4 --eval-every 1 --validation 2 --steps 20 --clip 1 --out "$dir/r.l2o" --resume
if [ "$(grep -c '^{"epoch": [0-9]*, "meta_loss": ' "$dir/r.l2o.log.jsonl")" != 4 ]; then
  echo "FAIL: r.l2o.log.jsonl should hold 4 validations: $(cat "$dir/r.l2o.log.jsonl")"
  fails=$((fails + 1))
fi
# A mixture: refused specs name the part; a run logs each optimizee's draw, resume appends.
expect 2 "mlp activation 'swish', expected sigmoid|relu|tanh" -- "$l2o" train --problem 'mix:mlp(activation=swish)' --out "$dir/x.l2o"
expect 2 "component 'cubic'" -- "$l2o" eval --problem 'mix:cubic' --optimizer "$dir/phi.l2o"
mix='mix:quadratic(dims=2..5, batch=8, dist=uniform|normal)'
expect 0 "trained 4 epochs" -- "$l2o" train --problem "$mix" --epochs 4 --meta-batch 2 --eval-every 2 --validation 2 --steps 20 --out "$dir/m.l2o"
expect 0 "trained 2 epochs" -- "$l2o" train --problem "$mix" --epochs 6 --meta-batch 2 --eval-every 2 --validation 2 --steps 20 --out "$dir/m.l2o" --resume
if [ "$(grep -cE '^[0-5]	[0-9]+	quadratic .*, [2-5] dims, batch 8' "$dir/m.l2o.draws.tsv")" != 6 ]; then
  echo "FAIL: m.l2o.draws.tsv should hold epochs 0..5: $(cat "$dir/m.l2o.draws.tsv")"
  fails=$((fails + 1))
fi
# Running out of memory is a message and exit 2, not an internal error (35 TB of W).
# (Not under AddressSanitizer, whose allocator ends the process on such a request.)
if [ -z "${ASAN_OPTIONS:-}" ]; then
  expect 2 "out of memory" -- "$l2o" eval --problem quadratic --dims 64 --batch 2147483647 --optimizer "$dir/phi.l2o" --runs 1 --baselines none --out-dir "$dir/oom"
  [ -e "$dir/oom" ] && { echo "FAIL: a failed eval left its folder"; fails=$((fails + 1)); }
else
  echo "SKIPPED: the out-of-memory check (AddressSanitizer's allocator aborts instead)"
fi
# A temporary file left by an interrupted write is named by info.
: >"$dir/phi.l2o.tmp.12345"
expect 0 "stale temporary file" -- "$l2o" info "$dir/phi.l2o"
# Every command explains itself, and everything --help lists the parser accepts (both
# come from one option table).
for cmd in train eval init info; do
  expect 0 "usage: l2o $cmd" -- "$l2o" "$cmd" --help
done
expect 0 "usage: l2o eval" -- "$l2o" help eval
for cmd in train eval init; do
  for name in $("$l2o" "$cmd" --help | grep -o '^  --[a-z0-9-]*' | sed 's/^  --//'); do
    # (in the temporary folder: `init --out x` writes a file x)
    if (cd "$dir" && "$l2o" "$cmd" "--$name" x 2>&1) | grep -q "unknown option"; then
      echo "FAIL: l2o $cmd --help lists --$name, which the parser refuses"
      fails=$((fails + 1))
    fi
  done
done
for f in results.md curves.csv loss.svg; do
  [ -s "$dir/ev/$f" ] || { echo "FAIL: eval wrote no $f"; fails=$((fails + 1)); }
done
[ "$fails" = 0 ] && echo "cli: all checks passed" || { echo "cli: $fails checks failed"; exit 1; }
