"""Which rate profile inside a kernel fits the PM samples best (CPU only, ~1 min): on the
committed eager-static jitter traces, the per-kernel DRAM fit at the estimate's groups with
``dram_fit.RAMP_NS`` set to each profile of several families (``dram_kernels._profile``),
the read offset refitted per profile, closure on. Selection is by fit error only: the mean
squared residual over all rows and held out (fit on even step spans, residual on odd, and
the reverse). Printed beside it, as checks and validation only: groups faster than peak,
the bytes put on elementwise + norm groups, and every class against Nsight Compute
(cache-control none).

    PYTHONPATH=$PWD python3 benchmarks/dram_profile_sweep.py [h100|h200 ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PEAK = {"h100": 3.35e12, "h200": 4.8e12}
US = 1000.0
FAMILIES = {
    "uniform": [0.0],
    "ramp both ends (RAMP_NS)": [r * US for r in (2, 4, 5, 6, 7, 8)],
    "ramp start, end": [(s * US, e * US) for s in (0, 2, 4, 6, 8, 10) for e in (0, 2, 4, 6, 8) if s or e],
    "ramp as fraction": [(s, e) for s in (0, .05, .1, .15, .2) for e in (0, .05, .1, .15, .2) if s or e],
    "dead time start, end": [(0, 0, 0, 0, s * US, e * US) for s in (0, 1, 2, 3, 4) for e in (0, 1, 2, 3, 4) if s or e],
    "blur (box, spills outside)": [(0, 0, b * US) for b in (2, 4, 8)],
    "dead time, records >= 20 us only": [(0, 0, 0, 20 * US, s * US, e * US) for s, e in ((2, 2), (2, 3), (3, 2))],
    "dead time, records < 50 us only": [(0, 0, 0, -50 * US, s * US, e * US) for s, e in ((2, 3), (3, 3), (2, 4))],
}


def sweep(gpu: str) -> None:
    from dram_ncu_diagnosis import class_line, load

    from stepscope.analysis import dram_fit
    from stepscope.analysis.dram_checks import class_name
    from stepscope.analysis.dram_kernels import NormalParts, identities
    from stepscope.analysis.dram_nnls import nnls_normal
    an, est, ncu_group = load(gpu)
    at = an.attribution
    ids = identities(an.trace, at["records"], at["record_pos"], at["intervals"].lo_ns)
    gid = est["group_of_identity"]
    ng = int(gid.max()) + 1
    prob = dram_fit.Problem(an.trace, at, ids)
    kl = np.asarray(est["klass"])
    small = np.isin([class_name(k) for k in kl], ["elementwise", "norm"])
    t = np.asarray(est["time_ns_per_step"])
    print(f"=== {gpu}: mse in 1e9 B^2 per 20 us sample; best per family by held-out mse marked *")
    try:
        for fam, profiles in FAMILIES.items():
            rows = []
            for prof in profiles:
                dram_fit.RAMP_NS = prof
                off = dram_fit.fit_offset(prob, gid, ng, "read", 6)[0]
                d = prob.design(gid, ng, off)
                y = prob.smp.read[d.rows]
                parts = NormalParts(d, y)
                S, Atb, U = parts.at(None, prob.span_mode)
                x = np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])
                r = y - d.A @ x
                ho, n_ho = 0.0, 0
                for par in (0, 1):
                    w = (np.arange(prob.n_steps) % 2 == par).astype(float)
                    S, Atb, U = parts.at(w, prob.span_mode)
                    rh = (y - d.A @ np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0]))[w[d.row_step] == 0]
                    ho, n_ho = ho + rh @ rh, n_ho + len(rh)
                fast = int((x[:ng] / np.maximum(t, 1) * 1e9 > 1.05 * PEAK[gpu]).sum())
                rows.append((ho / n_ho, prof, off, r @ r / len(r), fast, x[:ng][small].sum(),
                             class_line(est, ncu_group, x)))
            best = min(range(len(rows)), key=lambda i: rows[i][0])
            print(f"-- {fam}")
            for i, (ho, prof, off, mse, fast, ew, line) in enumerate(rows):
                print(f"{'*' if i == best else ' '} {str(prof):34s} offset {off:6.0f}  mse {mse / 1e9:7.1f}  "
                      f"held-out {ho / 1e9:7.1f}  >peak {fast:2d}  elementwise+norm {ew / 1e6:6.1f} MB | {line}")
    finally:
        dram_fit.RAMP_NS = 0.0


if __name__ == "__main__":
    for g in sys.argv[1:] or ["h100", "h200"]:
        sweep(g)
