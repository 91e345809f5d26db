"""NVML: the GPU's identity and peak bandwidth once, and a background sampler of clocks,
power, temperature and throttle reasons at a fixed rate, on CUPTI's clock, off the step
path (nothing in ``Tracer.step`` waits for NVML). The total-energy counter costs ~3 ms a
read on the lent H100s, so it is read only at the capture's start and end."""
from __future__ import annotations

import threading

#: Columns of one background sample, in ``Trace`` table order (after ``t_ns``).
SAMPLE_COLUMNS = ("sm_clock_mhz", "mem_clock_mhz", "power_mw", "temperature_c", "throttle_reasons")


class Nvml:
    def __init__(self, device: int = 0):
        import pynvml
        self.nv = pynvml
        pynvml.nvmlInit()
        self.h = pynvml.nvmlDeviceGetHandleByIndex(device)
        self._reasons = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            pynvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def _get(self, fn, *args, default=-1):
        try:
            return fn(self.h, *args)
        except self.nv.NVMLError:
            return default

    def describe(self) -> dict:
        nv = self.nv
        bus_bits = self._get(nv.nvmlDeviceGetMemoryBusWidth)
        max_mem_mhz = self._get(nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_MEM)
        peak = None
        if bus_bits > 0 and max_mem_mhz > 0:
            # Double data rate: two transfers per memory clock.
            peak = bus_bits // 8 * max_mem_mhz * 1_000_000 * 2
        name = self._get(nv.nvmlDeviceGetName, default="unknown")
        mem = self._get(nv.nvmlDeviceGetMemoryInfo, default=None)
        return {
            "name": name.decode() if isinstance(name, bytes) else name,
            "uuid": _s(self._get(nv.nvmlDeviceGetUUID, default="unknown")),
            "driver": _s(_try(nv.nvmlSystemGetDriverVersion, "unknown")),
            "cuda_driver_version": _try(nv.nvmlSystemGetCudaDriverVersion_v2, -1),
            "memory_bus_width_bits": bus_bits,
            "max_memory_clock_mhz": max_mem_mhz,
            "max_sm_clock_mhz": self._get(nv.nvmlDeviceGetMaxClockInfo, nv.NVML_CLOCK_SM),
            "peak_bytes_per_s": peak,
            "peak_source": "nvml" if peak else None,
            "memory_total_bytes": getattr(mem, "total", -1),
            "power_limit_mw": self._get(nv.nvmlDeviceGetEnforcedPowerLimit),
            "persistence_mode": self._get(nv.nvmlDeviceGetPersistenceMode),
        }

    def quick(self) -> tuple:
        """Clocks, power, temperature, throttle reasons (each ~1-2 us): ``SAMPLE_COLUMNS``."""
        nv = self.nv
        return (self._get(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_SM),
                self._get(nv.nvmlDeviceGetClockInfo, nv.NVML_CLOCK_MEM),
                self._get(nv.nvmlDeviceGetPowerUsage),
                self._get(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU),
                self._get(self._reasons))

    def energy_mj(self) -> int:
        """The total-energy counter (slow: ~3 ms a read on the lent H100s)."""
        return self._get(self.nv.nvmlDeviceGetTotalEnergyConsumption)

    def sample(self) -> dict:
        """Everything at once, energy included (for one-off reads, never per step)."""
        return {**dict(zip(SAMPLE_COLUMNS, self.quick())), "energy_mj": self.energy_mj()}

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except self.nv.NVMLError:
            pass


class NvmlSampler:
    """Samples ``Nvml.quick`` every ``period_ns`` on its own thread; timestamps from
    ``clock`` (CUPTI's). ctypes releases the GIL inside each NVML call, so a sample holds
    the GIL for the Python around five calls only."""

    def __init__(self, nvml: Nvml, clock, period_ns: int = 10_000_000):
        self.nvml, self.clock, self.period_ns = nvml, clock, int(period_ns)
        self.rows: list[tuple] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stepscope-nvml", daemon=True)

    def _run(self) -> None:
        rows, clock, quick, wait = self.rows, self.clock, self.nvml.quick, self._stop.wait
        period_s = self.period_ns / 1e9
        while True:
            rows.append((clock(), *quick()))
            if wait(period_s):
                break

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, list]:
        """Stop (one last sample is taken) and return the ``nvml`` table's columns."""
        self._stop.set()
        self._thread.join()
        self.rows.append((self.clock(), *self.nvml.quick()))
        cols = ("t_ns",) + SAMPLE_COLUMNS
        return {c: [r[i] for r in self.rows] for i, c in enumerate(cols)}


def _try(fn, default):
    try:
        return fn()
    except Exception:  # noqa: BLE001
        return default


def _s(v):
    return v.decode() if isinstance(v, bytes) else v
