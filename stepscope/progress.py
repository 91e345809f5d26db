"""Progress on stderr for the command line: a tqdm bar with time left on a terminal,
plain one-line messages otherwise, nothing with --quiet."""
from __future__ import annotations

import sys
from types import SimpleNamespace


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
    """A ``say(msg)`` callable for the experiments; ``iterate(items, label)`` (used by
    ``runner.each``) shows a bar over the items on a terminal, else one message per item
    with a time-left estimate."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._bar = None

    def __call__(self, msg: str) -> None:
        if self.quiet:
            return
        if self._bar is not None and not self._bar.disable:
            self._bar.write(f"stepscope: {msg}", file=sys.stderr)
        else:
            print(f"stepscope: {msg}", file=sys.stderr)

    def iterate(self, items: list, label=str):
        b = bar(len(items), self.quiet, unit="item")
        if b.disable:
            yield from _messages(items, self, label)
            return
        self._bar = b
        try:
            for item in items:
                b.set_description_str(label(item))
                yield item
                b.update(1)
        finally:
            b.close()
            self._bar = None


def _messages(items, say, label):
    import time
    t0 = time.time()
    for i, item in enumerate(items):
        eta = f", about {(time.time() - t0) / i * (len(items) - i):.0f} s left" if i else ""
        say(f"[{i + 1}/{len(items)}] {label(item)}{eta}")
        yield item
