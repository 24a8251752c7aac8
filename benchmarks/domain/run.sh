#!/bin/bash
# Domain adaptation benchmark (issue 16): MNIST -> MNIST-M-like with the dann preset.
# Trains source-only, DANN and train-on-target runs (one thread each, one after another),
# scores them on the target test split and writes the table, the feature PCA and the target
# grid. Usage (from the repository root):
#   GANKIT_DATA=/work/shared/data benchmarks/domain/run.sh [OUT] [key=value ...]
# OUT defaults to runs/bench-domain; finished runs in OUT are reused.
set -euo pipefail
OUT=${1:-runs/bench-domain}
shift || true
export OMP_NUM_THREADS=1
python -c "import platform, torch; print('machine:', platform.processor() or platform.machine(), \
'| torch', torch.__version__, '| threads 1')"
gankit adapt mnist-to-mnistm-dann train.threads=1 train.progress=false "$@" --out "$OUT" \
    --json "$OUT/result.json"
cp "$OUT/features_pca.png" "$OUT/target_samples.png" "$OUT/result.json" benchmarks/domain/
