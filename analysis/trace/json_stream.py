"""Parse the ``traceEvents`` array of a Chrome trace a chunk at a time, keeping only the
events asked for: memory holds one chunk of text and its parsed events, plus the events
kept, never the whole document (a 241 MB Kineto trace peaks at about a third of what
parsing it whole takes).

The text is cut between two events where ``}`` is followed by ``,`` and ``{``; each piece
is parsed with orjson as ``[piece]``. A cut in the wrong place (inside a string, or inside
a nested list of objects) leaves an unbalanced piece that cannot parse, so a wrong cut is
never silent: ``NotSplittable`` is raised, and the caller parses the file whole (which
also gives the error message of a file that is really broken).
"""
from __future__ import annotations

import re

_SEP = re.compile(rb"\}\s*,\s*\{")
_OPEN = re.compile(rb"\s*:\s*\[")
_KEY = b'"traceEvents"'


class NotSplittable(Exception):
    """The text cannot be cut cleanly; parse it whole."""


def _loads(b):
    import orjson
    try:
        return orjson.loads(b)
    except ValueError:
        raise NotSplittable from None


def parse_events(blocks, select, chunk_bytes: int = 1 << 20) -> tuple[dict, list]:
    """(the document without its events, the events ``select(events)`` keeps of each
    chunk). ``blocks``: the file's bytes, in order, in blocks of any size."""
    it = iter(blocks)
    buf = bytearray()
    prefix = None
    for b in it:
        buf += b
        k = buf.find(_KEY)
        if k >= 0:
            m = _OPEN.match(buf, k + len(_KEY))
            if m:
                prefix = bytes(buf[:m.end() - 1])
                del buf[:m.end()]
                break
            if len(buf) - k > 256:
                raise NotSplittable
    if prefix is None:
        raise NotSplittable
    kept: list = []

    def feed(piece) -> None:
        kept.extend(select(_loads(b"[" + bytes(piece) + b"]")))

    eof, want = False, chunk_bytes
    while not eof:
        while len(buf) < want:
            b = next(it, None)
            if b is None:
                eof = True
                break
            buf += b
        if eof:
            break
        pos, cut, failed = len(buf), False, 0
        for _ in range(10_000):   # the last "},{" that ends a parsable piece
            j = buf.rfind(b"}", 0, pos)
            if j < 0:
                break
            m = _SEP.match(buf, j)
            if m:
                try:
                    feed(memoryview(buf)[:j + 1])
                except NotSplittable:   # the cut was inside a string or a nested list: try an earlier one
                    failed += 1
                    if failed > 8:   # a broken file, not an unlucky cut: parse whole (it says why)
                        raise
                    pos = j
                    continue
                del buf[:m.end() - 1]
                cut = True
                break
            pos = j
        want = chunk_bytes if cut else 2 * len(buf)   # no cut yet: read more first
        if want > 64 * chunk_bytes + (1 << 26):
            raise NotSplittable
    # The last events, then "]" and the rest of the document.
    pos = len(buf)
    for _ in range(1000):
        j = buf.rfind(b"]", 0, pos)
        if j < 0:
            break
        try:
            head = _loads(prefix + b"[]" + bytes(buf[j + 1:]))
        except NotSplittable:
            pos = j
            continue
        if isinstance(head, dict):
            if buf[:j].strip():
                feed(memoryview(buf)[:j])
            head.pop("traceEvents", None)
            return head, kept
        pos = j
    raise NotSplittable
