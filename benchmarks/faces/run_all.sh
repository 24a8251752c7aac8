#!/bin/sh
# Train the three face presets one after another for the same CPU budget, then evaluate.
# Usage: GANKIT_DATA=/path/to/shared/data sh benchmarks/faces/run_all.sh [CPU_SECONDS]
set -e
CPU=${1:-180}
for p in faces-dcgan faces-progan faces-stylegan; do
  PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py train "$p" --cpu "$CPU"
done
PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py eval
