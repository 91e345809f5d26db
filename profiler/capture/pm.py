"""DRAM traffic from CUPTI PM sampling: (start, end, read bytes, write bytes) samples.

Sampling runs over the whole capture; the hardware buffer is drained between
steps (``drain``) so that long captures never overflow it silently. Metric
values are evaluated on the host once, after the capture.
"""
from __future__ import annotations

import time

import numpy as np

METRICS = ("dram__bytes_read.sum", "dram__bytes_write.sum")
#: One decode empties the hardware buffer into an image of at most this many samples;
#: samples beyond it are lost (seen on an H100: a 20,000-sample image dropped the rest of
#: a 0.5 s capture), so the image is sized from the capture's duration, never less.
DECODE_MIN_SAMPLES = 20_000


class DramSampler:
    def __init__(self, device: int = 0, interval_ns: int = 20_000,
                 buffer_bytes: int = 512 << 20):
        self.device = device
        self.interval_ns = int(interval_ns)
        self.buffer_bytes = int(buffer_bytes)
        self.status = "not started"
        self.overflows = 0
        self.invalid_samples = 0
        self.truncated = 0
        self._last_drain_ns = 0
        self._decoded: list = []
        self._collector = None

    def start(self) -> str | None:
        """Start sampling; return None, or one sentence on why counters are unavailable."""
        try:
            from cupti import pm_sampling
        except ImportError as e:
            return self._unavailable(f"cupti.pm_sampling cannot be imported ({e}); it needs "
                                     "cupti-python >= 13.4 and libcupti >= 13.4")
        col = pm_sampling.Collector(device_index=self.device)
        try:
            col.enable()
        except Exception as e:  # noqa: BLE001 - any failure: no counters, capture goes on
            return self._unavailable(f"PM sampling could not be enabled: {type(e).__name__}: {e}")
        try:
            col.configure(metrics=list(METRICS), hardware_buffer_size=self.buffer_bytes,
                          sampling_interval=self.interval_ns,
                          trigger_mode=pm_sampling.TriggerMode.GPU_TIME_INTERVAL)
            col.start()
        except Exception as e:  # noqa: BLE001
            col.disable()
            return self._unavailable(f"PM sampling could not be configured for {METRICS}: "
                                     f"{type(e).__name__}: {e}")
        self._collector = col
        self._last_drain_ns = time.monotonic_ns()
        self.status = "ok"
        return None

    def _unavailable(self, why: str) -> str:
        self.status = why
        return why

    def drain(self) -> None:
        """Move finished samples out of the hardware buffer into one image sized for
        everything sampled since the last drain (1.5x the expected count)."""
        if self._collector is None:
            return
        now = time.monotonic_ns()
        expected = (now - self._last_drain_ns) // self.interval_ns
        self._last_drain_ns = now
        max_samples = int(max(DECODE_MIN_SAMPLES, expected * 3 // 2 + 4096))
        try:
            data = self._collector.decode(max_samples=max_samples)
        except MemoryError:
            self.overflows += 1
            return
        if data.num_completed_samples:
            self._decoded.append(data)
        if data.num_populated_samples >= max_samples:
            self.truncated += 1   # the image filled up: later samples may be lost

    def stop(self) -> dict[str, np.ndarray]:
        """Stop, drain, evaluate. Returns the ``pm`` table's columns."""
        cols = {c: [] for c in ("start_ns", "end_ns", "dram_read_bytes", "dram_write_bytes")}
        if self._collector is None:
            return cols
        try:
            self._collector.stop()
            self.drain()
        finally:
            decoded, self._decoded = self._decoded, []
            for data in decoded:
                for s in data:
                    if s.start_timestamp <= 0 or s.end_timestamp <= s.start_timestamp:
                        self.invalid_samples += 1   # CUPTI's first sample has no start time
                        continue
                    read, write = s.metric_values
                    cols["start_ns"].append(s.start_timestamp)
                    cols["end_ns"].append(s.end_timestamp)
                    cols["dram_read_bytes"].append(round(read))
                    cols["dram_write_bytes"].append(round(write))
            self._collector.disable()
            self._collector = None
        if self.overflows:
            self.status = (f"hardware buffer overflowed {self.overflows} time(s): samples were "
                           "lost; raise the buffer size or the interval")
        elif self.truncated:
            self.status = "a decode image filled up: samples after it may be lost"
        return cols
