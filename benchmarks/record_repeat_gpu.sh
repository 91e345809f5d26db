#!/usr/bin/env bash
# Issue 27 item 5 on the GPU machine: what the tracer costs a recorded program.
# `stepscope record --repeat 3` of the three HF generate examples and the hand-written loop
# (Qwen2.5-7B random weights, ctx 2048, 32 new tokens): the traced run, then 3 fresh runs of
# the same program under the timing-only tracer (memory copies only), compared per decode
# step (token read-back to read-back) and end to end (analysis/record_cost.py).
# Run: PARTS="eager static loop" bash benchmarks/record_repeat_gpu.sh, then PARTS=compiled
# (with .whl/ carried: cupti-python). Results: $OUT/r.tar (traces, logs, reports).
set -u
OUT=${OUT:-out27}; R=$OUT/r; mkdir -p "$R"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD:$PWD/examples || exit
export PYTHONUNBUFFERED=1
S="python3 -m stepscope"; M=qwen2.5-7b; C=2048; N=32; K=${REPEAT:-3}
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks_throttle_reasons.active,power.draw --format=csv
  python3 -c "import torch, transformers, cupti, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
} > "$R/env-${PARTS// /-}.txt" 2>&1
t() { local name=$1; shift; local t0=$EPOCHREALTIME; timeout 500 "$@" > "$R/$name.log" 2>&1; local rc=$?
      echo "$name rc=$rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s" | tee -a "$R/runs.txt"; }
for p in ${PARTS:-eager static loop compiled}; do
  case $p in
    loop) t record-loop $S record --repeat $K --force -o "$R/record-loop-eager-static.stepscope" -- python examples/decode_loop.py --mode eager-static --model $M --ctx $C --new-tokens $N ;;
    *) t record-hf-$p $S record --repeat $K --force -o "$R/record-hf-$p.stepscope" -- python examples/hf_generate.py --mode $p --model $M --ctx $C --new-tokens $N ;;
  esac
done
nvidia-smi --query-gpu=clocks.sm,clocks.mem,clocks_throttle_reasons.active,power.draw --format=csv >> "$R/env-${PARTS// /-}.txt" 2>&1
tar -C "$OUT" -cf "$OUT/r-${PARTS// /-}.tar" r
grep -h -A5 "^tracer cost" "$R"/*.log | cut -c1-150
cat "$R/runs.txt"
