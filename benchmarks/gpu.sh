#!/usr/bin/env bash
# Every GPU measurement of the project in one run (about 6-8 minutes on an H100/H200), for a session that is
# lent a GPU: results go to $OUT (default benchmarks/results); commit them with the device they name.
#   OUT=/some/dir bash benchmarks/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# (a) K packed U-Nets vs one after another vs a DataLoader loop, 256 px, batch 32, with compile/fused/channels-last
timeout 240 $PY benchmarks/packed.py --device cuda --size 256 --batch 32 --models 1 5 10 --repeats 20 \
  --out "$OUT/packed-cuda.json" 2>&1 | tee "$OUT/packed.log"
# (b) Study B at the paper preset: every method's step, projected to a seed (no end-to-end cells: minutes each)
timeout 240 $PY benchmarks/study_b_cost.py --device cuda --preset paper --no-check --repeats 10 \
  --out "$OUT/study_b_cost-cuda-paper.json" 2>&1 | tee "$OUT/study_b_cost.log"
# the same with every model trained alone: what packing and lockstep buy per method
timeout 240 $PY benchmarks/study_b_cost.py --device cuda --preset paper --no-check --repeats 10 --pack-models 1 \
  --out "$OUT/study_b_cost-cuda-paper-alone.json" 2>&1 | tee "$OUT/study_b_cost-alone.log"
# Study A's throughput probe (each host's paper crop and batch)
timeout 180 $PY benchmarks/study_a.py --device cuda --out "$OUT/study_a-cuda.json" 2>&1 | tee "$OUT/study_a.log"
