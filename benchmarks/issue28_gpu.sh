#!/usr/bin/env bash
# Issue 28 on the GPU machine, one call (about 8 minutes on an H200):
#   1. the main job (`stepscope`, defaults: 5 interleaved rounds per arm, the graph arm with
#      a graph-level block besides the per-kernel one);
#   2. 10-round traces with the fixed protocol (an untimed step before each untraced block):
#      graph (per-kernel + graph-level blocks), graph with graph-level records only (the
#      independent reference for the graph column's launch overhead), eager-static;
#   3. benchmarks/perturbation_ab.py: the controlled A/Bs (graph arms one part at a time,
#      eager-static capture parts, 5 steps per block).
# Run: bash benchmarks/issue28_gpu.sh (with .whl/ carried: cupti-python). Results: $OUT/r.tar
set -u
OUT=${OUT:-out28}; R=$OUT/r; mkdir -p "$R"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit
export PYTHONUNBUFFERED=1
S="python3 -m stepscope"
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks_throttle_reasons.active,power.draw --format=csv
  python3 -c "import torch, transformers, cupti, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
} > "$R/env.txt" 2>&1
t() { local name=$1; shift; local t0=$EPOCHREALTIME; timeout 200 "$@" > "$R/$name.log" 2>&1; local rc=$?
      echo "$name rc=$rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s" | tee -a "$R/runs.txt"; }
t mainjob $S -o "$R/mainjob"
t graph-r10 $S trace --mode graph --rounds 10 --steps 50 --trace-steps 1 --quiet -o "$R/graph-r10.stepscope"
t eager-static-r10 $S trace --mode eager-static --rounds 10 --steps 50 --trace-steps 1 --quiet -o "$R/eager-static-r10.stepscope"
t graphlevel-r10 $S trace --mode graph --kernel-records graph --rounds 10 --steps 50 --trace-steps 1 --quiet -o "$R/graphlevel-r10.stepscope"
t ab python3 benchmarks/perturbation_ab.py -o "$R/ab" --static-block 5
rm -f "$R"/mainjob/*.png.tmp
tar -cf "$OUT/r.tar" -C "$OUT" r
cat "$R/runs.txt"; sed -n 1,40p "$R/mainjob.log"; grep -A14 "^graph (median" "$R/ab.log"; grep -A10 "^eager-static (median" "$R/ab.log"
