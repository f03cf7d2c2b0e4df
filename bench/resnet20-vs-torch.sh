#!/usr/bin/env bash
# ResNet-20 (plain and twisted) in pdenet and in the PyTorch reference scripts, same model, batch 128, 2 threads, fp32.
#   1. `pdenet bench` beside ../shared/reference/pytorch_twist.py, alternating, REPEATS samples each (one JSON line each);
#   2. one training epoch of plain ResNet-20 through pdenet's trainer beside ../shared/reference/train_ref.py on the
#      same images (DATA: the extracted CIFAR-10 JPEG folder, with train/ inside), each side's wall time.
#   bash bench/resnet20-vs-torch.sh DATA [REPEATS] > samples.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: bench/resnet20-vs-torch.sh DATA [REPEATS]}
repeats=${2:-3}
ref=../shared/reference
for twist in 0 1; do
  for ((r = 0; r < repeats; r++)); do
    flag=$([[ $twist == 1 ]] && echo --twist || true)
    out=$(node dist/src/cli/main.js bench --model resnet20 $flag --batch-size 128 --steps 5 --json)
    echo "{\"side\": \"pdenet\", \"twist\": $twist, \"sample\": $out}"
    out=$(/usr/bin/python3 "$ref/pytorch_twist.py" resnet20 128 5 "twist$twist" 2 | tr "\n" ";")
    echo "{\"side\": \"torch\", \"twist\": $twist, \"sample\": \"$out\"}"
  done
done
runs=$(mktemp -d)
start=$(date +%s.%N)
node dist/src/cli/main.js train --model resnet20 --epochs 1 --batch-size 128 --lr 0.2 --weight-decay 5e-4 \
  --label-smoothing 0.1 --crop 4 --no-tta --precision fp32 --data "$data" --runs-dir "$runs" --run-name ref >/dev/null
echo "{\"side\": \"pdenet\", \"loop\": \"train 1 epoch\", \"seconds\": $(echo "$(date +%s.%N) - $start" | bc)," \
  "\"val\": $(tail -1 "$runs/ref/metrics.jsonl")}"
rm -rf "$runs"
start=$(date +%s.%N)
out=$(/usr/bin/python3 "$ref/train_ref.py" "$data" 1 twist0 2 128 | tail -2 | tr "\n" ";")
echo "{\"side\": \"torch\", \"loop\": \"train_ref.py 1 epoch\", \"seconds\": $(echo "$(date +%s.%N) - $start" | bc)," \
  "\"last\": \"$out\"}"
