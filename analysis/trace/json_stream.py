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
_SPACE = re.compile(rb"\s*")
#: Put where the list was to parse the rest of the document: it must come back as the
#: top-level "traceEvents" (else the key found was a nested one's).
_MARK_VALUE = "\x00stepscope: the events list\x00"
_MARK = b'"\\u0000stepscope: the events list\\u0000"'
#: The ``traceEvents`` list must open within this many bytes of the start (Kineto writes a
#: few kB of metadata before it), and no run of text between two cuts may be longer: past
#: either, the text is refused (``TooLong``) instead of being buffered whole.
MAX_HEAD_BYTES = 64 << 20
MAX_PIECE_BYTES = 128 << 20


class NotSplittable(Exception):
    """The text cannot be cut cleanly; parse it whole."""


class TooLong(Exception):
    """The text holds a run this parser refuses to buffer (the message says which)."""


def _loads(b):
    import orjson
    try:
        return orjson.loads(b)
    except ValueError:
        raise NotSplittable from None


def parse_events(blocks, select, chunk_bytes: int = 1 << 20, loads=_loads) -> tuple[dict, list]:
    """(the document without its events, the events ``select(events)`` keeps of each
    chunk). ``blocks``: the file's bytes, in order, in blocks of any size. ``loads`` parses
    one piece ``[event, ...]`` (default: orjson into dicts; it raises NotSplittable on text
    that is not JSON); the rest of the document is always parsed with orjson."""
    it = iter(blocks)
    buf = bytearray()
    prefix = None
    start = 0      # the key is looked for in new text only: linear, not quadratic
    for b in it:
        buf += b
        k = buf.find(_KEY, start)
        if k < 0:
            if len(buf) > MAX_HEAD_BYTES:
                raise TooLong(f"no traceEvents list in its first {MAX_HEAD_BYTES >> 20} MB")
            start = max(0, len(buf) - len(_KEY))
            continue
        m = _OPEN.match(buf, k + len(_KEY))
        if m:
            prefix = bytes(buf[:m.end() - 1])
            del buf[:m.end() - 1]    # the "[" stays: buf[0] is the slot (below)
            break
        if len(buf) - k > 256:
            raise NotSplittable
        start = k
    if prefix is None:
        raise NotSplittable
    kept: list = []

    # buf[0] is a slot byte before the next event (the list's "[" or the "," or space
    # before a "{"): a piece buf[1:end] is parsed in place as "[" + piece + "]" by writing
    # "[" into the slot and "]" over buf[end] (a separator byte or the list's own "]"),
    # restored after: no copy of the text per piece.
    def feed(end: int) -> None:
        saved = buf[end]
        buf[0], buf[end] = 0x5B, 0x5D
        try:
            with memoryview(buf) as mv, mv[:end + 1] as piece:
                got = loads(piece)
        finally:
            buf[end] = saved
        kept.extend(select(got))

    del buf[1:_SPACE.match(buf, 1).end()]     # whitespace after "[": never part of an event
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
                    feed(j + 1)
                except NotSplittable:   # the cut was inside a string or a nested list: try an earlier one
                    failed += 1
                    if failed > 8:   # a broken file, not an unlucky cut: parse whole (it says why)
                        raise
                    pos = j
                    continue
                del buf[:m.end() - 2]    # the byte before the next "{" is the new slot
                cut = True
                break
            pos = j
        if not cut:     # no cut yet: read more first (whitespace before the next event is dropped)
            del buf[1:_SPACE.match(buf, 1).end()]
        want = chunk_bytes if cut else max(2 * len(buf), chunk_bytes)
        if want > MAX_PIECE_BYTES:
            raise TooLong(f"more than {MAX_PIECE_BYTES >> 20} MB of text between two events")
    # The last events, then "]" and the rest of the document.
    pos = len(buf)
    for _ in range(64):      # the list's "]" is among the last few of a real file
        j = buf.rfind(b"]", 0, pos)
        if j < 0:
            break
        try:
            head = _loads(prefix + _MARK + bytes(buf[j + 1:]))
        except NotSplittable:
            pos = j
            continue
        if isinstance(head, dict):
            if head.get("traceEvents") != _MARK_VALUE:
                # the key found belongs to a nested object ({"meta": {"traceEvents": [...]}, ...}):
                # not the document's own list, which a whole parse finds
                raise NotSplittable
            if buf[1:j].strip():
                feed(j)
            head.pop("traceEvents")
            return head, kept
        pos = j
    raise NotSplittable
