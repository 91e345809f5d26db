#!/usr/bin/env bash
# One call on the lent GPU machine, from the repository root with $OUT set, .whl carried:
#   bash benchmarks/graph_level.sh TAG [DEADLINE_S]
# Graph-mode Qwen2.5-7B ctx 2048 traced two ways in one process, 10 interleaved rounds each
# (50 untraced timed steps in all, 5 a round, and one traced step a round): per-kernel records (the default)
# and graph-level records (Tracer(kernel_records="graph"), `stepscope trace --kernel-records
# graph`); then the host duration of cudaGraphLaunch untraced and under each tracer set-up.
# Results: $OUT/graph-level-TAG.tar.gz (traces, decode-TAG.json, graph_launch-TAG.json, log).
set -u -o pipefail
TAG=${1:-h100}
T0=$(date +%s)
DEADLINE=${2:-560}
W=$OUT/gl
mkdir -p "$W"
left() { echo $(( DEADLINE - ($(date +%s) - T0) )); }
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --upgrade --target /tmp/site .whl/*.whl > "$W/pip-$TAG.log" 2>&1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks_throttle_reasons.active,temperature.gpu,power.draw \
  --format=csv > "$W/gpu-state-$TAG.csv" 2>&1
timeout "$(left)" python3 benchmarks/host_session.py --out "$W" --tag "$TAG" --stages decode,graph_launch \
  --arms graph,graph:+graphlevel --rounds 10 --trace-steps 1 --steps 50 > "$W/graph-level-$TAG.log" 2>&1
echo "host_session rc $? after $(( $(date +%s) - T0 )) s"
tar -czf "$OUT/graph-level-$TAG.tar.gz" -C "$W" .
grep -v "warning: DRAM" "$W/graph-level-$TAG.log" | tail -15 | cut -c1-400
