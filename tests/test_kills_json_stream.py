"""analysis/trace/json_stream.py (the streamed Chrome-trace reader) against an independent
oracle and hand-computed edges (issue 31): any document cut into any blocks gives exactly
``json.loads``'s events and head, or NotSplittable where the text is ambiguous (and always
the answer where it is not); the key found first and split across blocks; where its list
must open; both limits exactly at and one byte over, with their messages; the bounded
searches (9 failed cuts give up, 10,000 braces per round, the list's "]" among the last 64);
a truncated document; and when blocks are read (whitespace after "[" not counted, a read
stops once ``chunk_bytes`` are buffered, after a cut the next read is ``chunk_bytes``)."""
import json

import orjson
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from stepscope.analysis.trace import json_stream
from stepscope.analysis.trace.json_stream import NotSplittable, TooLong, parse_events

# -- the head: which "traceEvents" and where its list opens -----------------------------------


def test_compact_text_without_spaces_is_split_between_events():
    text = b'{"a":1,"traceEvents":[{"x":1},{"x":2},{"x":3}],"b":2}'
    h, kept = parse_events(iter([text[i:i + 5] for i in range(0, len(text), 5)]), list, 8)
    assert h == {"a": 1, "b": 2} and kept == [{"x": 1}, {"x": 2}, {"x": 3}]


def test_the_key_taken_is_the_first_one_not_a_later_event_name():
    text = b'{"traceEvents": [{"name": "traceEvents"}, {"name": "b"}]}'
    assert parse_events(iter([text]), list) == ({}, [{"name": "traceEvents"}, {"name": "b"}])


def test_the_key_arriving_a_byte_at_a_time_is_found():
    text = b'{"v": 1, "traceEvents": [{"a": 1}, {"b": 2}]}'
    assert parse_events(iter([bytes([c]) for c in text]), list, 4) == ({"v": 1}, [{"a": 1}, {"b": 2}])


def test_after_a_long_head_the_list_may_open_in_the_next_block():
    head = b'{"deviceProperties": "' + b"x" * 300 + b'", "traceEvents"'
    assert parse_events(iter([head, b': [{"a": 1}]}']), list) == ({"deviceProperties": "x" * 300}, [{"a": 1}])


def test_the_list_must_open_within_256_bytes_of_the_key():
    """256 bytes from the key's start without its "[": still waited for; 257: given up."""
    text = b'{"traceEvents"' + b" " * 243           # the key starts at byte 1: 256 bytes from it
    assert parse_events(iter([text, b': [1]}']), list) == ({}, [1])
    with pytest.raises(NotSplittable):
        parse_events(iter([text + b" ", b': [1]}']), list)


def test_no_traceEvents_list_gives_up():
    with pytest.raises(NotSplittable):
        parse_events(iter([b'{"traceEvents": 5, "a": [{"b": 1}]}']), list)


# -- the limits, exactly at and one byte over, and what they say ------------------------------


def test_the_head_limit_is_exact(monkeypatch):
    monkeypatch.setattr(json_stream, "MAX_HEAD_BYTES", 64)
    assert parse_events(iter([b"{" + b" " * 63, b'"traceEvents": [1]}']), list) == ({}, [1])
    with pytest.raises(TooLong):
        parse_events(iter([b"{" + b" " * 64, b'"traceEvents": [1]}']), list)


def test_the_piece_limit_is_exact_and_whitespace_before_an_event_does_not_count(monkeypatch):
    """Text arrives 10 bytes at a time; the spaces are dropped as they come; the last read
    holds '[{"a": 1}]}' (11 bytes) with no cut, so the next read would want 22 bytes."""
    def blocks():
        yield b'{"traceEvents": ['
        yield from [b" " * 10] * 10
        yield b'{"a": 1}]}'
    monkeypatch.setattr(json_stream, "MAX_PIECE_BYTES", 22)
    assert parse_events(blocks(), list, 10) == ({}, [{"a": 1}])
    monkeypatch.setattr(json_stream, "MAX_PIECE_BYTES", 21)
    with pytest.raises(TooLong):
        parse_events(blocks(), list, 10)


def test_too_long_says_which_limit_in_mb():
    with pytest.raises(TooLong) as e:
        parse_events(iter([b"{" + b" " * json_stream.MAX_HEAD_BYTES]), list)
    assert str(e.value) == "no traceEvents list in its first 64 MB"
    with pytest.raises(TooLong) as e:
        parse_events(iter([b'{"traceEvents": [{"s": "', b"x" * (json_stream.MAX_PIECE_BYTES // 2)]), list)
    assert str(e.value) == "more than 128 MB of text between two events"


def test_a_document_far_longer_than_the_piece_limit_is_cut_between_events(monkeypatch):
    """Kineto-like events (nested lists of objects in args) under a 1 kB limit: each chunk
    is cut after its last whole event, so no run of text nears the limit."""
    evs = [{"ph": "X", "name": f"k{i}", "args": {"grid": [1, 2, i], "l": [{"a": i}, {"b": 2}]}} for i in range(200)]
    text = json.dumps({"schemaVersion": 1, "traceEvents": evs, "traceName": "t"}).encode()
    calls = []
    monkeypatch.setattr(json_stream, "MAX_PIECE_BYTES", 1024)
    h, kept = parse_events(iter([text[i:i + 100] for i in range(0, len(text), 100)]),
                           lambda got: calls.append(len(got)) or got, 256)
    assert h == {"schemaVersion": 1, "traceName": "t"} and kept == evs
    assert len(calls) >= len(text) // 512


# -- the bounded searches ---------------------------------------------------------------------


def counting_loads():
    n = [0]

    def loads(b):
        n[0] += 1
        return json_stream._loads(b)
    return loads, n


def test_eight_failed_cuts_are_passed_the_ninth_gives_up():
    """The chunk ends inside an event whose string holds n "},{": each is a cut that does
    not parse, tried from the end before the good one after {"a": 1}."""
    def doc(n):
        return [b'{"traceEvents":[{"a":1},{"s":"' + b"},{" * n, b'"},{"z":0}]}']
    loads, calls = counting_loads()
    assert parse_events(iter(doc(8)), list, 1, loads=loads) == ({}, [{"a": 1}, {"s": "},{" * 8}, {"z": 0}])
    loads, calls = counting_loads()
    with pytest.raises(NotSplittable):
        parse_events(iter(doc(9)), list, 1, loads=loads)
    assert calls[0] == 9


def test_a_broken_file_gives_up_after_nine_failed_cuts():
    loads, calls = counting_loads()
    with pytest.raises(NotSplittable):
        parse_events(iter([b'{"traceEvents":[' + b'{"a":1,},' * 30 + b'{"a":1}]}']), list, 1, loads=loads)
    assert calls[0] == 9


def test_a_cut_is_looked_for_among_the_last_10000_braces_of_a_chunk():
    """n braces in the string of a partial event: with 9,999 the cut after {"a":1} is the
    10,000th brace and is made at once; with 10,000 the chunk is not cut, more is read."""
    def log(n):
        got, read = [], [0]

        def blocks():
            for b in (b'{"traceEvents":[{"a":1},{"s":"' + b"}" * n, b'"}]}'):
                read[0] += 1
                yield b
        assert parse_events(blocks(), lambda evs: got.append((read[0], len(evs))) or evs, 1)[1][0] == {"a": 1}
        return got
    assert log(9_999) == [(1, 1), (2, 1)]
    assert log(10_000) == [(2, 2)]


def test_the_lists_end_is_looked_for_among_the_last_64_brackets():
    def text(n):
        return b'{"traceEvents":[{"a":1}],"traceName":"' + b"]" * n + b'"}'
    assert parse_events(iter([text(63)]), list) == ({"traceName": "]" * 63}, [{"a": 1}])
    with pytest.raises(NotSplittable):
        parse_events(iter([text(64)]), list)


def test_a_bracket_in_a_string_after_the_list_is_passed_over():
    text = b'{"traceEvents": [{"a": 1}, {"b": 2}], "traceName": "run]1", "x": "]"}'
    assert parse_events(iter([text]), list, 4) == ({"traceName": "run]1", "x": "]"}, [{"a": 1}, {"b": 2}])


def test_a_truncated_document_gives_up():
    for text in (b'{"traceEvents": [{"a": 1}, {"b": 2}', b'{"traceEvents": [{"a": 1}, {"b": [2]}', b'{"traceEvents": ['):
        with pytest.raises(NotSplittable):
            parse_events(iter([text]), list, 4)


def test_the_last_piece_is_parsed_whatever_its_length():
    assert parse_events(iter([b'{"traceEvents": [7]}']), list) == ({}, [7])
    assert parse_events(iter([b'{"traceEvents": [ 7 ]}']), list) == ({}, [7])
    assert parse_events(iter([b'{"traceEvents": [ ]}']), list) == ({}, [])


# -- when blocks are read ---------------------------------------------------------------------


def reads(first: bytes, rest: bytes, chunk: int):
    """(bytes of ``rest`` read, events) at each select: ``first`` in one block, then
    ``rest`` a byte at a time, so a read stops exactly where the parser stops asking."""
    got, n = [], [0]

    def blocks():
        yield first
        for i in range(len(rest)):
            n[0] = i + 1
            yield rest[i:i + 1]
    parse_events(blocks(), lambda evs: got.append((n[0], evs)) or evs, chunk)
    return got


def test_whitespace_after_the_lists_bracket_is_not_counted_in_the_first_chunk():
    """chunk 8: '[{"a":1}' is 8 bytes with no cut, so 16 are read: the cut after a comes
    at 15 bytes; then ',{"b":2}' (8) has no cut, 16 are read again: 23; the rest at 25."""
    got = reads(b'{"traceEvents": [   ', b'{"a":1},{"b":2},{"c":3}]}', 8)
    assert got == [(15, [{"a": 1}]), (23, [{"b": 2}]), (25, [{"c": 3}])]


def test_after_a_cut_the_next_read_is_chunk_bytes_again():
    """chunk 10: '[{"a":1},{' is cut at 9 bytes; ',{' then ',{"bbbbbb"' has no cut, 20 are
    read (27); the cut leaves ',{"c":3' (7 bytes): 3 more make 10 and the cut after c
    comes at 30 (not 34, as wanting twice those 7 would); the last event at the end."""
    got = reads(b'{"traceEvents":[', b'{"a":1},{"bbbbbb":2},{"c":3},{"d":4}]}', 10)
    assert got == [(9, [{"a": 1}]), (27, [{"bbbbbb": 2}]), (30, [{"c": 3}]), (38, [{"d": 4}])]


# -- the property: chunked == whole, or NotSplittable only where the text is ambiguous ------

SPACES = ["", "", "", " ", "\n", "\t", "\r\n", "  "]
CHARS = 'ab{}[],: "\\\né'
strings = st.text(alphabet=CHARS, max_size=6) | st.sampled_from(
    ["},{", "}, {", "}\n ,{", "},{},{},{", "]", "}]}", "],", "[{", "traceEvents", "x"])
keys = st.text(alphabet=CHARS, max_size=4) | st.sampled_from(["},{", "]", "a"])     # never "traceEvents"
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | strings
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=6)
event = st.dictionaries(st.sampled_from(["ph", "name", "ts", "cat", "args"]), values, max_size=4)
events = st.lists(st.one_of(event, event, event, st.integers(0, 9)), min_size=1, max_size=10)


def dump(v, r) -> str:
    """JSON text of ``v`` with random whitespace around every token."""
    def ws():
        return r.choice(SPACES)
    if isinstance(v, dict):
        items = [json.dumps(k, ensure_ascii=r.random() < .5) + ws() + ":" + ws() + dump(x, r) for k, x in v.items()]
    elif isinstance(v, list):
        items = [dump(x, r) for x in v]
    else:
        return json.dumps(v, ensure_ascii=r.random() < .5)
    o, c = "{}" if isinstance(v, dict) else "[]"
    return o + ws() + "".join(x + (ws() + "," + ws() if i < len(items) - 1 else "") for i, x in enumerate(items)) + ws() + c


def document(before, evs, after, r):
    """(text, text up to the list's "[", each event's text, the text after its "]")."""
    def ws():
        return r.choice(SPACES)

    def pairs(d):
        return [json.dumps(k) + ws() + ":" + ws() + dump(v, r) for k, v in d.items()]
    texts = [dump(e, r) for e in evs]
    items = pairs(before) + ['"traceEvents"' + ws() + ":" + ws()] + pairs(after)
    i = len(before)
    lead = ws() + "{" + ws() + "".join(x + ws() + "," + ws() for x in items[:i]) + items[i]
    body = "[" + ws() + "".join(x + (ws() + "," + ws() if n < len(texts) - 1 else "") for n, x in enumerate(texts)) + ws() + "]"
    tail = "".join(ws() + "," + ws() + x for x in items[i + 1:]) + ws() + "}" + ws()
    return (lead + body + tail).encode(), lead.encode(), [t.encode() for t in texts], tail.encode()


def ambiguous(lead: bytes, texts, tail: bytes) -> str | None:
    """Why the chunked parse may give up on this text (None: it must not):
    - the key's text appears before the key (as a string value): the first one is taken;
    - more than 8 "},{" (in strings or nested lists of objects) inside the events between
      two good cuts (the "},{" between two object events; a number event has none on its
      sides), the last events' counted with the text after the list: a chunk ending after
      them fails that many cuts before the good one, and 9 give up;
    - a "]" after the list, other than the list's own, after which the text reads as the
      rest of the document: it is taken for the list's end (and the events do not parse);
      or more than 63 of them before the list's (the search looks at 64)."""
    if b'"traceEvents"' in lead.rsplit(b'"traceEvents"', 1)[0]:
        return "key text before the key"
    run = 0
    for i, t in enumerate([*texts, tail]):
        if i and not (t[:1] == b"{" and texts[i - 1][:1] == b"{"):
            run += len(json_stream._SEP.findall(t))     # no good cut before this event (or the tail)
        else:
            run = len(json_stream._SEP.findall(t))
        if run > 8:
            return "more than 8 cut candidates between two good cuts"
    ends = [i for i, c in enumerate(tail) if c == ord("]")]
    if len(ends) > 63:
        return "more than 63 ']' after the list"
    for i in ends:
        try:
            orjson.loads(lead + b"[]" + tail[i + 1:])
            return "a ']' after the list that reads as the list's end"
        except ValueError:
            pass
    return None


def blocks_of(text: bytes, r, most: int):
    i, out = 0, []
    while i < len(text):
        n = r.randint(1, most)
        out.append(text[i:i + n])
        i += n
    return out


def keep(e) -> bool:
    return isinstance(e, dict) and "ph" in e


# No shrinking: a failure is shown as drawn (shrinking a slow mutant can take minutes).
@settings(max_examples=300, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate])
@given(before=st.dictionaries(st.sampled_from(["schemaVersion", "deviceProperties", "distributedInfo"]), values, max_size=3),
       evs=events,
       after=st.dictionaries(st.sampled_from(["traceName", "displayTimeUnit", "baseTimeNanoseconds"]),
                             scalars | scalars | values, max_size=3),
       r=st.randoms(use_true_random=False), most=st.sampled_from([1, 2, 3, 7, 16, 64, 1 << 20]),
       chunk=st.integers(1, 40) | st.integers(1, 300), filtered=st.booleans())
def test_chunked_parse_is_the_whole_parse_and_gives_up_only_on_ambiguous_text(before, evs, after, r, most, chunk, filtered):
    text, lead, texts, tail = document(before, evs, after, r)
    whole = json.loads(text)
    want = [e for e in whole.pop("traceEvents") if keep(e) or not filtered]
    why = ambiguous(lead, texts, tail)
    try:
        head, kept = parse_events(iter(blocks_of(text, r, most)),
                                  (lambda got: [e for e in got if keep(e)]) if filtered else (lambda got: got), chunk)
    except NotSplittable:
        assert why, f"gave up on unambiguous text {text!r}"
        return
    assert kept == want
    assert head == whole


def test_a_nested_traceEvents_key_is_not_taken_for_the_documents_list():
    """{"meta": {"traceEvents": [...]}, "traceEvents": [...]}: the first key found is nested;
    its list was returned as the events (silently wrong). The reader now gives up, and the
    caller's whole parse reads the document's own list."""
    for doc in (b'{"meta": {"traceEvents": [{"a":1}]}, "traceEvents": [{"b":2}]}',
                b'{"meta": {"traceEvents": [{"a":1}]}}',
                b'{"meta": {"traceEvents": [{"a":1}, {"a":2}]}, "traceEvents": []}'):    # the own list empty
        with pytest.raises(NotSplittable):
            parse_events([doc], lambda evs: evs, chunk_bytes=8)
    assert parse_events([b'{"x": 1, "traceEvents": [{"b":2}], "y": {"traceEvents": 3}}'], lambda e: e) == \
        ({"x": 1, "y": {"traceEvents": 3}}, [{"b": 2}])
