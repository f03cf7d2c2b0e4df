#!/usr/bin/env bash
# Data-parallel training on this machine: 1 process × 2 threads vs 2 processes × 1 thread, pdenet
# (bench/ddp-train.ts, DistributedDataParallel on c10d) beside PyTorch (bench/ddp_torch.py, DDP with gloo,
# the workers started with torchrun's env:// variables), same model, global batch and threads; the four configurations
# alternate REPEATS times so that noise on a shared machine hits them alike. One JSON line per sample.
#   bash bench/ddp-vs-torch.sh [REPEATS] [MODELS] [BATCH] [STEPS] [WARMUP] > samples.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
models=${2:-"resnet20 speednet"}
batch=${3:-128}
steps=${4:-10}
warmup=${5:-2}
for ((r = 0; r < repeats; r++)); do
  for model in $models; do
    PDENET_NUM_THREADS=2 node dist/bench/ddp-train.js --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup"
    PDENET_NUM_THREADS=2 node dist/src/cli/main.js launch --nproc-per-node 2 --exec -- \
      node dist/bench/ddp-train.js --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup"
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/ddp_torch.py --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup" --threads 2
    # Debian's torch.distributed.run (1.13) fails on this Python (its Std flags enum); pdenet launch sets the
    # same env:// variables, and init_process_group('gloo') reads them as under torchrun
    PDENET_NUM_THREADS=2 node dist/src/cli/main.js launch --nproc-per-node 2 --exec -- \
      /usr/bin/python3 bench/ddp_torch.py --model "$model" --batch "$batch" --steps "$steps" --warmup "$warmup" --threads 1
  done
done
