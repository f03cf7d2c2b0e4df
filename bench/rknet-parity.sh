#!/bin/sh
# Training parity of pdenet's rknet with the DynamicBlocks reference code: same initial weights, same batches,
# runDefault's optimizer and clipping; per-step losses side by side (see bench/rknet-parity.ts).
# usage: bench/rknet-parity.sh [OUT=/tmp/rknet-parity] [STEPS=50] [BATCH=32]   (after `npx tsc -p tsconfig.json`)
set -e
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/rknet-parity}
export PDENET_NUM_THREADS=${PDENET_NUM_THREADS:-2}
/usr/bin/python3 bench/rknet_parity.py "$OUT" "${2:-50}" "${3:-32}"
node dist/bench/rknet-parity.js "$OUT"
