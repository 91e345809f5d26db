"""The capture API: ``Tracer`` wraps steps of any CUDA workload.

    with Tracer(device=0) as tracer:
        for i in range(n):
            with tracer.step(i, mode="eager"):
                run_one_decode_step()
    tracer.trace.save("run.stepscope")

Per step: host window (CUPTI clock, integer ns), NVML clocks/power/energy/throttle
reasons; over the capture: kernels, launch API calls, copies, sets, and PM-sampled
DRAM bytes. Records belong to a step through the correlation id of their launch
call, never by timestamps alone (see ``assign_steps``).
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from stepscope.analysis.trace import TABLES, Trace, table_from_rows
from stepscope.analysis.trace.steps import assign_steps

from ..errors import CaptureError
from .environment import describe_host, loaded_libraries


def _synchronize():
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()
        return
    from cuda.bindings import runtime
    err, = runtime.cudaDeviceSynchronize()
    if int(err) != 0:
        raise CaptureError(f"cudaDeviceSynchronize failed: {err}")


def _prime():
    """One tiny memset and a synchronise right after CUPTI is enabled: the first CUDA
    call after enabling stalls ~15 ms (seen on an H100), and it must not be a step's."""
    try:
        from cuda.bindings import runtime
        err, ptr = runtime.cudaMalloc(4)
        if int(err) == 0:
            runtime.cudaMemset(ptr, 0, 4)
            runtime.cudaDeviceSynchronize()
            runtime.cudaFree(ptr)
    except Exception:  # noqa: BLE001 - priming is best effort; steps still record the stall
        pass


def cupti_holder() -> str | None:
    """Which other CUPTI client is active in this process, if one can be seen."""
    if Tracer._active is not None:
        return "another stepscope Tracer is running in this process"
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.autograd.profiler._is_profiler_enabled:
                return "torch.profiler (Kineto) is profiling in this process"
        except AttributeError:
            pass
    inj = os.environ.get("CUDA_INJECTION64_PATH", "")
    if inj:
        tool = "Nsight Compute" if "compute" in inj.lower() else "Nsight Systems" if "nsys" in inj.lower() \
            or "systems" in inj.lower() else "a CUDA injection tool"
        return f"{tool} is attached (CUDA_INJECTION64_PATH={inj})"
    return None


class Tracer:
    """Trace steps of a CUDA workload into a :class:`stepscope.analysis.trace.Trace`."""

    _active = None   # the Tracer holding CUPTI in this process

    def __init__(self, device: int = 0, dram: bool = True, dram_interval_ns: int = 20_000,
                 nvml: bool = True, sync: bool = True, flush_every: int = 0,
                 drain_every: int = 0, warn=None):
        self.device = device
        self.want_dram = dram
        self.dram_interval_ns = dram_interval_ns
        self.want_nvml = nvml
        self.sync = sync
        # Steps between activity flushes / PM drains; 0: only at stop. Measured on an
        # H100 (benchmarks/stall_probe): a flush between steps makes the next step's
        # first CUDA call stall ~15 ms, so the default never flushes mid-capture.
        self.flush_every = flush_every
        self.drain_every = drain_every
        self.warn = warn or (lambda msg: print(f"stepscope: warning: {msg}", file=sys.stderr))
        self.meta: dict = {}
        self._steps: list[dict] = []
        self._trace: Trace | None = None
        self._activity = self._dram = self._nvml = None
        self._cupti = None
        self.running = False

    # -- lifecycle ----------------------------------------------------------
    def __enter__(self) -> Tracer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        holder = cupti_holder()
        if holder:
            raise CaptureError(f"CUPTI is already in use: {holder}; one CUPTI client per process.")
        try:
            from cupti import cupti
        except ImportError as e:
            raise CaptureError(f"cupti-python is not installed or cannot load libcupti ({e}).") from None
        from .activity import ActivitySession
        from .pm import DramSampler
        self._cupti = cupti
        if self.want_nvml:
            from .nvml import Nvml
            try:
                self._nvml = Nvml(self.device)
            except Exception as e:  # noqa: BLE001
                raise CaptureError(f"NVML cannot open GPU {self.device}: {e}") from None
            self.meta["gpu"] = self._nvml.describe()
        self._activity = ActivitySession()
        self._activity.start()
        Tracer._active = self
        self._dram = DramSampler(self.device, self.dram_interval_ns)
        if self.want_dram:
            why = self._dram.start()
            if why:
                self.warn(f"DRAM counters unavailable, capture goes on without them: {why}")
        else:
            self._dram.status = "disabled by the caller"
        _prime()
        self.meta["capture"] = {"start_ns": cupti.get_timestamp(), "device": self.device,
                                "dram_interval_ns": self.dram_interval_ns, "sync": self.sync}
        self.running = True

    @contextmanager
    def step(self, index: int, mode: str = "default"):
        """One step: host window [enter, exit after device synchronise] on CUPTI's clock."""
        if not self.running:
            raise CaptureError("Tracer.step() was called outside a started Tracer.")
        get_ts = self._cupti.get_timestamp
        before = self._nvml.sample() if self._nvml else {}
        buffers = self._activity.buffers_completed
        start_ns = get_ts()
        yield
        if self.sync:
            _synchronize()
        end_ns = get_ts()
        after = self._nvml.sample() if self._nvml else {}
        row = {"index": int(index), "mode": mode, "start_ns": start_ns, "end_ns": end_ns,
               "cupti_buffers_completed": self._activity.buffers_completed - buffers}
        for k in ("sm_clock_mhz", "mem_clock_mhz", "power_mw", "throttle_reasons", "temperature_c"):
            row[k] = after.get(k, -1)
        e0, e1 = before.get("energy_mj", -1), after.get("energy_mj", -1)
        row["energy_mj"] = e1 - e0 if e0 >= 0 and e1 >= 0 else -1
        # Reasons seen at either end of the window (NVML's reads sit outside it).
        t0, t1 = before.get("throttle_reasons", -1), after.get("throttle_reasons", -1)
        row["throttle_reasons"] = (t0 | t1) if t0 >= 0 and t1 >= 0 else max(t0, t1)
        self._steps.append(row)
        # Between steps, outside the window: hand back full buffers, drain PM samples.
        n = len(self._steps)
        if self.flush_every and n % self.flush_every == 0:
            self._cupti.activity_flush_all(0)
        if self.drain_every and n % self.drain_every == 0:
            self._dram.drain()

    def stop(self) -> Trace:
        if not self.running:
            return self._trace
        self.running = False
        _synchronize()
        self._activity.stop()
        Tracer._active = None
        dropped = self._activity.dropped_records()
        pm = self._dram.stop()
        trace = Trace()
        cols = self._activity.collect(trace.intern)
        for t in ("kernels", "api", "memcpy", "memset"):
            trace.tables[t] = table_from_rows(t, cols[t])
        trace.tables["pm"] = table_from_rows("pm", pm)
        steps = sorted(self._steps, key=lambda r: r["start_ns"])
        rows = {c: [] for c in TABLES["steps"]}
        for r in steps:
            for c in TABLES["steps"]:
                rows[c].append(trace.intern(r[c]) if c == "mode" else r[c])
        trace.tables["steps"] = table_from_rows("steps", rows)
        unattributed = assign_steps(trace)
        from .activity import demangle
        trace.strings = demangle(trace.strings)   # one-to-one: ids stay valid
        trace.__dict__.pop("_index", None)
        cap = self.meta["capture"]
        cap["end_ns"] = self._cupti.get_timestamp()
        cap["dropped_records"] = dropped
        cap["cupti_buffers"] = self._activity.buffers_completed
        cap["other_records"] = cols["_other"]
        cap["dram_status"] = self._dram.status
        cap["pm_overflows"] = self._dram.overflows
        cap["pm_invalid_samples"] = self._dram.invalid_samples
        cap["pm_truncated_decodes"] = self._dram.truncated
        cap.update(unattributed)
        host = describe_host()
        host["libraries"] = loaded_libraries("libcupti", "libcudart", "libcuda", "libnvidia-ml")
        self.meta["host"] = host
        trace.meta = self.meta
        if self._nvml:
            self._nvml.close()
        if dropped:
            self.warn(f"CUPTI dropped {dropped} activity records: the trace is incomplete "
                      "(recorded as capture.dropped_records).")
        if self._dram.overflows or self._dram.truncated:
            self.warn(f"PM sampling: {self._dram.status}")
        self._trace = trace
        return trace

    @property
    def trace(self) -> Trace:
        if self.running:
            raise CaptureError("the trace is complete only after the Tracer stops.")
        return self._trace
