"""Errors a user can cause in capture, importable without torch or cupti."""
from __future__ import annotations


class CaptureError(RuntimeError):
    """A capture cannot start or finish; the message is one sentence for the user."""


class WorkloadError(RuntimeError):
    """A workload cannot be built or run; the message is one sentence for the user."""


class CuptiBusyError(CaptureError):
    """Another CUPTI client (torch.profiler, Nsight, a second tracer) holds CUPTI."""


class ResultFileError(ValueError):
    """A result file (cell, session, arm, calibration) cannot be used; one sentence naming it."""


USER_ERRORS = (CaptureError, WorkloadError, ResultFileError)
