"""CUPTI activity tracing: kernels, copies, sets, and runtime/driver API calls.

Two API sets: ``launch`` (launches, copies, sets, synchronisations: what the GPU-side
attribution needs) and ``host`` (every runtime and driver call that can take real time:
the launch set plus module and library loads, allocations, events, graphs, streams;
chosen by name; the trivial getters and queries torch calls around every op are left out).

The buffer callback only appends CUPTI's parsed records to a list; conversion to
columns happens once, in :meth:`ActivitySession.collect`, after the last step.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import subprocess

import numpy as np

from stepscope.analysis.trace.model import DOMAIN_DRIVER, DOMAIN_RUNTIME

from ..errors import CuptiBusyError

#: API calls recorded, by name (versions and _ptsz/_ptds suffixes stripped):
#: kernel and graph launches, copies and sets, and host synchronisations.
_RUNTIME_RE = re.compile(
    r"^cuda(Launch(Kernel|KernelExC|CooperativeKernel)?|GraphLaunch|Memcpy\w*|Memset\w*|"
    r"(Device|Stream|Event|Thread)Synchronize)$")
_DRIVER_RE = re.compile(
    r"^cu(LaunchKernel(Ex)?|LaunchCooperativeKernel|GraphLaunch|Memcpy\w*|Memset\w*|"
    r"(Ctx|Stream|Event)Synchronize)$")
_SUFFIX_RE = re.compile(r"(_v\d+)?(_ptsz|_ptds)?(_v\d+)?$")
#: Added in the ``host`` set: calls that can take real time inside a step besides
#: launches and synchronisations. An allow-list, so that no callback is paid for the
#: getters and queries torch calls around every op.
_HOST_RE = re.compile(
    r"^cu(da)?(Module(Load|Unload)\w*|Library(Load|Unload)\w*|Link(Create|AddData|AddFile|Complete)\w*|"
    r"Malloc\w*|Free\w*|MemAlloc\w*|MemFree\w*|MemCreate|MemRelease|MemMap|MemUnmap|MemAddress(Reserve|Free)|"
    r"MemSetAccess|MemHostAlloc|HostAlloc|MemHostRegister|HostRegister|MemPool\w*|"
    r"Event(Record\w*|Create\w*|Destroy\w*)|StreamWaitEvent|"
    r"Graph(Instantiate\w*|Upload|ExecUpdate\w*|Destroy|ExecDestroy)|"
    r"Stream(BeginCapture\w*|EndCapture|Create\w*|Destroy\w*))$")

BUFFER_BYTES = 32 << 20

#: How kernels are recorded: ``concurrent`` (CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, the
#: default: one record per kernel, kernels may overlap), ``graph`` (KIND_GRAPH_TRACE beside the
#: concurrent-kernel records: one record per CUDA-graph replay in place of one per node, for
#: graph-mode workloads, whose graph must be instantiated inside ``graph_trace_instantiation``;
#: each replay enters the kernels table as one row named ``GRAPH_RECORD_NAME``), and two cost
#: probes whose traces the attribution cannot use: ``serial`` (KIND_KERNEL: CUPTI serialises
#: kernels, and records NO kernels of CUDA-graph replays: 0 in
#: traces/qwen2.5-7b-ctx2048-graph-serial-r10-h200.stepscope) and ``hw`` (concurrent, after
#: ``cuptiActivityEnableHWTrace``; the outcome is recorded: ERROR_NOT_SUPPORTED on the H100 and
#: H200). The "graph_level" arm of benchmarks/results/capture_parts-*.json enabled
#: KIND_GRAPH_TRACE for a graph instantiated before, which gives no record at all: its cost is
#: that of recording nothing (withdrawn; graph-level records measured: results/graph-level-*).
KERNEL_RECORDS = ("concurrent", "serial", "hw", "graph", "none")
#: The name of a graph-level record (``kernel_records="graph"``) in the kernels table.
GRAPH_RECORD_NAME = "CUDA graph replay (graph-level record; nodes not traced)"


@contextlib.contextmanager
def graph_trace_instantiation():
    """CUDA graphs instantiated inside this block give graph-level records when a later
    ``ActivitySession(kernel_records="graph")`` traces their replays. CUPTI gives
    KIND_GRAPH_TRACE records only for graph execs instantiated while the kind was enabled
    (H100, benchmarks/results/graph-trace-probe-h100.json: none for a graph instantiated
    before, five of five for one instantiated after); the kind is on here for the capture
    only, so untraced replays are not traced."""
    from cupti import cupti
    try:
        cupti.activity_register_callbacks(lambda: (1 << 20, 0), lambda records: None)
        cupti.activity_enable(cupti.ActivityKind.GRAPH_TRACE)
    except cupti.cuptiError as e:
        raise CuptiBusyError(_busy_message(e)) from None
    try:
        yield
    finally:
        cupti.activity_flush_all(1)
        cupti.activity_disable(cupti.ActivityKind.GRAPH_TRACE)


def _base_name(member: str) -> str:
    return _SUFFIX_RE.sub("", member.split("__")[-1])


def launch_cbids(cupti, apis: str = "launch") -> dict[tuple[int, int], str]:
    """(domain, cbid) -> API name for every API call recorded: ``apis`` is ``none``,
    ``launch`` (launch-type calls and synchronisations) or ``host`` (those and ``_HOST_RE``)."""
    if apis == "none":
        return {}
    out = {}
    for domain, enum, pattern in ((DOMAIN_RUNTIME, cupti.RuntimeApiTraceCbid, _RUNTIME_RE),
                                  (DOMAIN_DRIVER, cupti.DriverApiTraceCbid, _DRIVER_RE)):
        for member in enum:
            base = _base_name(member.name)
            if base in ("INVALID", "SIZE", "FORCE_INT"):
                continue
            if pattern.match(base) or (apis == "host" and _HOST_RE.match(base)):
                out[(domain, int(member))] = base
    return out


class ActivitySession:
    """Enable CUPTI activity kinds, gather records, convert them to columns."""

    def __init__(self, apis: str = "launch", kernel_records: str = "concurrent"):
        from cupti import cupti
        if kernel_records not in KERNEL_RECORDS:
            raise ValueError(f"kernel_records must be one of {', '.join(KERNEL_RECORDS)}")
        self.cupti = cupti
        self.records: list = []
        self.buffers_completed = 0
        self.cbid_names = launch_cbids(cupti, apis)
        K = cupti.ActivityKind
        first = {"concurrent": [K.CONCURRENT_KERNEL], "hw": [K.CONCURRENT_KERNEL], "serial": [K.KERNEL], "none": [],
                 # graph-level records replace the per-node records of the replays of graphs
                 # instantiated under GRAPH_TRACE; kernels launched outside a graph keep theirs
                 # (benchmarks/results/graph-trace-probe-*.json)
                 "graph": [K.CONCURRENT_KERNEL, K.GRAPH_TRACE]}[kernel_records]
        self.kernel_records = kernel_records
        # "none": a timing-only session (`record --repeat`): memory copies only, no kernels
        self.kinds = [K.MEMCPY] if kernel_records == "none" else [*first, K.MEMCPY, K.MEMSET]
        self.hw_trace_status = None
        self.untimed_graph_records = 0
        self.enabled = False

    # CUPTI calls these on its own thread or inside a flush: keep them tiny.
    def _requested(self):
        return BUFFER_BYTES, 0

    def _completed(self, records):
        self.buffers_completed += 1
        self.records.extend(records)

    def start(self) -> None:
        c = self.cupti
        try:
            c.activity_register_callbacks(self._requested, self._completed)
            if self.kernel_records == "hw":
                try:
                    c.activity_enable_hw_trace(1)
                    self.hw_trace_status = "enabled"
                except c.cuptiError as e:   # ERROR_NOT_SUPPORTED on the H100 and H200 (measured)
                    self.hw_trace_status = f"not enabled: {e}"
            for k in self.kinds:
                c.activity_enable(k)
        except c.cuptiError as e:
            raise CuptiBusyError(_busy_message(e)) from None
        for (domain, cbid) in self.cbid_names:
            try:
                if domain == DOMAIN_RUNTIME:
                    c.activity_enable_runtime_api(cbid, 1)
                else:
                    c.activity_enable_driver_api(cbid, 1)
            except c.cuptiError:
                pass  # an API this driver does not know; nothing to record
        self.enabled = True

    def flush(self) -> None:
        self.cupti.activity_flush_all(1)

    def stop(self) -> None:
        if not self.enabled:
            return
        c = self.cupti
        self.flush()
        for k in self.kinds:
            c.activity_disable(k)
        if self.hw_trace_status == "enabled":
            c.activity_enable_hw_trace(0)
        for (domain, cbid) in self.cbid_names:
            try:
                (c.activity_enable_runtime_api if domain == DOMAIN_RUNTIME
                 else c.activity_enable_driver_api)(cbid, 0)
            except c.cuptiError:
                pass
        self.enabled = False

    def dropped_records(self) -> int:
        """CUPTI's count of records it could not store (buffers full)."""
        out = np.zeros(1, np.uint64)
        try:
            self.cupti.activity_get_num_dropped_records(0, 0, out.ctypes.data)
        except Exception:  # noqa: BLE001 - report as unknown, never as zero
            return -1
        return int(out[0])

    # -- conversion ---------------------------------------------------------
    def collect(self, intern) -> dict[str, dict[str, list]]:
        """Sort the gathered records into column lists. ``intern`` maps str -> int."""
        K = self.cupti.ActivityKind
        kern = {c: [] for c in ("start_ns", "end_ns", "name", "grid_x", "grid_y", "grid_z",
                                "block_x", "block_y", "block_z", "registers",
                                "static_smem_bytes", "dynamic_smem_bytes", "stream",
                                "correlation", "graph_id", "graph_node_id")}
        api = {c: [] for c in ("start_ns", "end_ns", "name", "cbid", "domain", "thread_id",
                               "correlation")}
        cpy = {c: [] for c in ("start_ns", "end_ns", "bytes", "copy_kind", "stream",
                               "correlation", "graph_id")}
        mset = {c: [] for c in ("start_ns", "end_ns", "bytes", "stream", "correlation",
                                "graph_id")}
        other = 0
        for r in self.records:
            k = r.kind
            if k == K.CONCURRENT_KERNEL or k == K.KERNEL:
                for c, v in (("start_ns", r.start), ("end_ns", r.end), ("name", intern(r.name)),
                             ("grid_x", r.grid_x), ("grid_y", r.grid_y), ("grid_z", r.grid_z),
                             ("block_x", r.block_x), ("block_y", r.block_y),
                             ("block_z", r.block_z), ("registers", r.registers_per_thread),
                             ("static_smem_bytes", r.static_shared_memory),
                             ("dynamic_smem_bytes", r.dynamic_shared_memory),
                             ("stream", r.stream_id), ("correlation", r.correlation_id),
                             ("graph_id", r.graph_id), ("graph_node_id", r.graph_node_id)):
                    kern[c].append(v)
            elif k == K.GRAPH_TRACE:
                if r.start == 0 and r.end == 0:   # CUPTI: no timestamps could be collected
                    self.untimed_graph_records += 1
                    continue
                for c, v in (("start_ns", r.start), ("end_ns", r.end), ("name", intern(GRAPH_RECORD_NAME)),
                             ("grid_x", 0), ("grid_y", 0), ("grid_z", 0), ("block_x", 0), ("block_y", 0),
                             ("block_z", 0), ("registers", 0), ("static_smem_bytes", 0),
                             ("dynamic_smem_bytes", 0), ("stream", r.stream_id),
                             ("correlation", r.correlation_id), ("graph_id", r.graph_id),
                             ("graph_node_id", 0)):
                    kern[c].append(v)
            elif k == K.RUNTIME or k == K.DRIVER:
                domain = DOMAIN_RUNTIME if k == K.RUNTIME else DOMAIN_DRIVER
                name = self.cbid_names.get((domain, r.cbid)) or _callback_name(self.cupti, domain, r.cbid)
                for c, v in (("start_ns", r.start), ("end_ns", r.end), ("name", intern(name)),
                             ("cbid", r.cbid), ("domain", domain), ("thread_id", r.thread_id),
                             ("correlation", r.correlation_id)):
                    api[c].append(v)
            elif k == K.MEMCPY:
                for c, v in (("start_ns", r.start), ("end_ns", r.end), ("bytes", r.bytes),
                             ("copy_kind", r.copy_kind), ("stream", r.stream_id),
                             ("correlation", r.correlation_id), ("graph_id", r.graph_id)):
                    cpy[c].append(v)
            elif k == K.MEMSET:
                for c, v in (("start_ns", r.start), ("end_ns", r.end), ("bytes", r.bytes),
                             ("stream", r.stream_id), ("correlation", r.correlation_id),
                             ("graph_id", r.graph_id)):
                    mset[c].append(v)
            else:
                other += 1
        self.records = []
        return {"kernels": kern, "api": api, "memcpy": cpy, "memset": mset, "_other": other}


def _callback_name(cupti, domain: int, cbid: int) -> str:
    d = cupti.CallbackDomain.RUNTIME_API if domain == DOMAIN_RUNTIME else cupti.CallbackDomain.DRIVER_API
    try:
        return _base_name(str(cupti.get_callback_name(d, cbid)))
    except Exception:  # noqa: BLE001
        return f"cbid{cbid}"


def _busy_message(err) -> str:
    return ("CUPTI is already in use in this process (torch.profiler/Kineto, Nsight Systems or "
            f"Compute, or another stepscope Tracer): {err}")


def demangle(names: list[str]) -> list[str]:
    """Demangle C++ symbols with c++filt when it is installed; else keep them."""
    tool = shutil.which("c++filt")
    if not tool or not any(n.startswith("_Z") for n in names):
        return names
    try:
        out = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True,
                             timeout=60, check=True).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return names
    return out[:len(names)] if len(out) >= len(names) else names
