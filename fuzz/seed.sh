#!/usr/bin/env bash
# Seeds corpus/<venue>/ from the documented test frames: each line of tests/frames/<venue>*.jsonl
# as one input, and each file whole (a sequence of frames for the book sequencer).
set -euo pipefail
cd "$(dirname "$0")"
venue="$1"
mkdir -p "corpus/$venue"
# Binary seeds (binance_sbe): one hex line per frame in tests/frames/<venue>.hex.
if [ -f ../tests/frames/"$venue".hex ]; then
  n=0
  grep -v '^#' ../tests/frames/"$venue".hex | while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" | xxd -r -p > "corpus/$venue/seed-$venue-$n"
  done
  exit 0
fi
for f in ../tests/frames/"$venue"*.jsonl; do
  base="$(basename "$f" .jsonl)"
  cp "$f" "corpus/$venue/seed-$base-all"
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    printf '%s' "$line" > "corpus/$venue/seed-$base-$n"
  done < "$f"
done
