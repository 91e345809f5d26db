#!/usr/bin/env bash
# One call on the lent GPU machine, from the repository root with $OUT set, .whl carried
# (docs/quant-build.md):
#   bash benchmarks/quant_build.sh TAG [PARTS] [ARMS]
# TAG names the GPU (h100, h200). PARTS is a comma list of
#   build  compile exllamav2's extension (its own JIT) and gptqmodel's bf16 Marlin ops (its
#          JIT's sources and flags) into $STEPSCOPE_QUANT_EXT, both at once, each time-boxed;
#          an extension already there (carried from an earlier call) is not rebuilt
#   check  each kernel on Qwen2.5-7B's layer shapes against x @ dequantised weight, one CUDA
#          graph capture and replay, the kernel names (benchmarks/quant_build.py check)
#   arms   stepscope quant on ARMS (default gptq-exllamav2,awq-marlin,bf16), Qwen2.5-7B ctx 2048,
#          with each arm's traced steps kept; SESSIONS=N runs N fresh sessions one after the
#          other (quant-TAG, quant-TAG-s2, ...)
# (default build,check,arms). Everything lands under $OUT/w and comes back as
# $OUT/quant-TAG.tar.gz; the built extensions also as $OUT/quant-ext-TAG.tar.gz (split into
# .partN files of 15 MiB when larger: the device returns files of 16 MiB at most), to be put
# in .whl/quant/ for later calls. The logs' tails print last.
set -u -o pipefail
TAG=${1:-h100}
PARTS=${2:-build,check,arms}
ARMS=${3:-gptq-exllamav2,awq-marlin,bf16}
T0=$(date +%s)
BUDGET=${BUDGET_S:-560}          # seconds for the whole script (a device command may run 600)
W=$OUT/w
mkdir -p "$W"
export STEPSCOPE_QUANT_EXT=${STEPSCOPE_QUANT_EXT:-/tmp/stepscope-quant}
Q=$STEPSCOPE_QUANT_EXT
mkdir -p "$Q"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16}
has() { case ",$PARTS," in *",$1,"*) return 0;; esac; return 1; }
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

# nvcc is in the CUDA toolkit's bin/, not on PATH, on these machines
for d in "${CUDA_HOME:-}" /usr/local/cuda /usr/local/cuda-13.0 /usr/local/cuda-13 /opt/cuda; do
  if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then export CUDA_HOME=$d PATH=$d/bin:$PATH; break; fi
done

# Wheels: cupti-python (DRAM counters) from .whl/, exllamav2 and ninja from .whl/quant/
shopt -s nullglob
WHEELS=(.whl/*.whl .whl/quant/*.whl)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  "${WHEELS[@]}" > "$W/pip-$TAG.log" 2>&1; say "pip install rc $? (${#WHEELS[@]} wheels)"
export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
# gptqmodel's sdist: its packers and Marlin sources, unpacked, never installed
for f in .whl/quant/gptqmodel-*.tar.gz; do tar -xzf "$f" -C "$Q"; done
# extensions built by an earlier call
for f in .whl/quant/quant-ext-*.tar.gz; do tar -xzf "$f" -C "$Q"; done
PARTFILES=(.whl/quant/quant-ext-*.tar.gz.part*)
if [ ${#PARTFILES[@]} -gt 0 ]; then cat "${PARTFILES[@]}" | tar -xz -C "$Q"; fi
ls -la "$Q" > "$W/ext-before-$TAG.log"

{ date -u; nvidia-smi -L; command -v nvcc; nvcc --version; gcc --version | head -1; ninja --version;
  nproc; free -g | head -2; python3 -c "import torch, sys; print(sys.version); print(torch.__version__, torch.version.cuda)";
  python3 -m pip list 2>/dev/null | grep -i -E "^(torch|transformers|setuptools|ninja|exllamav2|jinja2|cupti) "
} > "$W/env-$TAG.log" 2>&1

if has build; then
  T=$(( $(left) < 480 ? $(left) : 480 ))
  say "building both extensions (timeout $T s each, MAX_JOBS $MAX_JOBS, arch $TORCH_CUDA_ARCH_LIST)"
  timeout "$T" python3 benchmarks/quant_build.py exllamav2 > "$W/build-exllamav2-$TAG.log" 2>&1 &
  P1=$!
  timeout "$T" python3 benchmarks/quant_build.py marlin > "$W/build-marlin-$TAG.log" 2>&1 &
  P2=$!
  wait $P1; say "build exllamav2 rc $?"
  wait $P2; say "build marlin rc $?"
  SO=()
  for f in "$Q"/*.so "$Q"/BUILD-INFO-*.json; do SO+=("$(basename "$f")"); done
  if [ ${#SO[@]} -gt 0 ]; then
    tar -czf "$OUT/quant-ext-$TAG.tar.gz" -C "$Q" "${SO[@]}"
    if [ "$(stat -c %s "$OUT/quant-ext-$TAG.tar.gz")" -gt $(( 15 * 1024 * 1024 )) ]; then
      split -b 15m -d -a 1 "$OUT/quant-ext-$TAG.tar.gz" "$OUT/quant-ext-$TAG.tar.gz.part" && rm "$OUT/quant-ext-$TAG.tar.gz"
    fi
  fi
  ls -la "$Q" > "$W/ext-after-$TAG.log"
fi

if has check; then
  timeout 150 python3 benchmarks/quant_build.py check > "$W/check-$TAG.log" 2>&1; say "check rc $?"
fi

if has arms; then
  # SESSIONS (default 1) fresh sessions of all arms, one after the other, each into its own
  # folder (quant-TAG, quant-TAG-s2, ...); traces are kept from the first only
  for i in $(seq 1 "${SESSIONS:-1}"); do
    D=quant-$TAG; TR=(--trace-dir "$W/traces-$TAG")
    [ "$i" -gt 1 ] && D=quant-$TAG-s$i && TR=()
    T=$(( $(left) - 25 ))
    [ "$T" -lt 60 ] && { say "no time left for session $i"; break; }
    say "session $i: stepscope quant --arms $ARMS (timeout $T s)"
    timeout "$T" python3 -m stepscope quant --model qwen2.5-7b --ctx 2048 --arms "$ARMS" -o "$W/$D" \
      "${TR[@]}" > "$W/$D.log" 2>&1; say "session $i arms rc $?"
  done
fi

tar -czf "$OUT/quant-$TAG.tar.gz" -C "$W" .
for f in "$W"/*.log; do echo "== $f"; grep -v "warning: DRAM" "$f" | tail -12 | cut -c1-600; done
ls -la "$OUT"
