"""A rate profile per long-GEMM signature, chosen by held-out fit error (CPU only, ~3 min).

On the committed eager-static jitter traces, at the estimate's groups, every kernel
signature (name, grid, block) whose median record lasts at least one PM interval (20 us)
gets its own piecewise-constant rate profile; every other record keeps the shipped
uniform rate. A profile is fitted without touching the estimator: each long record is cut
at the profile's breakpoints into pieces, each piece a column of the overlap design
(``dram_fit.Problem.design``), and the pieces' columns are summed with the profile's mass
fractions into the identity's one column (bytes X of the identity, X * mass_k spread
evenly over piece k). Closure on, as shipped. Three families:

1. grid: dead time at the start and end (fractions of the record), then over the time
   left a start and an end shoulder (fractions of it) at a level (fraction of the middle's
   rate); coordinate descent, one parameter of one signature at a time, from uniform;
2. shared free shape: K equal bins per signature, their masses fitted with the bytes by
   alternating least squares (bytes by the shipped NNLS given the shape, the shape by NNLS
   given the bytes), K = 1 .. 10;
3. free bins: K equal bins of every long identity each its own column (a free shape per
   identity).

Every candidate is scored by the held-out mean squared read residual (fit on even step
spans, residual on odd ones, and the reverse); that alone selects (*). The read offset is
rescanned (in-sample residual, as ``dram_fit.fit_offset``) after each descent round. The
ncu classes (cache-control none) and the bytes put on the elementwise + norm groups (ncu:
~6 MB/step) are printed beside each candidate as checks only.

    PYTHONPATH=$PWD python3 benchmarks/dram_signature_profiles.py [h100|h200 ...]
"""
from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import nnls

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MIN_NS = 20_000.0
GRID = {"dead_start": [0, .02, .04, .06, .08], "dead_end": [0, .02, .04, .06, .08],
        "shoulder_start": [0, .1, .2, .3, .4], "shoulder_end": [0, .1, .2, .3, .4],
        "level_start": [0, .25, .5, .75], "level_end": [0, .25, .5, .75]}
START = [0, 0, 0, 0, .5, .5]
SHAPE_K = (1, 2, 3, 4, 5, 6, 8, 10)
FREE_K = 5
OFFSETS = np.arange(-4, 5) * 250.0


def pieces(p) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints (fractions of the record, 0 .. 1) and mass of each piece of a grid profile."""
    ds, de, fs, fe, ls, le = p
    act = 1 - ds - de
    e = np.array([0, ds, ds + fs * act, 1 - de - fe * act, 1 - de, 1])
    dens = np.array([0, ls, 1, le, 0])
    m = dens * np.diff(e)
    return e, m / m.sum()


class Fit:
    def __init__(self, gpu: str):
        from dram_ncu_diagnosis import load

        from stepscope.analysis import dram_fit
        from stepscope.analysis.dram_checks import class_name
        from stepscope.analysis.dram_kernels import _row_ids, identities
        self.an, self.est, self.ncu_group = load(gpu)
        tr, at = self.an.trace, self.an.attribution
        rec = at["records"]
        self.ids = identities(tr, rec, at["record_pos"], at["intervals"].lo_ns)
        self.gid = self.est["group_of_identity"]
        self.ng = int(self.gid.max()) + 1
        self.prob = dram_fit.Problem(tr, at, self.ids)
        k = tr["kernels"]
        kr = np.where(rec.table == 0, rec.row, 0)
        cols = [np.where(rec.table == 0, k[c][kr], -1) for c in
                ("name", "grid_x", "grid_y", "grid_z", "block_x", "block_y", "block_z")]
        self.rsig = np.where((rec.table == 0) & (self.prob.ident >= 0), _row_ids(cols), -1)
        dur = rec.end_ns - rec.start_ns
        self.sigs = [int(s) for s in np.unique(self.rsig[self.rsig >= 0])
                     if np.median(dur[self.rsig == s]) >= MIN_NS]
        kl = np.asarray(self.est["klass"])
        self.small = np.isin([class_name(c) for c in kl], ["elementwise", "norm"])
        self.off = float(self.est["read_offset_ns"])

    def name(self, s) -> str:
        r = self.rsig == s
        i = int(self.prob.ident[np.nonzero(r)[0][0]])
        n = len(np.unique(self.prob.ident[r]))
        return f"{self.ids['name'][i]} ({n} a step, {np.median((self.prob.b - self.prob.a)[r]) / 1e3:.1f} us)"

    def split(self, edges: dict, off: float, per_identity: bool = False):
        """The design with the long records of each signature s cut at ``edges[s]``; returns
        (design, piece columns: {s: array (identities of s, pieces)}, their identities)."""
        prob, n_id = self.prob, len(self.ids["mode"])
        a0, b0, pos0, id0 = prob.a, prob.b, prob.pos, prob.ident
        keep = ~np.isin(self.rsig, list(edges))
        A, B, P, ID = [a0[keep]], [b0[keep]], [pos0[keep]], [id0[keep]]
        cols, lids, nxt, nk = {}, {}, self.ng, max(len(e) for e in edges.values()) - 1
        for s, e in edges.items():
            r = np.nonzero(self.rsig == s)[0]
            d = b0[r] - a0[r]
            lid = np.unique(id0[r])
            col = np.empty((len(lid), len(e) - 1), np.int64)
            for k in range(len(e) - 1):
                A.append(a0[r] + np.round(d * e[k]).astype(np.int64))
                B.append(a0[r] + np.round(d * e[k + 1]).astype(np.int64))
                P.append(pos0[r])
                ID.append(n_id + id0[r] * nk + k)
            for j in range(len(lid)):
                col[j] = np.arange(nxt, nxt + len(e) - 1)
                nxt += len(e) - 1
            cols[s], lids[s] = col, lid
        g = np.full(n_id * (nk + 1), -1)
        g[:n_id] = self.gid
        for s in edges:
            for j, i in enumerate(lids[s]):
                g[n_id + i * nk: n_id + i * nk + cols[s].shape[1]] = cols[s][j]
        prob.a, prob.b, prob.pos, prob.ident = (np.concatenate(v) for v in (A, B, P, ID))
        try:
            d = prob.design(g, nxt, off)
        finally:
            prob.a, prob.b, prob.pos, prob.ident = a0, b0, pos0, id0
        return d, cols, lids, nxt

    def collapsed(self, d, cols, lids, n_ext, mass: dict):
        """A design whose long identities' columns sum their pieces with ``mass[s]``."""
        r, c, v = list(range(self.ng)) + [n_ext], list(range(self.ng)) + [self.ng], [1.0] * (self.ng + 1)
        for s, col in cols.items():
            for j, i in enumerate(lids[s]):
                r += list(col[j])
                c += [int(self.gid[i])] * col.shape[1]
                v += list(mass[s])
        M = sparse.csr_matrix((v, (r, c)), shape=(n_ext + 1, self.ng + 1))
        dd = copy.copy(d)
        dd.__dict__.pop("_gram", None)
        dd.__dict__["A"] = (d.A @ M).tocsr()
        return dd

    def solve(self, dd, y, w):
        from stepscope.analysis.dram_kernels import NormalParts
        from stepscope.analysis.dram_nnls import nnls_normal
        S, Atb, U = NormalParts(dd, y).at(w, self.prob.span_mode)
        return np.nan_to_num(nnls_normal(S, Atb, low_rank=U)[0])

    def score(self, edges: dict, mass_fn, off: float):
        """(held-out mse, in-sample mse, bytes, masses) for pieces at ``edges`` whose masses
        ``mass_fn(d, cols, lids, n_ext, y, w)`` gives (fixed or fitted on the weighted steps)."""
        prob = self.prob
        d, cols, lids, n_ext = self.split(edges, off)
        y = prob.smp.read[d.rows]
        ho, n_ho = 0.0, 0
        for par in (0, 1):
            w = (np.arange(prob.n_steps) % 2 == par).astype(float)
            mass = mass_fn(d, cols, lids, n_ext, y, w)
            dd = self.collapsed(d, cols, lids, n_ext, mass)
            rh = (y - dd.A @ self.solve(dd, y, w))[w[d.row_step] == 0]
            ho, n_ho = ho + rh @ rh, n_ho + len(rh)
        w = np.ones(prob.n_steps)
        mass = mass_fn(d, cols, lids, n_ext, y, w)
        dd = self.collapsed(d, cols, lids, n_ext, mass)
        x = self.solve(dd, y, w)
        r = y - dd.A @ x
        return ho / n_ho, r @ r / len(r), x, mass

    def line(self, x) -> str:
        from dram_ncu_diagnosis import class_line
        return f"elementwise+norm {x[:self.ng][self.small].sum() / 1e6:6.1f} MB | {class_line(self.est, self.ncu_group, x)}"


def grid_score(f: Fit, prof: dict, off: float):
    pc = {s: pieces(p) for s, p in prof.items()}
    return f.score({s: e for s, (e, _) in pc.items()}, lambda *a: {s: m for s, (_, m) in pc.items()}, off)


def rescan(f: Fit, prof: dict, off: float) -> float:
    """The offset (250 ns grid around ``off``) of least in-sample residual."""
    res = [grid_score(f, prof, off + o)[1] for o in OFFSETS]
    return off + float(OFFSETS[int(np.argmin(res))])


def descent(f: Fit) -> None:
    cur = {s: np.array(START, float) for s in f.sigs}
    off = rescan(f, cur, f.off)
    best, mse, x, _ = grid_score(f, cur, off)
    print(f"uniform: held-out {best / 1e9:7.1f}  mse {mse / 1e9:7.1f}  offset {off:6.0f}  {f.line(x)}")
    for s in f.sigs:
        print(f"long signature {s}: {f.name(s)}")
    for rnd in range(5):
        changed = False
        for s in f.sigs:
            for k, (pname, grid) in enumerate(GRID.items()):
                res = []
                for v in grid:
                    c = {q: p.copy() for q, p in cur.items()}
                    c[s][k] = v
                    h, _, xx, _ = grid_score(f, c, off)
                    res.append((h, xx[:f.ng][f.small].sum()))
                j = int(np.argmin([r[0] for r in res]))
                if res[j][0] < best * (1 - 1e-6) and grid[j] != cur[s][k]:
                    cur[s][k], best, changed = grid[j], res[j][0], True
                print(f"  round {rnd} sig {s} {pname:14s} " + "  ".join(
                    f"{'*' if i == j else ' '}{v:<4g} {r[0] / 1e9:7.1f} ({r[1] / 1e6:5.1f} MB)"
                    for i, (v, r) in enumerate(zip(grid, res))))
        off = rescan(f, cur, off)
        best, mse, x, _ = grid_score(f, cur, off)
        print(f"round {rnd}: held-out {best / 1e9:7.1f}  mse {mse / 1e9:7.1f}  offset {off:6.0f}  {f.line(x)}")
        if not changed:
            break
    for s in f.sigs:
        print(f"selected sig {s}: " + ", ".join(f"{k} {v:g}" for k, v in zip(GRID, cur[s])) + f"  [{f.name(s)}]")


def shared_shape(f: Fit, k_bins: int, off: float, iters: int = 8):
    """K equal bins per signature, one mass vector per signature, fitted by alternation."""
    edges = {s: np.linspace(0, 1, k_bins + 1) for s in f.sigs}

    def fit_mass(d, cols, lids, n_ext, y, w):
        mass = {s: np.full(k_bins, 1.0 / k_bins) for s in f.sigs}
        rows = w[d.row_step] > 0
        Ac = d.A.tocsc()
        base = list(range(f.ng)) + [n_ext]
        for _ in range(iters):
            x = f.solve(f.collapsed(d, cols, lids, n_ext, mass), y, w)
            xb = x.copy()
            long_groups = np.concatenate([f.gid[lids[s]] for s in f.sigs])
            xb[long_groups] = 0
            res = (y - Ac[:, base] @ xb)[rows]
            F = np.zeros((int(rows.sum()), len(f.sigs) * k_bins))
            for si, s in enumerate(f.sigs):
                for j, i in enumerate(lids[s]):
                    blk = Ac[:, cols[s][j]].toarray()[rows]
                    F[:, si * k_bins:(si + 1) * k_bins] += blk * x[f.gid[i]]
            q = nnls(F, res)[0].reshape(len(f.sigs), k_bins)
            mass = {s: q[si] / max(q[si].sum(), 1e-30) for si, s in enumerate(f.sigs)}
        return mass
    return f.score(edges, fit_mass, off)


def free_bins(f: Fit, k_bins: int, off: float):
    """K equal bins of every long identity, each its own column (no collapse)."""
    prob = f.prob
    d, cols, lids, n_ext = f.split({s: np.linspace(0, 1, k_bins + 1) for s in f.sigs}, off)
    y = prob.smp.read[d.rows]
    ho, n_ho = 0.0, 0
    for par in (0, 1):
        w = (np.arange(prob.n_steps) % 2 == par).astype(float)
        rh = (y - d.A @ f.solve(d, y, w))[w[d.row_step] == 0]
        ho, n_ho = ho + rh @ rh, n_ho + len(rh)
    x = f.solve(d, y, np.ones(prob.n_steps))
    r = y - d.A @ x
    xg = np.r_[x[:f.ng], x[-1]].copy()
    shape = {}
    for s in f.sigs:
        for j, i in enumerate(lids[s]):
            xg[f.gid[i]] += x[cols[s][j]].sum()
        shape[s] = sum(x[cols[s][j]] for j in range(len(lids[s])))
    return ho / n_ho, r @ r / len(r), xg, shape


def main(gpu: str) -> None:
    print(f"=== {gpu}: mse in 1e9 B^2 per 20 us sample; held-out selects (*); ncu and elementwise+norm "
          f"are checks only")
    f = Fit(gpu)
    print("-- 1. grid per signature, coordinate descent")
    descent(f)
    print("-- 2. shared free shape per signature (K equal bins, alternating fit), estimate's read offset +-500 ns")
    rows = []
    for k in SHAPE_K:
        for o in (-500.0, 0.0, 500.0):
            h, mse, x, mass = shared_shape(f, k, f.off + o)
            rows.append((h, k, f.off + o, mse, x, mass))
    best = min(range(len(rows)), key=lambda i: rows[i][0])
    for i, (h, k, off, mse, x, mass) in enumerate(rows):
        print(f"{'*' if i == best else ' '} K {k:2d} offset {off:6.0f}: held-out {h / 1e9:7.1f}  mse {mse / 1e9:7.1f}  "
              f"{f.line(x)}")
        for s in f.sigs:
            print(f"      sig {s} rate per bin / mean: " + " ".join(f"{v * k:.2f}" for v in mass[s]))
    print(f"-- 3. {FREE_K} free bins per long identity, estimate's read offset +-1000 ns")
    for o in (-1000.0, -500.0, 0.0, 500.0, 1000.0):
        h, mse, x, shape = free_bins(f, FREE_K, f.off + o)
        print(f"  offset {f.off + o:6.0f}: held-out {h / 1e9:7.1f}  mse {mse / 1e9:7.1f}  {f.line(x)}")
        for s, p in shape.items():
            print(f"      sig {s} rate per bin / mean: " + " ".join(f"{v / p.sum() * FREE_K:.2f}" for v in p))
    sys.stdout.flush()


if __name__ == "__main__":
    for g in sys.argv[1:] or ["h100", "h200"]:
        main(g)
