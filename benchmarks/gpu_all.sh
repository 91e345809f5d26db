#!/usr/bin/env bash
# One call on the lent GPU machine (see docs/gpu-setup.md for the wheelhouse):
#   bash benchmarks/gpu_all.sh TAG PARTS
# TAG names the GPU (h100, h200); PARTS is a comma list of: host (host_session.py decode,
# spin, graph_launch, costs), parts (host_session.py capture-parts table), main (the main
# job), dram (dram_validation.py). Everything lands under $OUT/w and comes back as
# $OUT/all-TAG-PARTS.tar.gz (the device returns at most 8 files); logs' tails print last.
set -u
TAG=${1:-h100}
PARTS=${2:-host,main}
W=$OUT/w
mkdir -p "$W"
export PYTHONUNBUFFERED=1
has() { case ",$PARTS," in *",$1,"*) return 0;; esac; return 1; }
if has host; then
  timeout 240 python3 benchmarks/host_session.py --out "$W" --tag "$TAG" --stages decode,spin,graph_launch,costs \
    > "$W/host_session-$TAG.log" 2>&1; echo "host rc $?"
fi
if has main; then
  (cd "$W" && timeout 170 python3 -m stepscope) > "$W/main-job-$TAG.log" 2>&1; echo "main rc $?"
fi
if has parts; then
  timeout 200 python3 benchmarks/host_session.py --out "$W" --tag "$TAG" --stages spin,parts --rounds 3 \
    --part-modes eager-static,graph > "$W/capture_parts-$TAG.log" 2>&1; echo "parts rc $?"
fi
if has dram; then
  timeout 290 python3 benchmarks/dram_validation.py --out "$W/dv-$TAG" > "$W/dram_validation-$TAG.log" 2>&1
  echo "dram rc $?"
fi
tar -czf "$OUT/all-$TAG-${PARTS//,/-}.tar.gz" -C "$W" .
for f in "$W"/*.log; do echo "== $f"; grep -v "warning: DRAM" "$f" | tail -12 | cut -c1-400; done
