"""`stepscope report` on the console: the attribution, floors, DRAM, clocks, kernel
classes, top kernels, gap causes and the HTA comparison of one trace."""
from __future__ import annotations

from ..dram import valid
from ..facade import TraceAnalysis
from ..gaps import GapCause

ATTRIBUTION_ROWS = (("memory floor (bytes read / peak)", "floor_ms"),
                    ("kernel inefficiency (busy - floor)", "kernel_inefficiency_ms"),
                    ("launch overhead (GPU waited for CPU)", "launch_overhead_ms"),
                    ("other idle (queued, sync, copy, other)", "other_idle_ms"))
GAP_LABELS = ["<1us", "1-2us", "2-5us", "5-10us", "10-20us", "20-50us", "50-100us", "0.1-1ms", ">1ms"]


def has_dram(a: TraceAnalysis) -> bool:
    """Does the trace carry DRAM counters? Without them DRAM bytes and GB/s are unknown
    ("n/a"), not zero."""
    return bool(valid(a.trace["pm"]).any())


def _na(text: str, known: bool) -> str:
    return text if known else "n/a".rjust(len(text))


class ConsoleRenderer:
    def render(self, a: TraceAnalysis) -> str:
        s = a.get_summary()
        out = self.header(a, s)
        for mode, m in s["modes"].items():
            out += [""] + self.mode(mode, m)
        for section in (self.kernel_classes, self.unmodelled_bytes, self.top_kernels,
                        self.gap_histogram, self.hta):
            lines = section(a)
            if lines:
                out += [""] + lines
        return "\n".join(out)

    def header(self, a: TraceAnalysis, s: dict) -> list[str]:
        w = []
        wl = a.trace.meta.get("workload", {})
        w.append(f"stepscope report: {s['model'] or wl.get('kind', 'trace')}  ctx {s['ctx']}  on {s['gpu']}")
        pk = s["peak_bytes_per_s"]
        w.append(f"peak bandwidth {pk / 1e12:.3f} TB/s ({s['peak_source']}); floor from {s['floor_source']}"
                 if pk else f"peak bandwidth unknown ({s['peak_source']})")
        cap = s["capture"]
        if cap.get("dropped_records"):
            w.append(f"WARNING: CUPTI dropped {cap['dropped_records']} records: figures are incomplete")
        if cap.get("dram_status") not in (None, "ok"):
            w.append(f"note: DRAM counters: {cap['dram_status']}")
        st = a.get_steps()
        short = st["dram_coverage"] < 0.99
        if a.trace.n("pm") and short.any():
            cov = ", ".join(f"step {i} {100 * c:.0f}%" for i, c in zip(st["step"][short], st["dram_coverage"][short]))
            w.append(f"WARNING: the DRAM samples do not cover every step ({cov}): DRAM figures of those "
                     "steps are incomplete")
        return w

    def mode(self, mode: str, m: dict) -> list[str]:
        w = []
        un = (f"untraced median {m['untraced_step_ms']:.3f} ms over {m['untraced_steps']} steps; "
              if m["untraced_step_ms"] else "")
        w.append(f"mode {mode}: {m['steps']} traced steps; {un}traced median {m['step_ms']:.3f} ms "
                 f"(min {m['step_ms_min']:.3f}, max {m['step_ms_max']:.3f})")
        w.append(f"  kernels/step {m['kernels']:.0f}   launch calls/step {m['launch_calls']:.0f}   "
                 f"busy {m['busy_ms']:.3f} ms   idle {m['idle_ms']:.3f} ms")
        w.append("  attribution of the step (median over steps)       ms      share")
        for label, key in ATTRIBUTION_ROWS:
            w.append(f"    {label:<42} {m[key]:9.3f}  {100 * m[key] / m['step_ms']:6.1f}%")
        w.append(f"  closure: parts sum to the step within {m['closure_max_abs_ns']} ns (max over steps)")
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

    def kernel_classes(self, a: TraceAnalysis) -> list[str]:
        kc = a.get_kernel_classes()
        known = has_dram(a)
        w = ["kernel classes (per step)      count    time ms   share    DRAM GB    GB/s"]
        for i, c in enumerate(kc["class"]):
            w.append(f"  {c:<26} {kc['count_per_step'][i]:8.1f} {kc['time_ns_per_step'][i] / 1e6:10.3f} "
                     f"{100 * kc['share_of_busy'][i]:6.1f}% "
                     + _na(f"{kc['dram_bytes_per_step'][i] / 1e9:10.3f}", known) + " "
                     + _na(f"{kc['bytes_per_s'][i] / 1e9:7.0f}", known))
        return w

    def unmodelled_bytes(self, a: TraceAnalysis) -> list[str]:
        ub = a.get_unmodelled_bytes()
        if not ub["class"]:
            return []
        w = ["DRAM bytes per step, measured vs the bytes model (GEMM: weights; attention: KV read; copy: KV write)"]
        for i, c in enumerate(ub["class"]):
            w.append(f"  {c:<26} measured {ub['measured_bytes_per_step'][i] / 1e9:8.3f} GB   model "
                     f"{ub['modelled_bytes_per_step'][i] / 1e9:8.3f} GB   beyond the model "
                     f"{ub['excess_bytes_per_step'][i] / 1e9:+8.3f} GB")
        return w

    def top_kernels(self, a: TraceAnalysis) -> list[str]:
        tk = a.get_top_kernels(8)
        known = has_dram(a)
        w = ["top kernels by time (per step)                                          count  time ms  share   GB/s"]
        for i, n in enumerate(tk["name"]):
            w.append(f"  {n[:68]:<70} {tk['count_per_step'][i]:6.0f} {tk['time_ns_per_step'][i] / 1e6:8.3f} "
                     f"{100 * tk['share_of_busy'][i]:5.1f}% " + _na(f"{tk['bytes_per_s'][i] / 1e9:6.0f}", known))
        return w

    def gap_histogram(self, a: TraceAnalysis) -> list[str]:
        h = a.get_gap_histogram()
        w = ["idle gaps by cause and length (count / total ms over all steps)",
             "  " + " " * 8 + "".join(f"{x:>14}" for x in GAP_LABELS)]
        for c in GapCause:
            cnt, ns = h[f"{c.name.lower()}_count"], h[f"{c.name.lower()}_ns"]
            if cnt.sum():
                w.append(f"  {c.name.lower():<8}" + "".join(f"{n:>6d}/{t / 1e6:<7.3f}" for n, t in zip(cnt, ns)))
        return w

    def hta(self, a: TraceAnalysis) -> list[str]:
        hc = a.get_hta_comparison()
        return [f"HTA's host-wait rule on the same {hc['internal_gaps']} internal gaps: {hc['host_wait_hta']} "
                f"host-wait ({hc['host_wait_ns_hta'] / 1e6:.3f} ms) vs {hc['launch_ours']} launch-bound here "
                f"({hc['launch_ns_ours'] / 1e6:.3f} ms); {hc['gaps_under_2us']} gaps are under 2 us"]
