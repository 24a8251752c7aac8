#!/usr/bin/env bash
# Reproduce benchmarks/speed/RESULTS.md: every row, idle and beside one CPU-bound process.
# Usage: GANKIT_DATA=../shared/data bash benchmarks/speed/run_all.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-benchmarks/speed/_work}
mkdir -p "$OUT"
PY=${PYTHON:-python}
B="$PY benchmarks/speed/train_speed.py"
$B --model dcgan --reps 5 --steps 15 --json "$OUT/dcgan.json"
$B --model dcgan --reps 5 --steps 15 --set train.threads=2 --json "$OUT/dcgan_t2.json"
$B --model gan --reps 5 --steps 40 --json "$OUT/gan.json"
$B --model gan --reps 5 --steps 40 --set train.threads=2 --json "$OUT/gan_t2.json"
$B --model dcgan --reps 3 --steps 10 --set train.threads=2 --set train.amp=bf16 --json "$OUT/dcgan_bf16.json"
# one competing CPU-bound process, as on a shared machine
$PY -c "import time; t = time.time()
while time.time() - t < 400: pass" &
LOAD=$!
trap 'kill $LOAD 2>/dev/null || true' EXIT
sleep 2
$B --model dcgan --reps 5 --steps 10 --json "$OUT/dcgan_busy.json"
$B --model gan --reps 5 --steps 30 --json "$OUT/gan_busy.json"
$PY benchmarks/speed/memory.py --job train --steps 10 --json "$OUT/memory.json"
$PY benchmarks/speed/memory.py --job fid-mnist --num 10000 --json "$OUT/memory-fid-mnist.json"
$PY benchmarks/speed/memory.py --job fid-inception --num 10000 --threads 2 --json "$OUT/memory-fid-inception-10k.json"
# sampling throughput needs a trained run: `make quickstart` makes runs/quickstart
if [ -d runs/quickstart ]; then
  for t in 1 2; do
    $PY benchmarks/speed/sampling.py runs/quickstart --threads $t --json "$OUT/sampling_t$t.json"
  done
fi
