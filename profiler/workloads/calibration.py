"""Calibration workloads: a null kernel, a streaming read and a copy (kernels/calibration.cu),
and a ground-truth chain whose bytes and host delays are known by construction.

Launch: host cost per eager launch of a null kernel (untraced), GPU time per launch
when launched back to back, per-node cost in a CUDA graph, for N in (10, 100, 1000);
launch-to-launch gaps from a traced step. Bandwidth: a read-only 16-byte-vector
reduction and a copy over buffers many times the L2, against NVML's peak and torch's
own copy. Chain: K streaming reads of B bytes and M null kernels each launched after a
host spin of S us, eager and as a CUDA graph (the graph has no host spins).
"""
from __future__ import annotations

import ctypes
import statistics
import time

from stepscope.analysis.trace import workload

from .host_spin import spin_ns

#: Null-kernel counts of the launch-cost measurement (one stage each).
LAUNCH_SIZES = (10, 100, 1000)
#: The bandwidth kernels, in the order ``bandwidth`` runs them (one stage each).
BANDWIDTH_KERNELS = ("read kernel", "copy kernel", "torch copy_")


def _events_ms(fn, reps: int, warmup: int = 2) -> list[float]:
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b))
    return out


def _graph_of(fn):
    """``fn``'s launches captured once as a CUDA graph (on a side stream, as torch requires)."""
    import torch
    g = torch.cuda.CUDAGraph()
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            fn()
    torch.cuda.synchronize()
    return g


class Calibration:
    def __init__(self, device: int = 0):
        import torch

        from stepscope.kernels.nvrtc import Module
        self.torch = torch
        self.mod = Module(device=device)
        props = torch.cuda.get_device_properties(device)
        self.sms = props.multi_processor_count
        self.l2_bytes = getattr(props, "L2_cache_size", 0)
        self.sink = torch.zeros(4, dtype=torch.int32, device="cuda")

    def null(self):
        self.mod.launch("null_kernel", 1, 32)

    def read(self, buf):
        n16 = buf.numel() // 16
        self.mod.launch("read_reduce", self.sms * 4, 512, buf.data_ptr(), ctypes.c_uint64(n16),
                        self.sink.data_ptr(), ctypes.c_uint32(0x9E3779B9))

    def copy(self, src, dst):
        self.mod.launch("copy16", self.sms * 4, 512, src.data_ptr(), dst.data_ptr(),
                        ctypes.c_uint64(src.numel() // 16))

    # -- launch ---------------------------------------------------------------
    def launch_costs(self, sizes=LAUNCH_SIZES, reps: int = 5, stage=None) -> dict:
        """``stage(name)`` is called as each size begins."""
        torch = self.torch
        out = {}
        for n in sizes:
            if stage:
                stage(f"launch costs: {n} null kernels")
            host = []
            for _ in range(reps):
                torch.cuda.synchronize()
                t0 = time.perf_counter_ns()
                for _ in range(n):
                    self.null()
                host.append((time.perf_counter_ns() - t0) / n)
                torch.cuda.synchronize()

            def eager(n=n):
                for _ in range(n):
                    self.null()
            gpu = _events_ms(eager, reps)
            graph = _events_ms(_graph_of(eager).replay, reps * 2)
            out[str(n)] = {"host_ns_per_launch": statistics.median(host),
                           "eager_gpu_ns_per_kernel": statistics.median(gpu) * 1e6 / n,
                           "graph_ns_per_node": statistics.median(graph) * 1e6 / n}
        return out

    def traced_gaps(self, n: int = 200) -> dict:
        """Median kernel-to-kernel gap of null kernels, eager and graph, from a trace."""
        import numpy as np

        from ..capture import Tracer
        def eager():
            for _ in range(n):
                self.null()
        g = _graph_of(eager)
        with Tracer(dram=False, warn=lambda m: None) as tr:
            with tr.step(0, mode="eager"):
                eager()
            with tr.step(1, mode="graph"):
                g.replay()
        k = tr.trace["kernels"]
        res = {}
        for s, mode in ((0, "eager"), (1, "graph")):
            m = k["step"] == s
            st, en = np.sort(k["start_ns"][m]), np.sort(k["end_ns"][m])
            res[f"{mode}_gap_ns_median"] = float(np.median(st[1:] - en[:-1]))
            res[f"{mode}_kernel_ns_median"] = float(np.median(en - st))
        return res

    # -- bandwidth ------------------------------------------------------------
    def bandwidth(self, nbytes: int = 4 << 30, reps: int = 10, stage=None) -> dict:
        """``stage(name)`` is called as each of ``BANDWIDTH_KERNELS`` begins."""
        torch = self.torch
        begin = stage or (lambda name: None)
        buf = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda")
        begin(f"bandwidth: {BANDWIDTH_KERNELS[0]}")
        read_ms = statistics.median(_events_ms(lambda: self.read(buf), reps))
        half = nbytes // 2
        src, dst = buf[:half], torch.empty(half, dtype=torch.uint8, device="cuda")
        begin(f"bandwidth: {BANDWIDTH_KERNELS[1]}")
        copy_ms = statistics.median(_events_ms(lambda: self.copy(src, dst), reps))
        begin(f"bandwidth: {BANDWIDTH_KERNELS[2]}")
        torch_ms = statistics.median(_events_ms(lambda: dst.copy_(src), reps))
        ok = bool(torch.equal(src[:1 << 20], dst[:1 << 20]))
        return {"buffer_bytes": nbytes, "l2_bytes": self.l2_bytes,
                "read_bytes_per_s": nbytes / (read_ms / 1e3),
                "copy_bytes_per_s": 2 * half / (copy_ms / 1e3),
                "torch_copy_bytes_per_s": 2 * half / (torch_ms / 1e3),
                "copy_checked": ok}

    # -- ground truth ---------------------------------------------------------
    def chain(self, k: int = 16, b_bytes: int = 256 << 20, m: int = 200, spin_us: float = 20.0,
              steps: int = 3, dram_counters: int = 0):
        """Trace the chain eagerly (host spins) and as a graph; returns the trace.
        ``dram_counters``: then that many counter passes over the chain's kernels
        (``capture.counters.collect``) fill its ``kernel_dram`` table."""
        from ..capture import Tracer
        torch = self.torch
        bufs = [torch.randint(0, 255, (b_bytes,), dtype=torch.uint8, device="cuda") for _ in range(k)]
        per = m // k
        spins: list[int] = []

        def eager(spin=True):
            for i in range(k):
                self.read(bufs[i])
                for _ in range(per):
                    if spin:
                        spins.append(spin_ns(int(spin_us * 1000)))
                    self.null()
        eager()
        g = _graph_of(lambda: eager(spin=False))
        spins.clear()
        with Tracer(warn=lambda msg: None) as tr:
            for s in range(steps):
                with tr.step(s, mode="eager"):
                    eager()
            for s in range(steps, 2 * steps):
                with tr.step(s, mode="graph"):
                    g.replay()
        t = tr.trace
        if dram_counters:
            from ..capture.counters import collect
            collect(t, [("eager chain without spins", lambda: eager(spin=False))], torch.cuda.synchronize,
                    passes=dram_counters)
        t.meta["workload"] = workload.constructed(
            "chain", k * b_bytes,
            f"{k} x read_reduce over {b_bytes >> 20} MiB, each followed by {per} null "
            f"kernels launched after a host spin of {spin_us} us (eager); the same "
            "kernels as one CUDA graph without spins (graph)",
            read_kernels=k, read_bytes_each=b_bytes, null_kernels=per * k,
            spin_ns_target=int(spin_us * 1000), spin_ns_mean=statistics.mean(spins))
        return t
