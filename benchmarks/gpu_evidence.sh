#!/usr/bin/env bash
# The GPU measurements behind benchmarks/results/*cuda*.json, run in one go on a lent GPU machine
# (one H100, no network: the Python packages it lacks travel as wheels in .whl/, made with
# `pip download --no-deps --python-version 3.12 …` of requirements.lock's versions).
#   bash benchmarks/gpu_evidence.sh OUTDIR
# Steps, most important first, each under its own time limit:
#   1. step times of the paper models at batch 16384: reference path, fast eager, CUDA graphs;
#   2. step times of the default config's models at batch 256: reference and fast eager;
#   3. a measured run of 20 000 `vpt` steps with CUDA graphs, extrapolated to 500 000;
#   4. one pipeline training job on the GPU through Snakemake (training.accelerator: gpu).
set -uo pipefail
out=${1:?usage: gpu_evidence.sh OUTDIR}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/*.whl || exit 1
export PYTHONPATH="$PWD/src:/tmp/site" PHASEBENCH_ROOT="$PWD" PYTHONUNBUFFERED=1
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 -m phasebench "$@"\n' >/tmp/bin/phasebench
chmod +x /tmp/bin/phasebench
export PATH="/tmp/bin:$PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" \
    | tee -a "$out/gpu.txt"
bench="python3 benchmarks/train_throughput.py --device cuda"

timeout 200 $bench --suite paper --steps-per-epoch 30 --modes reference eager cudagraphs \
    --out "$out/train_throughput_cuda_paper.json" 2>&1 | grep -v -i warn | tee "$out/steps.txt"
timeout 90 $bench --suite default --modes reference eager \
    --out "$out/train_throughput_cuda_default.json" 2>&1 | grep -v -i warn | tee -a "$out/steps.txt"
timeout 100 $bench --long-run 20000 --models vpt --steps-per-epoch 6 --modes cudagraphs \
    --out "$out/long_run_cuda.json" 2>&1 | grep -v -i warn | tee -a "$out/steps.txt"
[ "${SKIP_PIPELINE:-}" ] && exit 0

cat >/tmp/gpu.yaml <<'YAML'
training: {accelerator: gpu, max_epochs: 100}
YAML
run=results/runs/rigid_body/vpt/seed0
timeout 150 python3 -m snakemake --cores 8 --configfile configs/vpt-rigid-body.yaml /tmp/gpu.yaml -- "$run/train.json" \
    >"$out/snakemake.txt" 2>&1
tail -5 "$out/snakemake.txt"
cp "$run/train.json" "$run/metrics.csv" "$run/best.ckpt" "$out/" 2>/dev/null
cat "$out/train.json" 2>/dev/null
