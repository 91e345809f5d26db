"""``TraceAnalysis``: one facade over the pure functions of one trace. Every ``get_*``
is one line calling the module named after the analysis, and returns a plain dict (of
numpy arrays for tables, of numbers for summaries)."""
from __future__ import annotations

from functools import cached_property
from pathlib import Path

from . import dram, dram_checks, dram_fit, gaps, host, kernel_tables, stacks, summary
from .attribution import attribute
from .trace import Trace, load


class TraceAnalysis:
    def __init__(self, trace: Trace | str | Path, calibration: dict | None = None):
        """``trace``: a Trace, or the path of a stepscope or torch.profiler trace.
        ``calibration``: a `stepscope calibrate` result; its achievable bandwidth gives a
        second, achievable floor beside the datasheet one."""
        self.trace = trace if isinstance(trace, Trace) else load(trace)
        self.calibration = calibration

    @cached_property
    def attribution(self) -> dict:
        """Everything ``attribution.attribute`` returns (steps, gaps, records, peak)."""
        return attribute(self.trace)

    @cached_property
    def _records(self) -> dict:
        return kernel_tables.record_table(self.trace, self.attribution["records"])

    def _busy_ns(self) -> int:
        return int(self.get_steps()["busy_ns"].sum())

    def get_steps(self) -> dict:
        return self.attribution["steps"]

    def get_gaps(self) -> dict:
        return self.attribution["gaps"]

    def get_peak(self) -> tuple:
        return self.attribution["peak_bytes_per_s"], self.attribution["peak_source"]

    def get_kernel_classes(self) -> dict:
        return kernel_tables.per_class(self._records, len(self.trace["steps"]["index"]), self._busy_ns())

    def get_top_kernels(self, n: int = 10) -> dict:
        return kernel_tables.top_kernels(self.trace, self._records, self._busy_ns(), n)

    def get_unmodelled_bytes(self) -> dict:
        """Class bytes against the bytes model: the deconvolved bytes when there are any."""
        dk = self.get_dram_kernels()
        classes = dram_checks.class_bytes_per_step(dk["classes"], self.trace) if dk["classes"] \
            else self.get_kernel_classes()
        return kernel_tables.unmodelled_bytes(self.trace.meta.get("workload", {}), self.get_steps(), classes)

    def get_gap_histogram(self) -> dict:
        return gaps.histogram(self.get_gaps())

    def get_hta_comparison(self) -> dict:
        return gaps.hta_comparison(self.trace, self.attribution)

    def get_dram(self) -> dict:
        return dram.summary(self.trace, self.get_steps())

    def get_host(self, n: int = 10) -> dict:
        return host.report(self.trace, self.attribution, n)

    def get_stacks(self, n: int = 10) -> dict:
        """Source lines behind the launch-bound idle, from sampled Python stacks (stacks.py)."""
        return stacks.report(self.trace, self.attribution, n)

    @cached_property
    def _dram_estimate(self) -> dict:
        return dram_fit.estimate(self.trace, self.attribution, peak_bytes_per_s=self.get_peak()[0])

    @cached_property
    def _dram_report(self) -> dict:
        return dram_checks.report(self.trace, self._dram_estimate, self.get_peak()[0], self.calibration)

    def get_dram_kernels(self) -> dict:
        """Per-kernel DRAM bytes (deconvolved PM samples, or the counter pass), classes,
        roofline and physical checks (dram_fit, dram_checks)."""
        return self._dram_report

    def get_dram_record_rates(self):
        """Modelled DRAM bytes/ns of every GPU record (read + write), or None (dram_fit)."""
        return self._dram_estimate.get("record_bytes_per_ns")

    def get_summary(self) -> dict:
        return summary.summarize(self.trace, self.attribution, self.calibration)
