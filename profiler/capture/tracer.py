"""The capture API: ``Tracer`` wraps steps of any CUDA workload.

    with Tracer(device=0) as tracer:
        for i in range(n):
            with tracer.step(i, mode="eager"):
                run_one_decode_step()
    tracer.trace.save("run.stepscope")

Per step: the host window (CUPTI clock, integer ns); over the capture: kernels, copies,
sets, runtime/driver API calls (``apis="host"``: every call that can take real time;
``"launch"``: launches and synchronisations only), host spans of the framework
(opt-in, ``host_spans=True``: ``nn.Module`` forwards; torch functions with ``host_ops=True``;
measured on an H100 eager-static step, module hooks add +21 points to the default tracer,
benchmarks/results/capture_parts-h100.json), PM-sampled DRAM bytes,
and NVML sampled by a background thread (per-step clocks, power, energy and throttle
reasons come from those samples: ``step()`` never waits for NVML). Records belong to a
step through the correlation id of their launch call, never by timestamps alone (see
``assign_steps``).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from contextlib import contextmanager

from stepscope.analysis.trace import TABLES, Trace, table_from_rows
from stepscope.analysis.trace.nvml_steps import per_step, power_integral_mj
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


def host_clock(cupti) -> dict:
    """Host timestamps (step windows, host spans, NVML samples) come from ``time.time_ns``
    (CLOCK_REALTIME, ~0.1 us a call); CUPTI's records are on the same clock, and
    ``cupti.get_timestamp`` costs ~10 us a call from Python on the lent H100s. Recorded:
    the median of CUPTI's clock minus the host clock read right after it."""
    diffs = [cupti.get_timestamp() - time.time_ns() for _ in range(21)]
    return {"source": "time.time_ns (CLOCK_REALTIME)", "cupti_minus_host_ns_median": int(statistics.median(diffs))}


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
                 drain_every: int = 0, warn=None, apis: str = "host", modules=None,
                 host_spans: bool = False, host_ops: bool = False,
                 nvml_period_ns: int = 10_000_000, kernel_records: str = "concurrent",
                 stack_period_ns: int = 0):
        self.device = device
        self.want_dram = dram
        self.dram_interval_ns = dram_interval_ns
        self.want_nvml = nvml
        self.nvml_period_ns = nvml_period_ns
        self.sync = sync
        self.apis = apis
        self.kernel_records = kernel_records
        self.stack_period_ns = stack_period_ns   # 0: no stack sampling (capture/stacks.py)
        self._stacks = None
        self.modules = modules
        self.want_spans = host_spans
        self.host_ops = host_ops
        # Steps between activity flushes / PM drains; 0: only at stop. Measured on an
        # H100 (benchmarks/stall_probe): a flush between steps makes the next step's
        # first CUDA call stall ~15 ms, so the default never flushes mid-capture.
        self.flush_every = flush_every
        self.drain_every = drain_every
        self.warn = warn or (lambda msg: print(f"stepscope: warning: {msg}", file=sys.stderr))
        self.meta: dict = {}
        self._steps: list[dict] = []
        self._trace: Trace | None = None
        self._activity = self._dram = self._nvml = self._sampler = self._spans = None
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
            from .nvml import Nvml, NvmlSampler
            try:
                self._nvml = Nvml(self.device)
            except Exception as e:  # noqa: BLE001
                raise CaptureError(f"NVML cannot open GPU {self.device}: {e}") from None
            self.meta["gpu"] = self._nvml.describe()
            self._energy_start = (time.time_ns(), self._nvml.energy_mj())
            self._sampler = NvmlSampler(self._nvml, time.time_ns, self.nvml_period_ns)
            self._sampler.start()
        self._activity = ActivitySession(self.apis, self.kernel_records)
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
        if self.want_spans:
            from .host import HostSpans
            self._spans = HostSpans(time.time_ns, self.modules or (), ops=self.host_ops)
            if not self._spans.start():
                self._spans = None
        if self.stack_period_ns:
            from .stacks import StackSampler
            self._stacks = StackSampler(time.time_ns, self.stack_period_ns)
            self._stacks.start()
        self.meta["capture"] = {"start_ns": time.time_ns(), "device": self.device,
                                "host_clock": host_clock(cupti),
                                "dram_interval_ns": self.dram_interval_ns, "sync": self.sync,
                                "apis": self.apis, "kernel_records": self.kernel_records,
                                "host_spans": "modules" + (" and operators" if self.host_ops
                                                                              else "") if self._spans else "off",
                                "nvml_period_ns": self.nvml_period_ns if self._sampler else None}
        self.running = True

    @contextmanager
    def step(self, index: int, mode: str = "default"):
        """One step: host window [enter, exit after device synchronise] on CUPTI's clock."""
        if not self.running:
            raise CaptureError("Tracer.step() was called outside a started Tracer.")
        get_ts = time.time_ns
        buffers = self._activity.buffers_completed
        start_ns = get_ts()
        yield
        if self.sync:
            _synchronize()
        end_ns = get_ts()
        self._steps.append({"index": int(index), "mode": mode, "start_ns": start_ns, "end_ns": end_ns,
                            "cupti_buffers_completed": self._activity.buffers_completed - buffers})
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
        if self._spans:
            self._spans.stop()
        if self._stacks:
            self._stacks.stop()
        nvml_cols = self._sampler.stop() if self._sampler else None
        self._activity.stop()
        Tracer._active = None
        dropped = self._activity.dropped_records()
        pm = self._dram.stop()
        trace = Trace()
        cols = self._activity.collect(trace.intern)
        for t in ("kernels", "api", "memcpy", "memset"):
            trace.tables[t] = table_from_rows(t, cols[t])
        trace.tables["pm"] = table_from_rows("pm", pm)
        if self._spans:
            trace.tables["host_spans"] = table_from_rows("host_spans", self._spans.collect(trace.intern))
        if self._stacks:
            trace.tables["stack_samples"] = table_from_rows("stack_samples", self._stacks.collect(trace.intern))
        if nvml_cols:
            trace.tables["nvml"] = table_from_rows("nvml", nvml_cols)
        steps = sorted(self._steps, key=lambda r: r["start_ns"])
        rows = {c: [r.get(c, -1) if c != "mode" else trace.intern(r[c]) for r in steps] for c in TABLES["steps"]}
        trace.tables["steps"] = table_from_rows("steps", rows)
        trace.tables["steps"].update(per_step(trace["nvml"], trace["steps"]["start_ns"], trace["steps"]["end_ns"]))
        unattributed = assign_steps(trace)
        from .activity import demangle
        trace.strings = demangle(trace.strings)   # one-to-one: ids stay valid
        trace.__dict__.pop("_index", None)
        cap = self.meta["capture"]
        cap["end_ns"] = time.time_ns()
        cap["dropped_records"] = dropped
        cap["cupti_buffers"] = self._activity.buffers_completed
        cap["other_records"] = cols["_other"]
        if self.kernel_records == "graph":
            cap["untimed_graph_records"] = self._activity.untimed_graph_records
        if self._stacks:
            cap["stack_sampler"] = self._stacks.meta
        if self._activity.hw_trace_status:
            cap["hw_trace"] = self._activity.hw_trace_status
        cap["dram_status"] = self._dram.status
        cap["pm_overflows"] = self._dram.overflows
        cap["pm_invalid_samples"] = self._dram.invalid_samples
        cap["pm_truncated_decodes"] = self._dram.truncated
        if self._nvml:
            e0 = self._energy_start
            e1 = (time.time_ns(), self._nvml.energy_mj())
            # The slow energy counter, read at start and end only: a cross-check of the
            # energy integrated from the sampled power.
            cap["nvml_energy_counter"] = {"start_ns": e0[0], "end_ns": e1[0], "energy_mj": e1[1] - e0[1],
                                          "integrated_power_mj": int(round(float(power_integral_mj(
                                              trace["nvml"], [e0[0]], [e1[0]])[0])))}
        cap.update(unattributed)
        host = describe_host()
        host["libraries"] = loaded_libraries("libcupti", "libcudart", "libcuda", "libnvidia-ml")
        self.meta["host"] = host
        trace.meta = self.meta
        if self._nvml:
            self._nvml.close()
        if self.kernel_records in ("serial", "hw"):
            self.warn(f"kernel_records={self.kernel_records!r} is a cost probe: kernels of CUDA-graph replays "
                      "are not recorded, so the attribution of this trace is not meaningful "
                      "(profiler/capture/activity.KERNEL_RECORDS).")
        if self._activity.untimed_graph_records:
            self.warn(f"{self._activity.untimed_graph_records} graph-level records came without timestamps "
                      "and were left out (recorded as capture.untimed_graph_records).")
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
