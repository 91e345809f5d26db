"""Progress on stderr for the command line: a tqdm bar with time left on a terminal,
plain one-line messages otherwise, nothing with --quiet.

The experiments and renderers never format progress: they call a callback. Two kinds:
``stage(name)`` (a stage begins, the one before it has ended: the GPU stages of `trace`,
`calibrate` and the main job) and ``advance(n, name=None)`` (n more units of work done,
optionally naming what is being done now: the records `export` writes). ``Progress``
turns either into a bar or into messages; ``iterate`` (used by ``runner.each``) walks
the sessions, cells and arms of `ab`, `sweep` and `quant`.
"""
from __future__ import annotations

import sys
import time
from types import SimpleNamespace

#: Without a terminal, progress counted in units other than stages (records) says where it
#: is at most this often; a stage always gets its message.
MESSAGE_EVERY_S = 5.0


def bar(total: int, quiet: bool, unit: str = "stage"):
    """A tqdm bar on stderr; a do-nothing stand-in (``disable`` True) with ``quiet``,
    when stderr is not a terminal, or without tqdm (a dependency of transformers and of
    stepscope)."""
    if not quiet and sys.stderr.isatty():
        try:
            from tqdm import tqdm
        except ImportError:
            pass
        else:
            return tqdm(total=total, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True,
                        bar_format="{desc} {bar} {n_fmt}/{total_fmt} " + unit + "s [{elapsed}<{remaining}]")
    nothing = lambda *a, **k: None  # noqa: E731
    return SimpleNamespace(disable=True, write=nothing, update=nothing, set_description_str=nothing, close=nothing)


class Progress:
    """A ``say(msg)`` callable for the experiments, and the bar behind their callbacks:
    ``start(total, unit)`` opens one, ``stage(name)`` / ``advance(n, name)`` move it,
    ``close()`` ends it. Without a terminal each stage (and, for other units, a line at
    most every ``MESSAGE_EVERY_S``) is one message with a time-left estimate."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._bar = None
        self.total, self.done, self.unit, self.staged = 0, 0, "stage", True
        self._open = False        # a stage has begun and not ended
        self._t0 = self._said = 0.0

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        if self._bar is not None and not self._bar.disable:
            self._bar.write(f"stepscope: {msg}", file=sys.stderr)
        else:
            print(f"stepscope: {msg}", file=sys.stderr)

    # -- a bar over stages or units ------------------------------------------------
    def start(self, total: int, unit: str = "stage", staged: bool = True) -> Progress:
        """Open a bar of ``total`` units: stages (moved by ``stage``) when ``staged``,
        else counted units such as records (moved by ``advance``)."""
        self.close()
        self._bar = bar(total, self.quiet, unit)
        self.total, self.done, self.unit, self.staged, self._open = total, 0, unit, staged, False
        self._t0 = self._said = time.time()
        return self

    def stage(self, name: str) -> None:
        """The stage ``name`` begins; the one before it (if any) has ended."""
        self.advance(1 if self._open else 0, name)
        self._open = True

    def advance(self, n: int = 1, name: str | None = None) -> None:
        """``n`` more units done; ``name`` (optional) is what is being done now."""
        self.done += n
        if self._bar is None:
            return
        if not self._bar.disable:
            if name:
                self._bar.set_description_str(name)
            self._bar.update(n)
            return
        if self.quiet or not name and self.staged:
            return
        now = time.time()
        if not self.staged and now - self._said < MESSAGE_EVERY_S:
            return
        self._said = now
        self(self.message(name or "", now - self._t0))

    def message(self, name: str, elapsed_s: float) -> str:
        """The line said without a terminal: ``[i/n] name`` for stages (i: the one
        beginning), else ``name (done/total units)``, with the time left from the rate so far."""
        left = elapsed_s / self.done * (self.total - self.done) if self.done else None
        eta = f", about {left:.0f} s left" if left is not None else ""
        if self.staged:
            return f"[{min(self.done + 1, self.total)}/{self.total}] {name}{eta}"
        return f"{name} ({self.done:,}/{self.total:,} {self.unit}s{eta})".lstrip()

    def close(self) -> None:
        """End the bar (the open stage counts as done)."""
        if self._bar is None:
            return
        if self._open:
            self.done += 1
            self._bar.update(1)
        self._bar.close()
        self._bar, self._open = None, False

    # -- the items of ab, sweep and quant --------------------------------------------
    def iterate(self, items: list, label=str):
        """Yield ``items``, each one a stage named ``label(item)``."""
        self.start(len(items), unit="item", staged=True)
        try:
            for item in items:
                self.stage(label(item))
                yield item
        finally:
            self.close()
