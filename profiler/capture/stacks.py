"""A sampled Python stack view of one thread, on the trace clock (opt-in, for deep dives).

A daemon thread wakes every ``period_ns``, reads the clock, takes the target thread's
current frame (``sys._current_frames``) and keeps ``(t_ns, frames)`` with frames as
``(file, line, function)`` from the outermost in; names and interning happen once, in
:meth:`collect`, after the capture.

What it can and cannot see. It samples Python frames only (the C++ of torch, the CUDA
driver and the launch calls appear as the Python line that called them). It needs the GIL
to look, and a thread running Python hands the GIL over only every switch interval (5 ms by
default in CPython), so while the sampler runs the switch interval is lowered to the
sampling period and restored after (recorded in ``meta.capture.stack_sampler``); a sample
is timestamped when it is taken, so it is never misplaced in time, but the samples are not
evenly spaced. The cost (a few us of GIL per sample, plus the shorter switch interval) is
measured by ``benchmarks/stack_sampler.py`` and reported there.
"""
from __future__ import annotations

import sys
import threading


def _thread_id(ident: int) -> int:
    """pthread id cut to 32 bits, as CUPTI reports a thread id (capture/host.py)."""
    return ident & 0xFFFFFFFF


class StackSampler:
    def __init__(self, clock, period_ns: int = 1_000_000, thread_ident: int | None = None,
                 max_depth: int = 64):
        if period_ns < 50_000:
            raise ValueError("the stack sampling period must be at least 50 us")
        self.clock = clock
        self.period_ns = int(period_ns)
        self.ident = thread_ident if thread_ident is not None else threading.get_ident()
        self.max_depth = max_depth
        self.samples: list[tuple[int, tuple]] = []
        self._stop = threading.Event()
        self._thread = None
        self._old_switch = self._switch = None
        self.meta: dict = {}

    def start(self) -> None:
        self._old_switch = sys.getswitchinterval()
        self._switch = min(self._old_switch, self.period_ns / 1e9)
        sys.setswitchinterval(self._switch)
        self._thread = threading.Thread(target=self._run, name="stepscope-stacks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period_s, ident, depth = self.period_ns / 1e9, self.ident, self.max_depth
        append, clock, frames_of = self.samples.append, self.clock, sys._current_frames
        while not self._stop.wait(period_s):
            t = clock()
            f = frames_of().get(ident)
            stack = []
            while f is not None and len(stack) < depth:
                code = f.f_code
                stack.append((code.co_filename, f.f_lineno, code.co_name))
                f = f.f_back
            del f
            if stack:
                append((t, tuple(reversed(stack))))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._old_switch is not None:
            sys.setswitchinterval(self._old_switch)
        t = [s[0] for s in self.samples]
        gaps = sorted(b - a for a, b in zip(t, t[1:]))
        self.meta = {"period_ns": self.period_ns, "switch_interval_s": self._switch,
                     "samples": len(self.samples), "thread_id": _thread_id(self.ident),
                     "median_interval_ns": gaps[len(gaps) // 2] if gaps else None, "max_depth": self.max_depth}

    def collect(self, intern) -> dict[str, list]:
        """The ``stack_samples`` columns (``step`` is set later by the step assignment)."""
        tid = _thread_id(self.ident)
        cols = {"t_ns": [], "thread_id": [], "stack": []}
        names: dict[tuple, int] = {}
        for t, frames in self.samples:
            key = names.get(frames)
            if key is None:
                key = names[frames] = intern(";".join(f"{_short(fn)}:{ln} {name}" for fn, ln, name in frames))
            cols["t_ns"].append(t)
            cols["thread_id"].append(tid)
            cols["stack"].append(key)
        self.samples = []
        return cols


def _short(path: str) -> str:
    """A file path from its package on (``.../site-packages/torch/nn/x.py`` -> ``torch/nn/x.py``)."""
    for marker in ("site-packages/", "dist-packages/", "/lib/python"):
        i = path.rfind(marker)
        if i >= 0:
            rest = path[i + len(marker):]
            return rest.split("/", 1)[1] if marker == "/lib/python" and "/" in rest else rest
    return path
