#!/usr/bin/env bash
# SpeedNet training and inference images/s in pdenet and in PyTorch (bench/speednet_torch.py), same network, batch,
# threads and layout; the two sides alternate, each configuration REPEATS times (default 3). One JSON line per sample:
#   {"side": "pdenet"|"torch", "precision": ..., "twist": ..., "trainImagesPerSec": ..., "inferImagesPerSec": ...}
#   bash bench/speednet-vs-torch.sh [BATCH] [REPEATS] > samples.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-1024}
repeats=${2:-3}
for config in "bf16 1,0,0" "bf16 0,0,0" "fp32 1,0,0"; do
  read -r precision twist <<<"$config"
  for ((r = 0; r < repeats; r++)); do
    for side in pdenet torch; do
      if [[ $side == pdenet ]]; then
        out=$(node dist/src/cli/main.js bench --model speednet --twist "$twist" --batch-size "$batch" --steps 5 \
          --precision "$precision" --channels-last --json)
      else
        out=$(/usr/bin/python3 bench/speednet_torch.py --batch "$batch" --steps 5 --precision "$precision" \
          --channels-last --twist "$twist" --threads 2)
      fi
      echo "{\"side\": \"$side\", \"precision\": \"$precision\", \"twist\": \"$twist\", \"sample\": ${out}}"
    done
  done
done
