#!/usr/bin/env bash
# The CPU allocator's block cache on and off, side by side: SpeedNet (twisted, bf16, channels-last)
# training steps with `pdenet bench`, PDENET_CPU_CACHE_MB=0 (off) interleaved with the default (on),
# REPEATS times each. Prints one line per run and the medians: training images/s, and the minor page
# faults and kernel time of the whole process (GNU time).
#
#   bash bench/allocator-cache.sh [BATCH] [STEPS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-1024}
steps=${2:-10}
repeats=${3:-5}
out=$(mktemp)
trap 'rm -f "$out" "$out.time"' EXIT

for ((r = 1; r <= repeats; r++)); do
  for cache in off on; do
    if [[ $cache == off ]]; then env=(PDENET_CPU_CACHE_MB=0); else env=(); fi
    json=$(env "${env[@]}" /usr/bin/time -f '%R %S' -o "$out.time" node dist/src/cli/main.js bench --model speednet \
      --twist 1,0,0 --batch-size "$batch" --steps "$steps" --precision bf16 --channels-last --json)
    read -r faults sys < "$out.time"
    ips=$(node -e 'console.log(JSON.parse(process.argv[1]).trainImagesPerSec.toFixed(1))' "$json")
    echo "$cache $ips $faults $sys" | tee -a "$out"
  done
done

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const of = (cache, i) => median(rows.filter((r) => r[0] === cache).map((r) => Number(r[i])));
console.log("| cache | training images/s (median) | minor page faults | kernel time (s) |");
console.log("|---|---|---|---|");
for (const c of ["off", "on"]) console.log(`| ${c} | ${of(c, 1).toFixed(0)} | ${of(c, 2).toFixed(0)} | ${of(c, 3).toFixed(1)} |`);
console.log(`on / off: ${(of("on", 1) / of("off", 1)).toFixed(2)}x`);
' "$out"
