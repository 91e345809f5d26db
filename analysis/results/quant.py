"""Statistics of the quantised arms (one result dict per arm): does a byte saving turn into time?"""
from __future__ import annotations

import numpy as np

#: bf16 matmul kernels of cuBLAS/cuBLASLt (names as CUPTI reports them on Hopper).
_BF16_GEMM = ("nvjet", "cublas", "sm90_xmma", "ampere_bf16")


def path(arm: str, matmul_kernels: list[dict]) -> str:
    """How a quantised arm multiplies: a fused low-bit GEMV, or dequantised weights fed to
    a bf16 GEMM (its most launched matmul kernel is a cuBLAS bf16 one)."""
    if arm == "bf16":
        return "bf16 GEMV (cuBLAS)"
    top = max(matmul_kernels, key=lambda k: k["per_step"])["name"] if matmul_kernels else ""
    return "dequantise + bf16 GEMM" if top.startswith(_BF16_GEMM) else f"fused low-bit GEMV ({top.split('::')[-1]})"


def step_cis(m: dict, bm: dict) -> tuple:
    """95% percentile bootstrap intervals over the untraced steps of the arm's one session:
    of its median ms, and of bf16's median ms over its (the two sessions independent).
    Steps of one session, not fresh sessions: they show the step-to-step spread only."""
    from .ab import bootstrap_ci, ratio_of_medians_ci
    steps = m.get("step_ns") or []
    if len(steps) < 2:
        return None, None
    ms = tuple(float(x) / 1e6 for x in bootstrap_ci(steps))
    base = (bm.get("step_ns") or []) if bm.get("valid") else []
    sp = tuple(float(x) for x in ratio_of_medians_ci(base, steps)) if len(base) >= 2 else None
    return ms, sp


def table(arms: list[dict], base: str = "bf16") -> list[dict]:
    """One row per (arm, mode): ms/step, bytes per step (model and measured), the speedup
    the bytes promise over the bf16 arm and the one realised, % of floor, matmul kernels."""
    by = {a["arm"]: a for a in arms}
    b = by.get(base)
    rows = []
    for a in arms:
        if not a.get("valid"):
            rows.append({"arm": a["arm"], "mode": "-", "valid": False, "reason": a.get("reason", "")})
            continue
        for mode, m in a["modes"].items():
            if not m.get("valid"):
                rows.append({"arm": a["arm"], "mode": mode, "valid": False, "reason": m.get("reason", "")})
                continue
            bm = (b or {}).get("modes", {}).get(mode, {}) if b and b.get("valid") else {}
            ms_ci, sp_ci = step_cis(m, bm if a["arm"] != base else {})
            rows.append({
                "arm": a["arm"], "mode": mode, "valid": True, "library": a.get("library"),
                "weight_gb": a["weight_bytes"] / 1e9, "median_ms": m["median_ms"],
                "model_gb": m["model_gb"], "dram_gb": m["dram_gb"], "floor_ms": m["floor_ms"],
                "pct_floor": 100 * m["floor_ms"] / m["median_ms"],
                "expected_speedup": bm["model_gb"] / m["model_gb"] if bm.get("valid") else None,
                "realised_speedup": bm["median_ms"] / m["median_ms"] if bm.get("valid") else None,
                "median_ms_ci": ms_ci, "realised_speedup_ci": sp_ci,
                "dram_speedup": bm["dram_gb"] / m["dram_gb"] if bm.get("valid") and m["dram_gb"] else None,
                "launch_share": m["launch_overhead_ms"] / m["traced_ms"],
                "kernels": m["kernels"],
                "matmul_ms": sum(m["classes"].get(c, {}).get("ms", 0.0) for c in ("gemm", "dequant")),
                "other_kernels_ms": sum(v["ms"] for c, v in m["classes"].items() if c not in ("gemm", "dequant")),
                "path": path(a["arm"], m["matmul_kernels"]),
                "matmul_kernels": ", ".join(f"{k['name']} x{k['per_step']:.0f}" for k in m["matmul_kernels"][:2]),
            })
    return rows


def over_sessions(sessions: list[list[dict]], base: str = "bf16", min_for_ci: int = 10) -> list[dict]:
    """Fresh sessions of the same arms (each a ``load_arms`` list): per (arm, mode), each
    session's median ms and its realised speedup (the same session's ``base`` median over the
    arm's), their medians and ranges over sessions, and 95% percentile bootstrap intervals
    over sessions from ``min_for_ci`` sessions on (below that a percentile bootstrap of the
    median is just the range: with 4 sessions the resampled median is the minimum 5.1% of
    the time)."""
    from .ab import bootstrap_ci
    per: dict = {}
    for arms in sessions:
        by = {a["arm"]: a for a in arms if a.get("valid")}
        b = by.get(base)
        for arm, a in by.items():
            for mode, m in a["modes"].items():
                if not m.get("valid"):
                    continue
                bm = (b or {}).get("modes", {}).get(mode, {})
                r = per.setdefault((arm, mode), {"ms": [], "speedup": []})
                r["ms"].append(m["median_ms"])
                if bm.get("valid"):
                    r["speedup"].append(bm["median_ms"] / m["median_ms"])
    out = []
    for (arm, mode), r in per.items():
        sp = r["speedup"] if arm != base else []
        n = len(r["ms"])
        out.append({"arm": arm, "mode": mode, "sessions": n, "session_ms": r["ms"],
                    "median_ms": float(np.median(r["ms"])), "ms_range": (min(r["ms"]), max(r["ms"])),
                    "median_ms_ci": bootstrap_ci(r["ms"]) if n >= min_for_ci else None,
                    "session_speedups": sp, "realised_speedup": float(np.median(sp)) if sp else None,
                    "speedup_range": (min(sp), max(sp)) if sp else None,
                    "realised_speedup_ci": bootstrap_ci(sp) if len(sp) >= min_for_ci else None})
    return out
