"""A synthetic step with known buffers: a few large streaming ops and many tiny ones.

Bytes by construction (per step): ``copy`` reads and writes ``big_bytes`` each, the
GEMV reads a ``rows x cols`` bf16 matrix once, and ``n_small`` elementwise ops touch
a few KB each. Used to check the capture engine and to measure its overhead.
"""
from __future__ import annotations


class SyntheticStep:
    def __init__(self, big_mb: int = 256, gemv_rows: int = 8192, gemv_cols: int = 8192,
                 n_small: int = 200, device: str = "cuda"):
        import torch
        self.torch = torch
        n = big_mb * (1 << 20) // 2
        self.src = torch.randn(n, device=device, dtype=torch.bfloat16)
        self.dst = torch.empty_like(self.src)
        self.w = torch.randn(gemv_rows, gemv_cols, device=device, dtype=torch.bfloat16)
        self.x = torch.randn(gemv_cols, device=device, dtype=torch.bfloat16)
        self.y = torch.empty(gemv_rows, device=device, dtype=torch.bfloat16)
        self.small = torch.randn(1024, device=device)
        self.n_small = n_small
        self.graph = None
        self.bytes_by_construction = {
            "copy_read_bytes": self.src.numel() * 2, "copy_write_bytes": self.dst.numel() * 2,
            "gemv_read_bytes": self.w.numel() * 2, "small_ops": n_small,
        }

    def eager(self):
        t = self.torch
        self.dst.copy_(self.src)
        t.mv(self.w, self.x, out=self.y)
        s = self.small
        for _ in range(self.n_small):
            s.mul_(0.999).add_(1e-3)  # two tiny kernels each
        return self.y

    def capture(self):
        t = self.torch
        side = t.cuda.Stream()
        side.wait_stream(t.cuda.current_stream())
        with t.cuda.stream(side):
            self.eager()
        t.cuda.current_stream().wait_stream(side)
        self.graph = t.cuda.CUDAGraph()
        with t.cuda.graph(self.graph):
            self.eager()

    def replay(self):
        self.graph.replay()
