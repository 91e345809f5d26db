"""Why the attention and copy classes come out low against ncu (CPU only, a few seconds): on the
committed eager-static jitter traces and ncu CSVs (benchmarks/results/dram-validation-<gpu>/).

1. direct: the PM samples around each long copy / attention record whose samples hold no
   other record over 5 us, summed (no model): what DRAM saw for that kernel in the real step;
2. closure: the fit at the estimate's groups and read offset with closure weights 1e3 .. 1e-5:
   the fitted-minus-measured bytes per step and the class bytes against ncu (cache-control none);
3. ramp: ``dram_fit.RAMP_NS`` (a trapezoid rate profile, linear ramps at both ends of each
   record; 0 = the shipped uniform rate) swept with the read offset refitted, closure on.

    PYTHONPATH=$PWD python3 benchmarks/dram_ncu_diagnosis.py [h100|h200 ...]
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load(gpu: str):
    from stepscope.analysis import dram_ncu
    from stepscope.analysis.facade import TraceAnalysis
    an = TraceAnalysis(ROOT / "traces" / f"qwen2.5-7b-ctx2048-eager-static-jitter-{gpu}.stepscope")
    est = an._dram_estimate
    csv = ROOT / "benchmarks" / "results" / f"dram-validation-{gpu}" / \
        f"ncu-qwen2.5-7b-ctx2048-eager-static-cache-none-{gpu}.csv.gz"
    ncu = dram_ncu.parse_csv(gzip.decompress(csv.read_bytes()).decode())
    mode_id = an.trace.strings.index("eager-static")
    sel = np.nonzero((est["identity_mode"] == mode_id) & (est["identity_table"] == 0))[0]
    ng = len(est["read_bytes"])
    ncu_group = np.bincount(est["group_of_identity"][sel], weights=np.nan_to_num(ncu["read_bytes"]), minlength=ng)
    return an, est, ncu_group


def direct(an, est, margin_ns: int = 1500, min_ns: int = 8000) -> dict:
    from stepscope.analysis.dram_checks import class_name
    from stepscope.analysis.kernel_classes import record_classes
    at, pm = an.attribution, an.trace["pm"]
    rec, pos = at["records"], at["record_pos"]
    ok = pm["end_ns"] > pm["start_ns"]
    o = np.argsort(pm["start_ns"][ok])
    off = est["read_offset_ns"]
    ss, se, rd = (pm["start_ns"][ok] - off)[o], (pm["end_ns"][ok] - off)[o], pm["dram_read_bytes"][ok][o]
    a, b = rec.start_ns, rec.end_ns
    cls = np.array([class_name(k) for k in record_classes(an.trace, rec)])
    long_ = (b - a) > 5000
    out = {}
    for c in ("copy", "attention"):
        got = []
        for i in np.nonzero((pos >= 0) & (cls == c) & ((b - a) >= min_ns))[0]:
            j0, j1 = np.searchsorted(se, a[i] - margin_ns, "right"), np.searchsorted(ss, b[i] + margin_ns, "left")
            if j0 >= j1:
                continue
            near = long_ & (b > ss[j0]) & (a < se[j1 - 1])
            if near.sum() == 1:
                got.append(rd[j0:j1].sum())
        out[c] = np.asarray(got)
    return out


def class_line(est, ncu_group, x) -> str:
    from stepscope.analysis.dram_checks import class_name
    kl, ng, parts = np.asarray(est["klass"]), len(ncu_group), []
    for c in sorted(set(kl)):
        m = kl == c
        n = ncu_group[m].sum()
        if n > 1e6:
            e = np.nansum(x[:ng][m])
            parts.append(f"{class_name(c)} {e / 1e6:.1f}/{n / 1e6:.1f} MB ({100 * (e - n) / n:+.1f}%)")
    return "  ".join(parts)


def main(gpus) -> None:
    from stepscope.analysis import dram_fit
    from stepscope.analysis.dram_kernels import NormalParts, identities
    from stepscope.analysis.dram_nnls import nnls_normal
    for gpu in gpus:
        an, est, ncu_group = load(gpu)
        print(f"=== {gpu}: estimate (est/ncu cache-none): {class_line(est, ncu_group, est['read_bytes'])}")
        for c, v in direct(an, est).items():
            print(f"direct {c}: {len(v)} instances, median {np.median(v) / 1e6:.3f} MB, "
                  f"p10-p90 {np.percentile(v, 10) / 1e6:.3f}-{np.percentile(v, 90) / 1e6:.3f} MB")
        at = an.attribution
        ids = identities(an.trace, at["records"], at["record_pos"], at["intervals"].lo_ns)
        gid = est["group_of_identity"]
        ng = int(gid.max()) + 1
        prob = dram_fit.Problem(an.trace, at, ids)
        d = prob.design(gid, ng, est["read_offset_ns"])
        y = prob.smp.read[d.rows]
        parts = NormalParts(d, y)
        for cw in (1e3, 1e1, 1e-1, 1e-3, 1e-5):
            S, Atb, U = parts.at(None, None, cw)
            x = np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])
            r = y - d.A @ x
            print(f"closure {cw:7.0e}: mse {r @ r / len(r) / 1e9:8.1f}e9 B^2, fitted - measured "
                  f"{-r.sum() / prob.n_steps / 1e6:6.1f} MB/step  {class_line(est, ncu_group, x)}")
        for ramp in (0, 2000, 4000, 5000, 6000, 7000, 8000):
            dram_fit.RAMP_NS = float(ramp)
            off = dram_fit.fit_offset(prob, gid, ng, "read", 6)[0]
            d = prob.design(gid, ng, off)
            y = prob.smp.read[d.rows]
            S, Atb, U = d.normal(y)
            x = np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])
            r = y - d.A @ x
            print(f"ramp {ramp:5d} ns: offset {off:6.0f} ns, mse {r @ r / len(r) / 1e9:8.1f}e9 B^2  "
                  f"{class_line(est, ncu_group, x)}")
        dram_fit.RAMP_NS = 0.0


if __name__ == "__main__":
    main(sys.argv[1:] or ["h100", "h200"])
