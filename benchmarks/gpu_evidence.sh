#!/usr/bin/env bash
# One call on the lent GPU machine for issues #16, #18 and #20 (see docs/gpu-setup.md for
# the wheelhouse prefix that sets PYTHONPATH=/tmp/site:$PWD):
#   bash benchmarks/gpu_evidence.sh TAG PARTS [DEADLINE_S]
# TAG names the GPU (h100, h200). PARTS, a comma list, in this order:
#   install  `pip install -e .` as a new user would, then `stepscope` (the main job), timed
#   perturb  the default tracer's perturbation: 10 interleaved rounds, eager, eager-static, graph
#   parts    the capture-parts table (each part's cost, kernel-record probes), 5 rounds
#   cal      `stepscope calibrate` (the A/B's node gap)
#   ab       `stepscope ab` N=10, eager-static,graph,eager, seeded arm order, resumable
#   compile  `stepscope ab` N=10, eager-static,compile, resumable
# A/B folders already under benchmarks/results/ab-{,compile-}TAG-n10 (carried back from an
# earlier call) are resumed. Everything stops DEADLINE_S (default 540) seconds after the
# start; outputs come back as one $OUT/evidence-TAG.tar.gz (the device returns <= 8 files).
set -u
TAG=${1:-h100}
PARTS=${2:-install,perturb,parts,cal,ab}
DEADLINE=$(( $(date +%s) + ${3:-540} ))
W=$OUT/w
mkdir -p "$W"
export PYTHONUNBUFFERED=1
has() { case ",$PARTS," in *",$1,"*) return 0;; esac; return 1; }
left() { local l=$(( DEADLINE - $(date +%s) )); [ "$l" -gt "$1" ] && echo "$1" || echo $(( l > 5 ? l : 5 )); }
stamp() { echo "[$(date +%T)] $*"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,clocks_throttle_reasons.active,temperature.gpu,power.draw \
  --format=csv > "$W/gpu-state-$TAG.csv" 2>&1
if has install; then
  stamp install
  { timeout 90 python3 -m pip install -e . 2>&1 | tail -4; echo "plain pip rc ${PIPESTATUS[0]}";
    python3 -m pip install --no-index --find-links .whl --no-build-isolation --no-deps -e . 2>&1 | tail -2;
    echo "offline pip rc ${PIPESTATUS[0]}"; command -v stepscope; } > "$W/install-$TAG.log" 2>&1
  ( cd "$W" && /usr/bin/time -f "wall %e s" timeout "$(left 170)" stepscope ) > "$W/main-job-$TAG.log" 2>&1
  stamp "main rc $?"
fi
if has perturb; then
  stamp perturb
  timeout "$(left 200)" python3 benchmarks/host_session.py --out "$W" --tag "$TAG" --stages decode \
    --arms "${PERTURB_ARMS:-eager,eager-static,graph}" --rounds 10 --trace-steps 1 --steps 50 > "$W/perturb-$TAG.log" 2>&1
  stamp "perturb rc $?"
fi
if has parts; then
  stamp parts
  timeout "$(left 200)" python3 benchmarks/host_session.py --out "$W" --tag "$TAG" --stages parts --rounds 5 \
    --block 6 --part-modes graph,eager-static > "$W/capture_parts-$TAG.log" 2>&1
  stamp "parts rc $?"
fi
CAL=benchmarks/results/calibration-$TAG-n10.json
if has cal; then
  stamp cal
  timeout "$(left 120)" python3 -m stepscope calibrate -o "$W/calibration-$TAG-n10.json" > "$W/calibrate-$TAG.log" 2>&1
  stamp "cal rc $?"
  [ -f "$W/calibration-$TAG-n10.json" ] && CAL=$W/calibration-$TAG-n10.json
fi
run_ab() {   # name arms seed
  local dir=$W/$1
  [ -d "benchmarks/results/$1" ] && [ ! -d "$dir" ] && cp -r "benchmarks/results/$1" "$dir"
  local calarg=(); [ -f "$CAL" ] && calarg=(--calibration "$CAL")
  stamp "$1"
  timeout "$(left 590)" python3 -m stepscope ab --sessions 10 --arms "$2" --seed "$3" "${calarg[@]}" -o "$dir" \
    > "$W/$1.log" 2>&1
  stamp "$1 rc $?"
}
has ab && run_ab "ab-$TAG-n10" eager-static,graph,eager 20
has compile && run_ab "ab-compile-$TAG-n10" eager-static,compile 21
tar -czf "$OUT/evidence-$TAG.tar.gz" -C "$W" .
for f in "$W"/*.log; do echo "== $f"; grep -v "warning: DRAM" "$f" | tail -8 | cut -c1-300; done
