"""Exact DRAM bytes per kernel: a counter pass with CUPTI's range profiler.

cupti-python 13.4 builds range-profiler config images and evaluates counter data
(``cupti.profiler_host``) but binds none of the device-side calls that collect them
(docs/dram-exact-path.md). This module calls those from ``libcupti`` itself with
``ctypes``: the parameter structs below are copied field for field from CUDA 13's
``cupti_range_profiler.h`` (each ``STRUCT_SIZE`` is, as there, the end of its last field).

The pass: auto range (one range per kernel launch, in launch order), kernel replay
(CUPTI replays a kernel when the metrics need more passes; the two DRAM sums need one),
cache control none (the L2 keeps what the previous kernel left, as in the real step;
ncu's ``--cache-control none``). Kernels are serialised while it runs, and it is never
timed: it runs on a step of its own, after the traced steps, with tracing and PM sampling
off (one profiler per context).

What it gives: auto ranges are named by index ("0", "1", ...), so ranges pair with a
traced step's kernels by order (``analysis.trace.kernel_dram``). Writes are counted when
they reach DRAM: a kernel's stores sit in L2 until evicted, so part of a kernel's writes
lands on the kernels after it (64 MiB copied: 53.6 MiB written during the copy, the rest
later; the same convention as ncu's ``--cache-control none``). A CUDA-graph replay is
rejected (``cuptiRangeProfilerStop``: INVALID_PARAMETER on an H100, and the context could
not be profiled again): graphs are profiled through the same kernels launched eagerly.
"""
from __future__ import annotations

import ctypes
import time
from ctypes import POINTER, Structure, c_char_p, c_int, c_size_t, c_uint8, c_uint16, c_uint32, c_void_p

import numpy as np

METRICS = ("dram__bytes_read.sum", "dram__bytes_write.sum")
#: Sectors (32 bytes) the SMs wrote into L2: the bytes a kernel writes, whenever they reach
#: DRAM (asked for too; a chip without it gets the DRAM metrics alone).
L2_WRITE = "lts__t_sectors_srcunit_tex_op_write.sum"
SECTOR_BYTES = 32
AUTO_RANGE, KERNEL_REPLAY = 1, 2            # CUpti_ProfilerRange, CUpti_ProfilerReplayMode
CACHE_CONTROL = {"none": 0, "all": 1, "l2": 2}     # CUpti_CacheControl_Mode


class CounterPassError(RuntimeError):
    """The counter pass could not run; the message says which call failed and why."""


def _struct(name: str, fields: list) -> type:
    head = [("structSize", c_size_t), ("pPriv", c_void_p)]
    cls = type(name, (Structure,), {"_fields_": head + fields})
    last = getattr(cls, fields[-1][0])
    cls.STRUCT_SIZE = last.offset + last.size
    return cls


_Enable = _struct("Enable", [("ctx", c_void_p), ("pRangeProfilerObject", c_void_p), ("cacheControlMode", c_int)])
_Object = _struct("Object", [("pRangeProfilerObject", c_void_p)])          # Disable, Start
_SetConfig = _struct("SetConfig", [
    ("pRangeProfilerObject", c_void_p), ("configSize", c_size_t), ("pConfig", c_void_p),
    ("counterDataImageSize", c_size_t), ("pCounterDataImage", c_void_p), ("range", c_int),
    ("replayMode", c_int), ("maxRangesPerPass", c_size_t), ("numNestingLevels", c_uint16),
    ("minNestingLevel", c_uint16), ("passIndex", c_size_t), ("targetNestingLevel", c_uint16)])
_Stop = _struct("Stop", [("pRangeProfilerObject", c_void_p), ("passIndex", c_size_t),
                         ("targetNestingLevel", c_size_t), ("isAllPassSubmitted", c_uint8)])
_Decode = _struct("Decode", [("pRangeProfilerObject", c_void_p), ("numOfRangeDropped", c_size_t)])
_DataSize = _struct("DataSize", [
    ("pRangeProfilerObject", c_void_p), ("pMetricNames", POINTER(c_char_p)), ("numMetrics", c_size_t),
    ("maxNumOfRanges", c_size_t), ("maxNumRangeTreeNodes", c_uint32), ("counterDataSize", c_size_t)])
_ImageInit = _struct("ImageInit", [("pRangeProfilerObject", c_void_p), ("counterDataSize", c_size_t),
                                   ("pCounterData", c_void_p)])
_DataInfo = _struct("DataInfo", [("pCounterDataImage", c_void_p), ("counterDataImageSize", c_size_t),
                                 ("numTotalRanges", c_size_t)])
_RangeInfo = _struct("RangeInfo", [("pCounterDataImage", c_void_p), ("counterDataImageSize", c_size_t),
                                   ("rangeIndex", c_size_t), ("rangeDelimiter", c_char_p), ("rangeName", c_char_p)])


def _loaded(soname: str) -> str:
    """Path of an already-loaded library (the libcupti cupti-python loaded: one per process)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if soname in path.rsplit("/", 1)[-1]:
                return path
    return soname


class _Lib:
    def __init__(self):
        import cupti.cupti  # noqa: F401 - loads the libcupti (and nvperf) this process uses
        self.cupti = ctypes.CDLL(_loaded("libcupti.so"))
        self.cuda = ctypes.CDLL(_loaded("libcuda.so"))

    def call(self, fn: str, params) -> None:
        if isinstance(params, Structure):
            params.structSize = params.STRUCT_SIZE
        rc = getattr(self.cupti, fn)(ctypes.byref(params))
        if rc:
            msg = c_char_p()
            self.cupti.cuptiGetResultString(rc, ctypes.byref(msg))
            raise CounterPassError(f"{fn} failed: CUPTI error {rc} ({(msg.value or b'?').decode()})")

    def current_context(self) -> int:
        ctx = c_void_p()
        rc = self.cuda.cuCtxGetCurrent(ctypes.byref(ctx))
        if rc or not ctx.value:
            raise CounterPassError(f"no current CUDA context (cuCtxGetCurrent returned {rc})")
        return ctx.value


def demangle(name: str) -> str:
    """A C++ symbol demangled by libstdc++'s ``__cxa_demangle`` (CUPTI's activity records
    carry demangled names); the name itself when it is not a mangled symbol."""
    if not name.startswith("_Z"):
        return name
    try:
        lib = ctypes.CDLL("libstdc++.so.6")
    except OSError:
        return name
    fn = lib.__cxa_demangle
    fn.restype = c_void_p
    status = c_int()
    ptr = fn(name.encode(), None, None, ctypes.byref(status))
    if status.value or not ptr:
        return name
    try:
        return ctypes.string_at(ptr).decode(errors="replace")
    finally:
        ctypes.CDLL(None).free(c_void_p(ptr))


def _chip_name(device: int) -> str:
    import cupti.cupti as cc
    p = cc.DeviceGetChipNameParams()
    p.struct_size = cc.DEVICE_GET_CHIP_NAME_PARAMS_STRUCT_SIZE
    p.device_index = device
    cc.device_get_chip_name(p.ptr)
    return p.p_chip_name


def _profiler_initialize() -> None:
    import cupti.cupti as cc
    p = cc.ProfilerInitializeParams()
    p.struct_size = cc.PROFILER_INITIALIZE_PARAMS_STRUCT_SIZE
    cc.profiler_initialize(p.ptr)


def counter_pass(fn, sync, device: int = 0, max_ranges: int = 8192, cache_control: str = "none",
                 l2_writes: bool = True) -> dict:
    """Run ``fn()`` once under the range profiler; return per range (one per kernel, in launch
    order): ``names``, ``dram_read_bytes``, ``dram_write_bytes``, ``l2_write_bytes`` (int64;
    -1 when the chip has no ``L2_WRITE`` metric or ``l2_writes`` is off), and ``dropped``
    (ranges the profiler lost), ``passes``, ``chip``, ``metrics``, ``elapsed_s``,
    ``cache_control``."""
    from cupti import profiler_host
    t0 = time.perf_counter()
    lib = _Lib()
    sync()
    _profiler_initialize()
    chip = _chip_name(device)
    host = profiler_host.ProfilerHost(chip, profiler_host.ProfilerType.RANGE_PROFILER)
    host.initialize()
    metrics = list(METRICS) + ([L2_WRITE] if l2_writes else [])
    try:
        config = host.create_config_image(metrics)
    except ValueError:                  # not on this chip: the DRAM sums alone
        metrics = list(METRICS)
        config = host.create_config_image(metrics)
    passes = int(profiler_host.get_num_of_passes(config))
    en = _Enable(ctx=lib.current_context(), cacheControlMode=CACHE_CONTROL[cache_control])
    lib.call("cuptiRangeProfilerEnable", en)
    obj = en.pRangeProfilerObject
    try:
        names = (c_char_p * len(metrics))(*[m.encode() for m in metrics])
        ds = _DataSize(pRangeProfilerObject=obj, pMetricNames=names, numMetrics=len(metrics),
                       maxNumOfRanges=max_ranges, maxNumRangeTreeNodes=max_ranges)
        lib.call("cuptiRangeProfilerGetCounterDataSize", ds)
        image = np.zeros(ds.counterDataSize, np.uint8)
        lib.call("cuptiRangeProfilerCounterDataImageInitialize",
                 _ImageInit(pRangeProfilerObject=obj, counterDataSize=len(image), pCounterData=image.ctypes.data))
        lib.call("cuptiRangeProfilerSetConfig", _SetConfig(
            pRangeProfilerObject=obj, configSize=len(config), pConfig=config.ctypes.data,
            counterDataImageSize=len(image), pCounterDataImage=image.ctypes.data, range=AUTO_RANGE,
            replayMode=KERNEL_REPLAY, maxRangesPerPass=max_ranges, numNestingLevels=1, minNestingLevel=1,
            passIndex=0, targetNestingLevel=1))
        lib.call("cuptiRangeProfilerStart", _Object(pRangeProfilerObject=obj))
        fn()
        sync()
        stop = _Stop(pRangeProfilerObject=obj)
        lib.call("cuptiRangeProfilerStop", stop)
        dec = _Decode(pRangeProfilerObject=obj)
        lib.call("cuptiRangeProfilerDecodeData", dec)
        info = _DataInfo(pCounterDataImage=image.ctypes.data, counterDataImageSize=len(image))
        lib.call("cuptiRangeProfilerGetCounterDataInfo", info)
        n = int(info.numTotalRanges)
        out_names, vals = [], np.zeros((n, len(metrics)))
        for i in range(n):
            ri = _RangeInfo(pCounterDataImage=image.ctypes.data, counterDataImageSize=len(image),
                            rangeIndex=i, rangeDelimiter=b"/")
            lib.call("cuptiRangeProfilerCounterDataGetRangeInfo", ri)
            out_names.append((ri.rangeName or b"").decode(errors="replace"))
            vals[i] = host.evaluate_metric_values(image, metrics, i)
    except BaseException:
        try:        # the first failure is the one to report (after a rejected Stop, Disable fails too)
            lib.call("cuptiRangeProfilerDisable", _Object(pRangeProfilerObject=obj))
        except CounterPassError:
            pass
        raise
    else:
        lib.call("cuptiRangeProfilerDisable", _Object(pRangeProfilerObject=obj))
    finally:
        host.deinitialize()
    return {"names": [demangle(x) for x in out_names], "raw_names": out_names[:3],
            "dram_read_bytes": np.rint(vals[:, 0]).astype(np.int64),
            "dram_write_bytes": np.rint(vals[:, 1]).astype(np.int64),
            "l2_write_bytes": np.rint(vals[:, 2] * SECTOR_BYTES).astype(np.int64) if len(metrics) > 2
            else np.full(n, -1, np.int64), "metrics": metrics, "dropped": int(dec.numOfRangeDropped),
            "all_passes_submitted": bool(stop.isAllPassSubmitted), "passes": passes, "chip": chip,
            "cache_control": cache_control, "elapsed_s": round(time.perf_counter() - t0, 3)}



def collect(trace, candidates: list, sync, passes: int = 2, min_matched: float = 0.95, warn=None) -> dict:
    """Run ``passes`` counter passes with the first of ``candidates`` (``(label, fn)`` pairs,
    each running one step) whose ranges pair with at least ``min_matched`` of every traced
    step's kernels, and attach them (``analysis.trace.kernel_dram.attach``). Never give a
    CUDA-graph replay: the range profiler rejects it (Stop and Disable fail) and the
    context then cannot be profiled again in the process. Never raises: failures go to
    ``meta.capture.kernel_dram`` and ``warn``."""
    import sys

    from stepscope.analysis.trace.kernel_dram import attach
    say = warn or (lambda msg: print(f"stepscope: warning: {msg}", file=sys.stderr))
    meta = trace.meta.setdefault("capture", {})
    tried = []
    for label, fn in candidates:
        try:
            got = [counter_pass(fn, sync) for _ in range(max(1, passes))]
        except Exception as e:  # noqa: BLE001 - no counters; the trace itself is kept
            tried.append({"step": label, "error": f"{type(e).__name__}: {e}"})
            continue
        summary = attach(trace, got)
        worst = min((m / k for m, k in zip(summary["matched"], summary["kernels"]) if k), default=0.0)
        tried.append({"step": label, "ranges": summary["ranges"], "worst_matched_fraction": round(worst, 4)})
        if worst >= min_matched:
            info = {k: got[0][k] for k in ("passes", "chip", "cache_control")}
            meta["kernel_dram"].update(
                status="ok", source="CUPTI range profiler, auto range (a range per kernel), kernel replay",
                metrics=got[0]["metrics"], counter_step=label, tried=tried, counter_passes=len(got),
                dropped_ranges=[g["dropped"] for g in got], elapsed_s=[g["elapsed_s"] for g in got],
                metric_passes=info["passes"], chip=info["chip"], cache_control=info["cache_control"])
            return meta["kernel_dram"]
    trace.tables["kernel_dram"] = {c: v[:0] for c, v in trace["kernel_dram"].items()}
    meta["kernel_dram"] = {"status": "failed", "tried": tried}
    say(f"exact DRAM counter pass failed, the trace has no kernel_dram table: {tried}")
    return meta["kernel_dram"]


__all__ = ["counter_pass", "collect", "demangle", "CounterPassError", "METRICS", "L2_WRITE"]
