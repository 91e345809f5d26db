"""``TraceAnalysis``: one facade over the pure functions; every ``get_*`` returns a
plain dict (of numpy arrays for tables, of numbers for summaries)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from . import dram
from .attribution import attribute
from .gaps import GapCause, hta_rule
from .intervals import INTERNAL
from .kernels import KernelClass, classify_names, short_name
from .nvml_bits import throttle_names
from .trace import Trace

#: Gap histogram bin edges, ns.
GAP_BINS_NS = np.array([0, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000,
                        np.iinfo(np.int64).max], np.int64)


class TraceAnalysis:
    def __init__(self, trace: Trace | str | Path, calibration: dict | None = None):
        """``calibration``: a `stepscope calibrate` result; its achievable bandwidth
        gives a second, achievable floor beside the datasheet one."""
        self.trace = trace if isinstance(trace, Trace) else Trace.load(trace)
        self.calibration = calibration

    @cached_property
    def _attr(self) -> dict:
        return attribute(self.trace)

    # -- tables ----------------------------------------------------------------
    def get_steps(self) -> dict:
        return self._attr["steps"]

    def get_gaps(self) -> dict:
        return self._attr["gaps"]

    @cached_property
    def _kernel_table(self) -> dict:
        t = self.trace
        k = t["kernels"]
        cls = classify_names(t.strings, k["name"])
        dur = k["end_ns"] - k["start_ns"]
        rd = dram.bytes_between(t["pm"], k["start_ns"], k["end_ns"], "dram_read_bytes")
        wr = dram.bytes_between(t["pm"], k["start_ns"], k["end_ns"], "dram_write_bytes")
        cls_all = np.concatenate([cls, np.full(t.n("memcpy"), KernelClass.MEMCPY),
                                  np.full(t.n("memset"), KernelClass.MEMSET)])
        dur_all = np.concatenate([dur, t["memcpy"]["end_ns"] - t["memcpy"]["start_ns"],
                                  t["memset"]["end_ns"] - t["memset"]["start_ns"]])
        step_all = np.concatenate([k["step"], t["memcpy"]["step"], t["memset"]["step"]])
        bytes_cpy = [dram.bytes_between(t["pm"], t[x]["start_ns"], t[x]["end_ns"], c)
                     for x in ("memcpy", "memset") for c in ("dram_read_bytes", "dram_write_bytes")]
        rd_all = np.concatenate([rd, bytes_cpy[0], bytes_cpy[2]])
        wr_all = np.concatenate([wr, bytes_cpy[1], bytes_cpy[3]])
        return {"class": cls_all, "dur_ns": dur_all, "step": step_all, "read": rd_all,
                "write": wr_all, "kernel_class": cls, "kernel_dur_ns": dur,
                "kernel_read": rd, "kernel_write": wr}

    def get_kernel_classes(self) -> dict:
        """Per class over all steps: count per step, time, share of busy, DRAM, GB/s."""
        kt = self._kernel_table
        m = kt["step"] >= 0
        n_steps = max(len(self.trace["steps"]["index"]), 1)
        busy = max(int(self.get_steps()["busy_ns"].sum()), 1)
        cls, dur = kt["class"][m], kt["dur_ns"][m]
        byt = kt["read"][m] + kt["write"][m]
        out = {"class": [], "count_per_step": [], "time_ns_per_step": [], "share_of_busy": [],
               "dram_bytes_per_step": [], "bytes_per_s": []}
        for c in KernelClass:
            sel = cls == c
            if not sel.any():
                continue
            t_ns = int(dur[sel].sum())
            b = float(byt[sel].sum())
            out["class"].append(c.name.lower())
            out["count_per_step"].append(sel.sum() / n_steps)
            out["time_ns_per_step"].append(t_ns / n_steps)
            out["share_of_busy"].append(t_ns / busy)
            out["dram_bytes_per_step"].append(b / n_steps)
            out["bytes_per_s"].append(b / t_ns * 1e9 if t_ns else 0.0)
        return {k: np.asarray(v) for k, v in out.items()}

    def get_unmodelled_bytes(self) -> dict:
        """Measured DRAM bytes per step by class against the bytes model: GEMM/GEMV
        kernels should move the weights, attention the KV cache, nothing else much.
        Classes sorted by bytes moved beyond the model (decode traces only)."""
        wl = self.trace.meta.get("workload", {})
        s = self.get_steps()
        if wl.get("kind") != "decode" or not s["model_read_bytes"].any():
            return {"class": [], "measured_bytes_per_step": [], "modelled_bytes_per_step": [],
                    "excess_bytes_per_step": []}
        kc = self.get_kernel_classes()
        from .floor import kv_bytes_per_token, step_bytes
        b = step_bytes(wl, int(wl.get("first_traced_position", wl.get("ctx", 0))))
        kv_write = kv_bytes_per_token(wl["config"])
        model = {"gemm": b["weights_read_bytes"], "attention": b["kv_read_bytes"], "copy": kv_write}
        rows = [(c, m, model.get(c, 0)) for c, m in zip(kc["class"], kc["dram_bytes_per_step"])]
        rows.sort(key=lambda r: -(r[1] - r[2]))
        return {"class": [r[0] for r in rows], "measured_bytes_per_step": [r[1] for r in rows],
                "modelled_bytes_per_step": [r[2] for r in rows],
                "excess_bytes_per_step": [r[1] - r[2] for r in rows]}

    def get_top_kernels(self, n: int = 10) -> dict:
        t = self.trace
        kt = self._kernel_table
        k = t["kernels"]
        m = k["step"] >= 0
        names, dur = k["name"][m], kt["kernel_dur_ns"][m]
        byt = (kt["kernel_read"] + kt["kernel_write"])[m]
        uniq, inv = np.unique(names, return_inverse=True)
        tot = np.bincount(inv, weights=dur)
        cnt = np.bincount(inv)
        bb = np.bincount(inv, weights=byt)
        order = np.argsort(-tot)[:n]
        n_steps = max(len(t["steps"]["index"]), 1)
        busy = max(int(self.get_steps()["busy_ns"].sum()), 1)
        return {"name": [short_name(t.strings[uniq[i]]) for i in order],
                "class": [KernelClass(classify_names(t.strings, uniq[i:i + 1])[0]).name.lower() for i in order],
                "count_per_step": cnt[order] / n_steps, "mean_ns": tot[order] / cnt[order],
                "time_ns_per_step": tot[order] / n_steps, "share_of_busy": tot[order] / busy,
                "bytes_per_s": np.where(tot[order] > 0, bb[order] / np.maximum(tot[order], 1) * 1e9, 0)}

    def get_gap_histogram(self) -> dict:
        g = self.get_gaps()
        b = np.searchsorted(GAP_BINS_NS, g["gap_ns"], side="right") - 1
        out = {"bin_lo_ns": GAP_BINS_NS[:-1]}
        for c in GapCause:
            sel = g["cause"] == c
            out[f"{c.name.lower()}_count"] = np.bincount(b[sel], minlength=len(GAP_BINS_NS) - 1)
            out[f"{c.name.lower()}_ns"] = np.bincount(b[sel], weights=g["gap_ns"][sel],
                                                      minlength=len(GAP_BINS_NS) - 1).astype(np.int64)
        return out

    def get_hta_comparison(self) -> dict:
        """Internal gaps: our LAUNCH cause vs HTA's host-wait rule (rounded to us)."""
        a = self._attr
        g = a["gaps"]
        hta = hta_rule(self.trace, a["records"], a["intervals"])
        inner = g["position"] == INTERNAL
        ours = inner & (g["cause"] == GapCause.LAUNCH)
        return {"internal_gaps": int(inner.sum()), "launch_ours": int(ours.sum()),
                "host_wait_hta": int(hta.sum()), "both": int((ours & hta).sum()),
                "ours_only": int((ours & ~hta).sum()), "hta_only": int((hta & ~ours).sum()),
                "launch_ns_ours": int(g["gap_ns"][ours].sum()),
                "host_wait_ns_hta": int(g["gap_ns"][hta].sum()),
                "gaps_under_2us": int((inner & (g["gap_ns"] < 2000)).sum())}

    def get_dram(self) -> dict:
        s = self.get_steps()
        pm = self.trace["pm"]
        cap = self.trace.meta.get("capture", {})
        return {"samples": int(len(pm["start_ns"])), "status": cap.get("dram_status", "unknown"),
                "interval_ns": cap.get("dram_interval_ns"),
                "read_bytes_per_step": s["dram_read_bytes"], "write_bytes_per_step": s["dram_write_bytes"],
                "coverage": s["dram_coverage"], "bytes_per_s": s["dram_bytes_per_s"]}

    def _achievable(self, model_bytes: float, step_ns: float) -> dict:
        cal = self.calibration
        if not cal or not model_bytes:
            return {"achievable_floor_ms": None, "pct_achievable_floor": None}
        gpu = self.trace.meta.get("gpu", {})
        if cal.get("gpu", {}).get("name") != gpu.get("name"):
            raise ValueError(f"the calibration is of a {cal.get('gpu', {}).get('name')}, the trace "
                             f"of a {gpu.get('name')}.")
        f_ms = model_bytes / cal["achievable_bytes_per_s"] * 1e3
        return {"achievable_floor_ms": f_ms, "pct_achievable_floor": 100 * f_ms / (step_ns / 1e6),
                "achievable_bytes_per_s": cal["achievable_bytes_per_s"]}

    def get_summary(self) -> dict:
        """Medians over steps, per mode label; the figures `stepscope report` prints."""
        s = self.get_steps()
        t = self.trace
        wl = t.meta.get("workload", {})
        out = {"gpu": t.meta.get("gpu", {}).get("name"), "model": wl.get("model"),
               "ctx": wl.get("ctx"), "peak_bytes_per_s": self._attr["peak_bytes_per_s"],
               "peak_source": self._attr["peak_source"], "floor_source": self._attr["floor_source"],
               "capture": {k: t.meta.get("capture", {}).get(k) for k in
                           ("dropped_records", "dram_status", "pm_overflows",
                            "kernels_without_launch_call", "kernels_assigned_by_time")},
               "modes": {}}
        modes = s["mode"]
        for mid in np.unique(modes):
            m = modes == mid
            med = lambda a: float(np.median(a[m]))  # noqa: E731
            untraced = wl.get("untraced_step_ns") if wl.get("mode") == t.strings[mid] else None
            thr = int(np.bitwise_or.reduce(np.maximum(s["throttle_reasons"][m], 0)))
            out["modes"][t.strings[mid]] = {
                "steps": int(m.sum()),
                "step_ms": med(s["step_ns"]) / 1e6,
                "step_ms_min": float(s["step_ns"][m].min()) / 1e6,
                "step_ms_max": float(s["step_ns"][m].max()) / 1e6,
                "untraced_step_ms": float(np.median(untraced)) / 1e6 if untraced else None,
                "untraced_steps": len(untraced) if untraced else 0,
                "kernels": med(s["kernels"]), "launch_calls": med(s["launch_calls"]),
                "busy_ms": med(s["busy_ns"]) / 1e6, "idle_ms": med(s["idle_ns"]) / 1e6,
                "floor_ms": med(s["floor_ns"]) / 1e6, "floor_all_ms": med(s["floor_all_ns"]) / 1e6,
                "kernel_inefficiency_ms": med(s["kernel_inefficiency_ns"]) / 1e6,
                "launch_overhead_ms": med(s["launch_overhead_ns"]) / 1e6,
                "other_idle_ms": med(s["other_idle_ns"]) / 1e6,
                "pct_floor": med(s["pct_floor"]), "pct_floor_all": med(s["pct_floor_all"]),
                "dram_gb": med(s["dram_read_bytes"] + s["dram_write_bytes"]) / 1e9,
                "dram_gb_per_s": med(s["dram_bytes_per_s"]) / 1e9,
                "model_gb": med(s["model_read_bytes"]) / 1e9,
                "model_all_gb": med(s["model_all_bytes"]) / 1e9,
                "closure_max_abs_ns": int(np.abs(s["closure_ns"][m]).max()),
                **self._achievable(med(s["model_read_bytes"]), med(s["step_ns"])),
                "busy_below_floor_steps": int(s["busy_below_floor"][m].sum()),
                "sm_clock_mhz": med(s["sm_clock_mhz"]), "mem_clock_mhz": med(s["mem_clock_mhz"]),
                "throttle_reasons": throttle_names(thr),
            }
        return out
