"""The chunked traceEvents parser: with pieces of a few bytes (so every possible cut is
tried), it returns exactly the events of a whole-document parse, or gives up
(NotSplittable) so the caller parses whole; it never returns something else."""
import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stepscope.analysis.trace.json_stream import NotSplittable, parse_events

values = st.recursive(st.none() | st.integers() | st.text(alphabet="{}[],: \"ab\\", max_size=6),
                      lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(alphabet="ab{}", max_size=3), i,
                                                                          max_size=3), max_leaves=8)
events = st.lists(st.dictionaries(st.sampled_from(["ph", "cat", "ts", "args", "name"]), values, max_size=4), max_size=8)


def _blocks(b: bytes, n: int):
    return (b[i:i + n] for i in range(0, len(b), n))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(evs=events, head=st.dictionaries(st.sampled_from(["a", "b", "deviceProperties"]), values, max_size=2),
       indent=st.sampled_from([None, 1, 2]), block=st.integers(1, 40), piece=st.integers(1, 64), first=st.booleans())
def test_chunked_equals_whole_or_gives_up(evs, head, indent, block, piece, first):
    doc = {"traceEvents": evs, **head} if first else {**head, "traceEvents": evs}
    text = json.dumps(doc, indent=indent).encode()
    try:
        h, kept = parse_events(_blocks(text, block), list, piece)
    except NotSplittable:
        return
    whole = orjson.loads(text)
    assert kept == whole.pop("traceEvents")
    assert h == whole


def test_a_real_kineto_layout_is_split():
    evs = [{"ph": "X", "cat": "kernel", "name": "k},{x", "args": {"grid": [1, 2, 3], "l": [{"a": 1}, {"b": 2}]}}] * 50
    text = json.dumps({"schemaVersion": 1, "traceEvents": evs, "traceName": "t"}, indent=2).encode()
    h, kept = parse_events(_blocks(text, 100), list, 200)
    assert kept == evs and h == {"schemaVersion": 1, "traceName": "t"}
