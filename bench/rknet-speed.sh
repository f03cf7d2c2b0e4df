#!/bin/sh
# The DynamicBlocks reference RKNet's training step: pdenet beside the reference code under PyTorch, alternating,
# ROUNDS rounds of STEPS timed steps each (medians), batch BATCH, PDENET_NUM_THREADS threads (default 2).
# usage: bench/rknet-speed.sh [BATCH=125] [STEPS=3] [ROUNDS=3]   (after `npx tsc -p tsconfig.json`)
set -e
cd "$(dirname "$0")/.."
export PDENET_NUM_THREADS=${PDENET_NUM_THREADS:-2}
for round in $(seq "${3:-3}"); do
  printf 'reference %s\n' "$(/usr/bin/python3 bench/rknet_speed.py "${1:-125}" "${2:-3}")"
  printf 'pdenet    %s\n' "$(node dist/bench/rknet-speed.js "${1:-125}" "${2:-3}")"
done
