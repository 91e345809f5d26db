#!/usr/bin/env bash
# Issue 27 on the GPU machine, one call (about 8 minutes on an H200):
#   1. the built-in `stepscope trace` of eager and eager-static (the per-step reference);
#   2. `stepscope record` of the three HF generate examples and the hand-written loop
#      (Qwen2.5-7B random weights, ctx 2048, 32 new tokens), one process each, alone;
#   3. the same four runs under plain torch.profiler (no markers), plus the loop's last
#      graph step alone and four marked eager-static steps, in parallel (only their
#      structure is compared, not their times).
# Also issue 26's check: python3 -m stepscope from the checkout root with Hugging Face's
# `kernels` importable. Results: $OUT/*.tar and the torch.profiler traces.
# Run: bash benchmarks/record_gpu.sh (with .whl/ carried: cupti-python, kernels, tomlkit).
set -u
OUT=${OUT:-record-out}; mkdir -p "$OUT/r"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD:$PWD/examples || exit
export PYTHONUNBUFFERED=1
M=qwen2.5-7b; C=2048; N=32; R=$OUT/r
S="python3 -m stepscope"
{ date -u; nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks_throttle_reasons.active --format=csv
  python3 -c "import torch, transformers, kernels, cupti, sys; print(sys.version.split()[0], torch.__version__, transformers.__version__, 'kernels', kernels.__file__, 'cupti', cupti.__file__)"
  $S --help >/dev/null && echo "python3 -m stepscope --help from the checkout root: ok"
} > "$R/env.txt" 2>&1
t() { local name=$1; shift; local t0=$EPOCHREALTIME; "$@" > "$R/$name.log" 2>&1; local rc=$?
      echo "$name rc=$rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s" | tee -a "$R/runs.txt"; }
# 1. built-in reference traces
t builtin-eager $S trace --model $M --ctx $C --mode eager --warmup 3 --steps 10 --trace-steps 5 --rounds 1 --quiet -o "$R/builtin-eager.stepscope"
t builtin-eager-static $S trace --model $M --ctx $C --mode eager-static --warmup 3 --steps 10 --trace-steps 5 --rounds 1 --quiet -o "$R/builtin-eager-static.stepscope"
# 2. record, one at a time
for m in eager static compiled; do
  t record-hf-$m $S record --force -o "$R/record-hf-$m.stepscope" -- python examples/hf_generate.py --mode $m --model $M --ctx $C --new-tokens $N
done
t record-loop $S record --force -o "$R/record-loop-eager-static.stepscope" -- python examples/decode_loop.py --mode eager-static --model $M --ctx $C --new-tokens $N
# 3. torch.profiler, in parallel
P=$OUT
for m in eager static compiled; do
  t tp-hf-$m python3 examples/hf_generate.py --mode $m --model $M --ctx $C --new-tokens $N --torch-profiler "$P/tp-hf-$m.json.gz" &
done
t tp-loop python3 examples/decode_loop.py --mode eager-static --model $M --ctx $C --new-tokens $N --torch-profiler "$P/tp-loop-eager-static.json.gz" &
t tp-graph1 python3 examples/decode_loop.py --mode graph --model $M --ctx $C --new-tokens $N --torch-profiler "$R/tp-loop-graph-1step.json.gz" --profile-steps 1 &
t tp-marked python3 examples/decode_loop.py --mode eager-static --model $M --ctx $C --new-tokens $N --torch-profiler "$R/tp-loop-eager-static-marked4.json.gz" --profile-steps 4 --mark-steps &
wait
# reports of everything, here (the same code reads them on the CPU)
for f in "$R"/*.stepscope "$P"/tp-*.json.gz "$R"/tp-*.json.gz; do
  $S report "$f" --model $M --ctx $C > "$f.report.txt" 2>&1 || $S report "$f" > "$f.report.txt" 2>&1
done
ls -la "$R" "$P" > "$R/files.txt"
tar -C "$OUT" -cf "$OUT/results.tar" r
du -sh "$OUT"/*
grep -h "^steps:" "$R"/*.report.txt "$P"/*.report.txt | cut -c1-160
cat "$R/runs.txt"
