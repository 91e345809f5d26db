"""`stepscope report` on the console: the attribution, floors, DRAM, clocks, kernel
classes, top kernels, gap causes and the HTA comparison of one trace."""
from __future__ import annotations

import textwrap

import numpy as np

from ..compare_modes import LAUNCH_BOUND_SHARE
from ..dram import valid
from ..facade import TraceAnalysis
from ..gaps import GapCause
from ..host import NO_SPAN
from ..kernel_classes import graph_level, short_name, shorten

ATTRIBUTION_ROWS = (("memory floor (bytes read / peak)", "floor_ms"),
                    ("kernel inefficiency (busy - floor)", "kernel_inefficiency_ms"),
                    ("launch overhead (GPU waited for CPU)", "launch_overhead_ms"),
                    ("other idle (queued, sync, copy, other)", "other_idle_ms"))
BUSY_ROW = ("busy (kernels, copies, sets)", "busy_ms")
#: The widest line a report prints (an 80-column terminal wraps at most once; tables fit).
WIDTH = 100
GAP_LABELS = ["<1us", "1-2us", "2-5us", "5-10us", "10-20us", "20-50us", "50-100us", "0.1-1ms", ">1ms"]


def floor_known(s: dict) -> bool:
    """Whether the summary ``s`` has a floor (a model's bytes, or DRAM counters, and a peak)."""
    return not str(s["floor_source"]).startswith("none")


def has_dram(a: TraceAnalysis) -> bool:
    """Does the trace carry DRAM counters? Without them DRAM bytes and GB/s are unknown
    ("n/a"), not zero."""
    return bool(valid(a.trace["pm"]).any())


def fit(lines: list[str], width: int = WIDTH) -> list[str]:
    """Lines of at most ``width`` characters: a longer line is wrapped at spaces, its
    continuation lines indented two more than it (numbers and names are never cut)."""
    out = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False)
    return out


def _na(text: str, known: bool) -> str:
    return text if known else "n/a".rjust(len(text))


def _count(x: float, width: int) -> str:
    """A count per step: a whole number when it is one (as every step had the same)."""
    return f"{x:{width}.0f}" if float(x).is_integer() else f"{x:{width}.1f}"


SHORT = {"floor_ms": "the memory floor", "kernel_inefficiency_ms": "kernel inefficiency",
         "launch_overhead_ms": "launch overhead", "other_idle_ms": "other idle", "busy_ms": "GPU busy time"}


def headline(m: dict) -> tuple[dict, str]:
    """The attribution a verdict reads: the untraced-equivalent one when the trace timed
    untraced steps (of a graph arm with a graph-level block, that block's), else the
    traced one; and what it is ("untraced-equivalent" or "traced")."""
    gl = m.get("graph_level")
    eq = (gl or {}).get("untraced_equivalent") or m.get("untraced_equivalent")
    if eq:
        return {**eq, "step_ms": eq["untraced_step_ms"], "busy_ms": eq["floor_ms"] + eq["kernel_inefficiency_ms"]}, \
            "untraced-equivalent"
    return m, "traced"


def answer(mode: str, m: dict) -> str:
    """One line per mode: launch-bound or not (the launch-overhead share that decides it,
    against ``compare_modes.LAUNCH_BOUND_SHARE``, of the untraced-equivalent attribution
    when there is one: ``headline``), and the step's largest part."""
    h, what = headline(m)
    step = h["step_ms"] or 1.0
    launch = h["launch_overhead_ms"] / step
    keys = [k for _, k in (ATTRIBUTION_ROWS if m["floor_known"] else (BUSY_ROW,) + ATTRIBUTION_ROWS[2:])]
    top = max(keys, key=lambda k: h[k])
    m = {**m, **{k: h[k] for k in keys + ["floor_ms"]}, "step_ms": step}
    head = "launch-bound" if launch >= LAUNCH_BOUND_SHARE else "not launch-bound"
    step_word = "untraced step" if what == "untraced-equivalent" else "step"
    out = f"verdict, {mode}: {head}: the GPU waits for the CPU {100 * launch:.1f}% of the {step_word}"
    tail = ""
    if top != "launch_overhead_ms":
        tail = f"the largest part is {SHORT[top]} ({100 * m[top] / step:.1f}%)"
    elif m["floor_known"]:
        tail = f"the memory floor is {100 * m['floor_ms'] / step:.1f}%"
    if not tail:
        return out
    return f"{out}; {tail}" if len(out) + len(tail) + 2 <= 100 else f"{out};\n  {tail}"


def _median_ms(ns: list) -> float:
    return float(np.median(ns)) / 1e6


class ConsoleRenderer:
    def render(self, a: TraceAnalysis) -> str:
        s = a.get_summary()
        out = self.header(a, s)
        out += [answer(mode, {**m, "floor_known": floor_known(s)}) for mode, m in s["modes"].items()]
        for mode, m in s["modes"].items():
            out += [""] + self.mode(mode, {**m, "floor_known": floor_known(s)})
            out += self.perturbation(s["perturbation"])
        out += self.record_cost(s.get("record_cost"))
        for section in (self.host, self.kernel_classes, self.unmodelled_bytes, self.dram_kernels, self.top_kernels,
                        self.gap_histogram, self.hta):
            lines = section(a)
            if lines:
                out += [""] + lines
        return "\n".join(fit("\n".join(out).split("\n")))

    def header(self, a: TraceAnalysis, s: dict) -> list[str]:
        w = []
        wl = a.trace.meta.get("workload", {})
        ctx = f"  ctx {s['ctx']}" if s["ctx"] else ""
        what = s["model"] or (wl.get("name") if wl.get("kind") not in (None, "decode") else None)
        if not what:
            what = ("a torch.profiler trace" if a.trace.meta.get("source", "").startswith("torch.profiler")
                    else f"a {wl['kind']} trace" if wl.get("kind") else "a trace")
        w.append(f"stepscope report: {what}{ctx}  on {s['gpu'] or 'an unknown GPU'}")
        pk = s["peak_bytes_per_s"]
        if not floor_known(s):
            w.append(f"peak bandwidth {pk / 1e12:.3f} TB/s ({s['peak_source']}); " if pk else
                     f"peak bandwidth unknown ({s['peak_source']}); ")
            w[-1] += ("floor unknown: pass --model and --ctx" if a.trace.meta.get("source", "").startswith("torch.profiler")
                      else "floor unknown: the trace records no model bytes and no DRAM counters")
        else:
            w.append(f"peak bandwidth {pk / 1e12:.3f} TB/s ({s['peak_source']}); floor from {s['floor_source']}"
                     if pk else f"peak bandwidth unknown ({s['peak_source']})")
        cap = s["capture"]
        if cap.get("dropped_records"):
            w.append(f"WARNING: CUPTI dropped {cap['dropped_records']} records: figures are incomplete")
        kr = cap.get("kernel_records", "concurrent")
        if kr == "graph" and not a.trace.n("kernels"):
            w.append("WARNING: graph-level kernel records were asked for but the trace holds none: CUPTI gives "
                     "them only for graphs instantiated while they were enabled (capture the graph inside "
                     "profiler.capture.activity.graph_trace_instantiation); every figure below is wrong")
        elif kr == "graph":
            w.append("note: graph-level kernel records: one record per CUDA-graph replay, none per node, so "
                     "'kernels/step' counts replays, busy time includes each replay's internal gaps (in kernel "
                     "inefficiency), and there is no per-kernel breakdown")
        elif kr == "none":
            w.append("note: a timing-only run of record --repeat: memory copies only, no kernels, so the attribution "
                     "below is empty; the traced run's report gives the tracer's cost against it")
        elif kr != "concurrent":
            w.append(f"WARNING: kernel records '{kr}' are a cost probe: kernels of CUDA-graph replays were not "
                     "recorded, so this attribution is not meaningful")
        if cap.get("dram_status") not in (None, "ok"):
            w.append(f"note: DRAM counters: {cap['dram_status']}")
        w += step_detection_lines(a.trace.meta.get("step_detection"))
        st = a.get_steps()
        short = st["dram_coverage"] < 0.99
        if a.trace.n("pm") and short.any():
            cov = ", ".join(f"step {i} {100 * c:.0f}%" for i, c in zip(st["step"][short], st["dram_coverage"][short]))
            w.append(f"WARNING: the DRAM samples do not cover every step ({cov}): DRAM figures of those "
                     "steps are incomplete")
        return w

    def mode(self, mode: str, m: dict) -> list[str]:
        """``m``: a mode summary with ``floor_known`` added by ``render``."""
        w = []
        w.append(f"mode {mode}: {m['steps']} traced steps; traced median {m['step_ms']:.3f} ms "
                 f"(min {m['step_ms_min']:.3f}, max {m['step_ms_max']:.3f})")
        if m["untraced_step_ms"]:
            w.append(f"  untraced median {m['untraced_step_ms']:.3f} ms over {m['untraced_steps']} steps")
        w.append(f"  kernels/step {m['kernels']:.0f}   launch calls/step {m['launch_calls']:.0f}   "
                 f"busy {m['busy_ms']:.3f} ms   idle {m['idle_ms']:.3f} ms")
        w.append("  attribution of the step (median over steps)       ms      share")
        rows = ATTRIBUTION_ROWS if m["floor_known"] else (BUSY_ROW,) + ATTRIBUTION_ROWS[2:]
        for label, key in rows:
            w.append(f"    {label:<42} {m[key]:9.3f}  {100 * m[key] / m['step_ms']:6.1f}%")
        w.append(f"  closure: parts sum to the step within {m['closure_max_abs_ns']} ns (max over steps)")
        w += self.graph_level(m)
        w += self.untraced_equivalent(m)
        if m["busy_below_floor_steps"]:
            w.append(f"  FLAG: busy below the floor in {m['busy_below_floor_steps']} steps "
                     "(wrong peak, or bytes served from cache)")
        if m["model_gb"]:
            w.append(f"  % of floor: {m['pct_floor']:.1f}% (bytes read: {m['model_gb']:.3f} GB)   "
                     f"{m['pct_floor_all']:.1f}% (all parameters, as the paper: {m['model_all_gb']:.3f} GB)")
        if m["achievable_floor_ms"]:
            w.append(f"  achievable floor (bytes read / {m['achievable_bytes_per_s'] / 1e9:.0f} GB/s calibrated): "
                     f"{m['achievable_floor_ms']:.3f} ms = {m['pct_achievable_floor']:.1f}% of the step")
        if m["dram_gb"]:
            w.append(f"  DRAM measured {m['dram_gb']:.3f} GB/step, {m['dram_gb_per_s']:.0f} GB/s over the step, "
                     f"{m['dram_gb'] / max(m['busy_ms'] / 1e3, 1e-12):.0f} GB/s over busy time")
        thr = ", ".join(m["throttle_reasons"]) or "none"
        if m["sm_clock_mhz"] >= 0:
            w.append(f"  clocks: SM {m['sm_clock_mhz']:.0f} MHz, memory {m['mem_clock_mhz']:.0f} MHz; throttle: {thr}")
        else:
            w.append("  clocks: n/a (no NVML readings in this trace)")
        return w

    def graph_level(self, m: dict) -> list[str]:
        """A graph arm's graph-level block: its traced step and the parts it measures."""
        g = m.get("graph_level")
        if not g:
            return []
        ci = g["perturbation_ci95_pct"]
        ci = f" (95% CI {ci[0]:+.1f}% to {ci[1]:+.1f}%)" if ci else ""
        w = [f"  graph-level block (one record per replay, same rounds): {g['steps']} traced steps, "
             f"median {g['step_ms']:.3f} ms,", f"    {g['perturbation_pct']:+.1f}% vs untraced{ci}; per-kernel "
             "records lengthen a replay,", "    so the launch and idle figures are read here:"]
        for label, key in (BUSY_ROW,) + ATTRIBUTION_ROWS[2:]:
            w.append(f"    {label:<42} {g[key]:9.3f}  {100 * g[key] / g['step_ms']:6.1f}%")
        return w

    def untraced_equivalent(self, m: dict) -> list[str]:
        """The attribution scaled to the untraced median (``analysis/untraced.py``)."""
        g = m.get("graph_level")
        eq = (g or {}).get("untraced_equivalent") or m.get("untraced_equivalent")
        if not eq:
            return []
        src = "the graph-level block's" if g and g.get("untraced_equivalent") else "the traced"
        w = [f"  untraced-equivalent attribution (step = untraced median {eq['untraced_step_ms']:.3f} ms)",
             f"    from {src} medians: busy as traced, idle scaled to fill the untraced step"]
        rows = ATTRIBUTION_ROWS if m["floor_known"] else ATTRIBUTION_ROWS[2:]
        if not m["floor_known"]:
            busy = eq["floor_ms"] + eq["kernel_inefficiency_ms"]
            w.append(f"    {BUSY_ROW[0]:<42} {busy:9.3f}  {100 * busy / eq['untraced_step_ms']:6.1f}%")
        for label, key in rows:
            w.append(f"    {label:<42} {eq[key]:9.3f}  {100 * eq[key] / eq['untraced_step_ms']:6.1f}%")
        lo, hi = eq["launch_overhead_ci95_ms"]
        w.append(f"    launch overhead 95% CI {lo:.3f}-{hi:.3f} ms ({eq['interval']})")
        if eq["method"].startswith("traced busy median >"):
            w.append("    NOTE: the traced busy time exceeds the untraced step: the tracer lengthened the kernels")
        return w

    def perturbation(self, p: dict | None) -> list[str]:
        if not p:
            return []
        ci = p.get("ci95_pct")
        ci = f" (95% CI {ci[0]:+.1f}% to {ci[1]:+.1f}%)" if ci else ""
        line = (f"  tracer perturbation: traced step {p['pct']:+.1f}% vs untraced{ci}, measured in this "
                f"process over {p['rounds']} interleaved rounds; target <= {p['target_pct']:.0f}%")
        out = [line]
        if p["over_target"]:
            out.append("  WARNING: the tracer's perturbation exceeds its target: compare traced figures with care")
        return out

    def record_cost(self, c: dict | None) -> list[str]:
        """What the tracer cost the recorded program (`record --repeat`, analysis/record_cost)."""
        if not c:
            return []
        n = c["repeat_runs"]
        out = ["", f"tracer cost (record --repeat: {n} untraced run{'s' if n != 1 else ''} of the program, "
                   "timing copies only):"]
        p = c.get("per_step")
        if p:
            lo, hi = p["ci95_pct"]
            out.append(f"  per decode step {p['pct']:+.1f}% (95% CI {lo:+.1f}% to {hi:+.1f}%, {p['interval']}); "
                       f"target <= {p['target_pct']:.0f}%")
            out.append(f"    {p['traced_median_ns'] / 1e6:.3f} ms traced vs {p['untraced_median_ns'] / 1e6:.3f} ms "
                       "untraced (medians, token read-back to read-back)")
            runs = ", ".join(f"{x / 1e6:.3f}" for x in p.get("untraced_run_medians_ns", []))
            out.append(f"    untraced median per run: {runs} ms ({c['runs_compared']} of {n} runs compared)")
            if p["over_target"]:
                out.append("  WARNING: the tracer's cost exceeds its target: compare traced figures with care")
        else:
            out.append(f"  per decode step: not measured: {c.get('why_not_per_step', 'no timing run')}")
        span = c.get("decode_span")
        if span:
            out.append(f"  decode steps in all {span['pct']:+.1f}%: {span['traced_ns'] / 1e6:.1f} ms traced vs "
                       f"{_median_ms(span['untraced_ns']):.1f} ms")
        e2e = c.get("end_to_end")
        if e2e:
            out.append(f"  the whole program {e2e['pct']:+.1f}%: {e2e['traced_ns'] / 1e9:.2f} s traced vs "
                       f"{_median_ms(e2e['untraced_ns']) / 1e3:.2f} s")
        return out

    def host(self, a: TraceAnalysis) -> list[str]:
        h = a.get_host()
        ps = h["per_step"]
        idle = a.get_steps()["launch_overhead_ns"]
        if not idle.sum():
            return []
        med = lambda k: float(np.median(ps[k]))  # noqa: E731
        w = [f"host side of the launch-bound idle (thread {h['thread_id']}; API calls: {h['apis']}; "
             f"host spans: {h['host_spans']})",
             f"  CPU time per {'graph replay' if graph_level(a.trace) else 'kernel'} launched (median): "
             f"{med('launch_api_ns_per_launch') / 1e3:.2f} us in the launch API, "
             f"{med('framework_ns_per_launch') / 1e3:.2f} us outside any API call",
             "  launch-bound idle per step (median)          ms     share"]
        total = max(float(np.median(idle)), 1.0)
        for label, key in (("(a) inside the next kernel's launch call", "launch_api_ns"),
                           ("(b) inside other API calls", "other_api_ns"),
                           ("(c) framework, outside any API call", "framework_ns")):
            w.append(f"    {label:<42} {med(key) / 1e6:8.3f}  {100 * med(key) / total:6.1f}%")
        closure = int(np.abs(ps["launch_api_ns"] + ps["other_api_ns"] + ps["framework_ns"] - idle).max())
        w.append(f"  closure: (a) + (b) + (c) = launch overhead within {closure} ns (max over steps)")
        unnamed = "(unnamed: no host spans recorded)" if not h["spans"] else "(outside any host span)"
        hot = h["hotspots"]
        w.append("  host hotspots in launch-bound idle (per step)                         ms   share of idle")
        for what, name, ns, share in zip(hot["what"], hot["name"], hot["ns_per_step"], hot["share_of_launch_idle"]):
            name = unnamed if name == NO_SPAN else name
            w.append(f"    {what:<10} {shorten(name, 56):<58} {ns / 1e6:8.3f}  {100 * share:5.1f}%")
        bt = h["by_type"]
        if any(n > 1 for n in bt["spans"]):
            w.append("  the same, each module type over all layers (per step)                  ms   share of idle")
            for what, name, n, ns, share in zip(bt["what"], bt["name"], bt["spans"], bt["ns_per_step"],
                                                bt["share_of_launch_idle"]):
                name = unnamed if name == NO_SPAN else name
                label = f"{shorten(name, 44)} ({n} spans)" if n > 1 else shorten(name, 56)
                w.append(f"    {what:<10} {label:<58} {ns / 1e6:8.3f}  {100 * share:5.1f}%")
        lg = h["longest_gaps"]
        if lg["step"]:
            w.append("  longest launch-bound gaps: step, ms, host span running [other API calls inside]")
            w.append("      -> the kernel that ended it (its launch call)")
            for i in range(len(lg["step"])):
                span = unnamed if lg["span"][i] == NO_SPAN else lg["span"][i]
                w.append(f"    step {lg['step'][i]}  {lg['gap_ns'][i] / 1e6:8.3f} ms  {span}  "
                         f"[{', '.join(lg['apis_inside'][i]) or 'none'}]")
                w.append(f"      -> {shorten(lg['next_kernel'][i], 64)} ({lg['launch_api'][i]})")
        w += [f"  {line}" for line in h["verdict"].split("\n")]
        return w + self.stacks(a)

    def stacks(self, a: TraceAnalysis) -> list[str]:
        st = a.get_stacks()
        if not st["samples"]:
            return []
        w = [f"  Python lines in the launch-bound idle: {st['samples_in_launch_idle']} of {st['samples']} stack samples "
             f"(one every {(st['median_interval_ns'] or 0) / 1e3:.0f} us, asked every {(st['period_ns'] or 0) / 1e3:.0f} us)"]
        if not st["samples_in_launch_idle"]:
            return w
        for title, key in (("running (innermost frame)", "innermost"), ("on the stack (inclusive)", "inclusive")):
            t = st[key]
            w.append(f"    {title:<70}  ms/step   share")
            for f, ms, sh, se in zip(t["frame"], t["ms_per_step"], t["share"], t["share_se"]):
                w.append(f"      {shorten(f, 68):<68} {ms:8.3f}  {100 * sh:5.1f}% +-{100 * se:.1f}")
        return w

    def kernel_classes(self, a: TraceAnalysis) -> list[str]:
        kc = a.get_kernel_classes()
        known = has_dram(a)
        w = ["kernel classes (per step)      count    time ms   share    DRAM GB    GB/s"]
        if known:
            fit = a.get_dram_kernels().get("source", "none") != "none"
            w.append("  (DRAM here: each sample spread evenly over its window" +
                     ("; 'DRAM per kernel' below deconvolves it)" if fit else ")"))
        for i, c in enumerate(kc["class"]):
            w.append(f"  {c:<26} {_count(kc['count_per_step'][i], 8)} {kc['time_ns_per_step'][i] / 1e6:10.3f} "
                     f"{100 * kc['share_of_busy'][i]:6.1f}% "
                     + _na(f"{kc['dram_bytes_per_step'][i] / 1e9:10.3f}", known) + " "
                     + _na(f"{kc['bytes_per_s'][i] / 1e9:7.0f}", known))
        return w

    def unmodelled_bytes(self, a: TraceAnalysis) -> list[str]:
        ub = a.get_unmodelled_bytes()
        if not ub["class"] or not has_dram(a):   # no counters: nothing measured to compare
            return []
        w = ["DRAM bytes per step (read + write, per kernel when deconvolved) vs the bytes model (GEMM: weights; "
             "attention: KV read; copy: KV write; graph: a whole replay, all of them)"]
        for i, c in enumerate(ub["class"]):
            w.append(f"  {c:<26} measured {ub['measured_bytes_per_step'][i] / 1e9:8.3f} GB   model "
                     f"{ub['modelled_bytes_per_step'][i] / 1e9:8.3f} GB   beyond the model "
                     f"{ub['excess_bytes_per_step'][i] / 1e9:+8.3f} GB")
        return w

    def dram_kernels(self, a: TraceAnalysis) -> list[str]:
        d = a.get_dram_kernels()
        if d.get("source", "none") == "none":     # said only when the trace had what the fit needs
            return [f"DRAM per kernel: not estimated ({d['reason']})"] if d.get("work_limit") else []
        w = [f"DRAM per kernel ({d['source']}; dram_fit.py): {d['groups']} groups of {d['n_identities']} kernels"]
        if d["source"] == "pm deconvolution":
            w.append(f"  clock offset {d['read_offset_ns'] / 1e3:+.2f} us (PM - kernel), write lag "
                     f"{(d['write_offset_ns'] - d['read_offset_ns']) / 1e3:+.2f} us more; "
                     f"groups span >= {d['min_span_ns'] / 1e3:.1f} us; r2 {d['read_r2']:.3f} (reads) "
                     f"{d['write_r2']:.3f} (writes); {d['n_boot']}-resample step bootstrap, 95% intervals")
        iv = "95% interval"
        cp = d.get("counter_pass") or {}
        if d["source"].startswith("counter pass"):
            iv = "over steps "
            w.append(f"  {cp.get('source', 'counter pass')}, cache control {cp.get('cache_control', '?')}, on "
                     f"{cp.get('counter_passes', '?')} untimed step(s) ({cp.get('counter_step', '?')}) after the traced "
                     "ones; interval: min..max over steps (one pass each); writes count when they reach DRAM")
        bw = d["achievable_bytes_per_s"]
        head = f"  per step, by class     read GB [{iv}]     write GB   time ms    GB/s"
        w.append(f"{head}  of {bw / 1e9:.0f}  ineff. ms" if bw else head)
        c = d["classes"]
        for i, name in enumerate(c["class"]):
            frac = f"{100 * c['fraction_of_achievable'][i]:6.1f}%" if bw else ""
            ineff = f"{c['inefficiency_ns_per_step'][i] / 1e6:12.3f}" if bw else ""
            w.append(f"  {c['mode'][i][:8]:<8} {name:<12} {c['read_bytes_per_step'][i] / 1e9:8.3f} "
                     f"[{c['read_lo_bytes'][i] / 1e9:7.3f},{c['read_hi_bytes'][i] / 1e9:7.3f}] "
                     f"{c['write_bytes_per_step'][i] / 1e9:8.3f} {c['time_ns_per_step'][i] / 1e6:9.3f} "
                     f"{c['bytes_per_s'][i] / 1e9:7.0f} {frac} {ineff}")
        w.append(f"  ({d['achievable_source']}; inefficiency = time - (read + write) / that bandwidth, per group, >= 0)")
        t = d["top_kernels"]
        if len(t["name"]):
            w.append(f"  kernels losing the most time (per step)  groups  time ms  read MB [{iv}]"
                     "   GB/s*  lost ms")
            for i in range(min(8, len(t["name"]))):
                w.append(f"    {shorten(t['name'][i], 36):<36} {t['groups'][i]:6d} {t['time_ns_per_step'][i] / 1e6:8.3f} "
                         f"{t['read_bytes_per_step'][i] / 1e6:8.1f} [{t['read_lo_bytes'][i] / 1e6:7.1f},"
                         f"{t['read_hi_bytes'][i] / 1e6:7.1f}] {t['bytes_per_s'][i] / 1e9:7.0f} "
                         f"{t['inefficiency_ns_per_step'][i] / 1e6:8.3f}")
            w.append(f"    * GB/s here: the kernel's own (read + write) bytes ({d['source']}) over its time; the top "
                     "kernels table's GB/s spreads each PM sample over its window")
        for ck in d["checks"]:
            w.append(f"  {'check ok ' if ck['ok'] else 'VIOLATION'}  {ck['check']}: {ck['detail']}")
        return w

    def top_kernels(self, a: TraceAnalysis) -> list[str]:
        tk = a.get_top_kernels(8)
        known = has_dram(a)
        w = ["top kernels by time (per step)                                      count  time ms  share  GB/s*"]
        for i, n in enumerate(tk["name"]):
            w.append(f"  {shorten(n, 64):<66} {_count(tk['count_per_step'][i], 6)} {tk['time_ns_per_step'][i] / 1e6:8.3f} "
                     f"{100 * tk['share_of_busy'][i]:5.1f}% " + _na(f"{tk['bytes_per_s'][i] / 1e9:6.0f}", known))
        if known:
            w.append("  * GB/s here: the PM-sampled DRAM bytes (read + write) in the kernel's runs, each sample spread "
                     "evenly over its window, over its time")
        return w

    def gap_histogram(self, a: TraceAnalysis) -> list[str]:
        h = a.get_gap_histogram()
        causes = [c.name.lower() for c in GapCause if h[f"{c.name.lower()}_count"].sum()]
        w = ["idle gaps by cause and length (count, total ms over all steps)",
             "  length  " + "".join(f"{c:>16}" for c in causes)]
        for i, label in enumerate(GAP_LABELS):
            w.append(f"  {label:<8}" + "".join(f"{h[c + '_count'][i]:>7d} {h[c + '_ns'][i] / 1e6:8.3f}" for c in causes))
        return w

    def hta(self, a: TraceAnalysis) -> list[str]:
        if graph_level(a.trace):
            return ["HTA's host-wait rule: not applicable (graph-level records: no gaps between a replay's nodes)"]
        hc = a.get_hta_comparison()
        return [f"HTA's host-wait rule on the same {hc['internal_gaps']} internal gaps: {hc['host_wait_hta']} "
                f"host-wait ({hc['host_wait_ns_hta'] / 1e6:.3f} ms) vs {hc['launch_ours']} launch-bound here "
                f"({hc['launch_ns_ours'] / 1e6:.3f} ms); {hc['gaps_under_2us']} gaps are under 2 us"]


def step_detection_lines(det: dict | None) -> list[str]:
    """How the steps of a trace without step windows were found (analysis/trace/detect.py)."""
    if not det:
        return []
    if det["rule"].startswith("one forward"):
        w = [f"steps: {det['rule']}: from its first launch call to its last GPU record ({det['message']})"]
    elif det["rule"] == "ProfilerStep markers" or det["rule"].startswith(("marker", "module")):
        w = [f"steps: {det['decode_steps']} found by {det['rule']}"]
    else:
        lo, med, hi = det["launches_per_step"] or (0, 0, 0)
        w = [f"steps: {det['decode_steps']} decode steps found by {det['rule']} (anchor: {short_name(det['anchor'], 40)}): "
             f"{det['steady_steps']} steady, {det['warmup_steps']} warm-up; launches/step {lo}/{med}/{hi} (min/median/max)"]
        left = [f"{x['label']} ({x['launches']} launches, {x['busy_ns'] / 1e6:.3f} ms busy)" for x in det["left_out"]
                if x["label"] != "warm-up"]
        if left:
            w.append("  left out: " + ", ".join(left[:4]) + (f" and {len(left) - 4} more" if len(left) > 4 else ""))
    if det.get("graph_launch_calls"):
        w.append(f"  CUDA-graph launch calls: {det['graph_launch_calls']} in steps, median "
                 f"{det['graph_launch_call_ns_median'] / 1e6:.3f} ms each; gaps inside a replay are graph-internal, "
                 "never launch overhead")
    return w
