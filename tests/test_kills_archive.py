"""analysis/trace/archive.py: the trace archive's read limits against bad or hostile zip
files, each refused with one sentence naming the file. Pinned here on small zips built
in the test (headers and zip directories forged where a hostile file would lie): the
limit (4096 MB by default; STEPSCOPE_MAX_TRACE_MB a number in 0..2**20 MB, else one
sentence), the zip directory's declared size against it (at the limit and one byte past),
each member's declared array size against it (the running total of the members read,
int64 at 8 bytes a value), an array declaring more than its member holds, a member that
ends early, short reads joined in order, duplicate and encrypted members, .npy headers
(versions 1 and 2 only; 1-d int64 or uint8, not float, 2-d, 0-d or big-endian), and the
sentence for each kind of corrupt or unreadable file."""
import io
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest

from stepscope.analysis.trace import archive as A
from stepscope.analysis.trace.errors import TraceFileError

RAISE = "(raise it with --max-trace-mb or STEPSCOPE_MAX_TRACE_MB if the file is trusted)."
ENV = "STEPSCOPE_MAX_TRACE_MB"


@pytest.fixture(autouse=True)
def _default_limit(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def npy(arr, version=(1, 0)) -> bytes:
    b = io.BytesIO()
    np.lib.format.write_array(b, np.asarray(arr), version=version)
    return b.getvalue()


def header(descr: str, shape, fortran=False) -> bytes:
    """A .npy v1 header alone (128 bytes here), declaring what the test says."""
    b = io.BytesIO()
    np.lib.format.write_array_header_1_0(b, {"descr": descr, "fortran_order": fortran, "shape": shape})
    return b.getvalue()


def zipped(path, members, method=zipfile.ZIP_DEFLATED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns of a duplicate name
        with zipfile.ZipFile(path, "w", method) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def patch_directory(path, offset: int, value: int, member: int = 0, fmt: str = "<I"):
    """Overwrite a field of a member's central-directory record (what zipfile believes):
    8 flags, 10 method, 20 compressed size, 24 size."""
    b = bytearray(path.read_bytes())
    i = -1
    for _ in range(member + 1):
        i = b.index(b"PK\x01\x02", i + 1)
    struct.pack_into(fmt, b, i + offset, value)
    path.write_bytes(bytes(b))
    return path


def refused(path, wanted=None) -> str:
    with pytest.raises(TraceFileError) as e:
        A.read_members(path, wanted)
    return str(e.value)


# -- the limit ---------------------------------------------------------------------------

def test_the_default_limit_is_4096_mb(monkeypatch):
    assert A.max_bytes() == 4096 * 2 ** 20
    monkeypatch.setenv(ENV, "")
    assert A.max_bytes() == 4096 * 2 ** 20


def test_the_environment_sets_the_limit_in_mb(monkeypatch):
    for text, limit in (("16", 16 * 2 ** 20), ("0.5", 2 ** 19), (" 2 ", 2 * 2 ** 20), ("1048576", 2 ** 40),
                        ("1e-9", 0)):
        monkeypatch.setenv(ENV, text)
        assert A.max_bytes() == limit and type(A.max_bytes()) is int, text


@pytest.mark.parametrize("text", ["0", "-1", "1048577", "1e300", "nan", "inf", "-inf", "abc", "16MB"])
def test_a_limit_that_is_not_a_number_of_mb_in_range_is_one_sentence(monkeypatch, tmp_path, text):
    monkeypatch.setenv(ENV, text)
    msg = f"{ENV}={text} is not a number of megabytes in 0..1048576 (unset it for the default, 4096)."
    with pytest.raises(TraceFileError) as e:
        A.max_bytes()
    assert str(e.value) == msg
    assert refused(zipped(tmp_path / "t.zip", [("a.npy", npy([1]))])) == msg


def test_parse_limit_mb():
    assert A.parse_limit_mb("1048576") == 1048576.0 and A.parse_limit_mb(1048576) == 1048576.0
    assert A.parse_limit_mb("1e-300") == 1e-300 and A.parse_limit_mb("4096") == 4096.0
    assert A.parse_limit_mb(b"64") == 64.0
    for bad in ("1048576.0001", 1048577, "0", 0, "-0.5", "nan", "inf", "x", "", None, [], {}):
        assert A.parse_limit_mb(bad) is None, bad


# -- reading -----------------------------------------------------------------------------

def test_members_are_read_by_name_with_their_values(tmp_path):
    p = zipped(tmp_path / "t.zip", [("kernels.start_ns.npy", npy(np.arange(3, dtype=np.int64))),
                                    ("meta.json.npy", npy(np.frombuffer(b'{"a": 1}', np.uint8), (2, 0))),
                                    ("empty.npy", npy(np.zeros(0, np.int64))),
                                    ("notes.txt", b"not an array")])
    got = A.read_members(p)
    assert sorted(got) == ["empty", "kernels.start_ns", "meta.json"]
    assert got["kernels.start_ns"].tolist() == [0, 1, 2] and got["kernels.start_ns"].dtype == np.int64
    assert got["meta.json"].tobytes() == b'{"a": 1}' and got["meta.json"].dtype == np.uint8
    assert got["empty"].tolist() == [] and got["empty"].dtype == np.int64
    assert sorted(A.read_members(p, lambda n: n == "meta.json")) == ["meta.json"]
    assert A.read_members(p, lambda n: False) == {}
    stored = zipped(tmp_path / "s.zip", [("a.npy", npy([-(2 ** 63), 2 ** 63 - 1]))], zipfile.ZIP_STORED)
    assert A.read_members(stored)["a"].tolist() == [-(2 ** 63), 2 ** 63 - 1]


class _Trickle:
    """A member stream whose readinto returns at most 7 bytes a call, as io allows."""

    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        return self.f.read(n)

    def readinto(self, b):
        data = self.f.read(min(len(b), 7))
        memoryview(b).cast("B")[:len(data)] = data
        return len(data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_short_reads_are_joined_in_order(monkeypatch, tmp_path):
    values = np.arange(-50, 50, dtype=np.int64) * 1_000_003
    p = zipped(tmp_path / "t.zip", [("a.npy", npy(values)), ("b.npy", npy(np.arange(10, dtype=np.uint8)))])
    short = zipped(tmp_path / "s.zip", [("a.npy", header("|u1", (138,)) + b"x" * 10)])
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, *a, **k: _Trickle(real_open(self, *a, **k)))
    got = A.read_members(p)
    assert got["a"].tolist() == values.tolist() and got["b"].tolist() == list(range(10))
    assert refused(short) == f"{short}: member a is truncated."


def test_a_fortran_order_header_of_one_dimension_is_a_column(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", header("<i8", (2,), fortran=True) + np.arange(2).tobytes())])
    assert A.read_members(p)["a"].tolist() == [0, 1]


@pytest.mark.parametrize("arr, what", [
    (np.arange(3.0), "a float64 array of shape (3,)"),
    (np.arange(3, dtype=np.int32), "a int32 array of shape (3,)"),
    (np.arange(3, dtype=">i8"), "a >i8 array of shape (3,)"),
    (np.zeros((2, 2), np.int64), "a int64 array of shape (2, 2)"),
    (np.zeros((1, 3), np.uint8), "a uint8 array of shape (1, 3)"),
    (np.int64(3), "a int64 array of shape ()"),
])
def test_a_member_that_is_not_a_1d_integer_column_is_refused(tmp_path, arr, what):
    p = zipped(tmp_path / "t.zip", [("ok.npy", npy([1])), ("a.npy", npy(arr))])
    assert refused(p) == f"{p}: member a is {what}, not a 1-d integer column."


def test_only_npy_versions_1_and_2_are_read(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", npy([5], (1, 0))), ("b.npy", npy([6], (2, 0)))])
    assert {k: v.tolist() for k, v in A.read_members(p).items()} == {"a": [5], "b": [6]}
    p = zipped(tmp_path / "v3.zip", [("a.npy", npy([5], (3, 0)))])
    assert refused(p) == f"{p}: member a has a corrupt array header (ValueError)."


@pytest.mark.parametrize("data", [b"hello world" * 20, b"\x93NUMPY\x01\x00", b"",
                                  b"\x93NUMPY\x01\x00\x10\x00{garbage}      \n"])
def test_a_corrupt_array_header_is_one_sentence(tmp_path, data):
    p = zipped(tmp_path / "t.zip", [("m.npy", data)])
    assert refused(p) == f"{p}: member m has a corrupt array header (ValueError)."


def test_a_member_name_twice_is_refused(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", npy([1])), ("b.npy", npy([2])), ("b.npy", npy([3]))])
    assert refused(p) == f"{p}: holds member b.npy twice (which one is the trace is ambiguous)."
    p = zipped(tmp_path / "u.zip", [("x.txt", b""), ("a.npy", npy([1])), ("x.txt", b"")])
    assert refused(p) == f"{p}: holds member x.txt twice (which one is the trace is ambiguous)."


def test_an_encrypted_member_is_refused(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", npy([1])), ("b.npy", npy([2])), ("c.npy", npy([3]))])
    patch_directory(p, 8, 0x1, member=1, fmt="<H")
    patch_directory(p, 8, 0x1 | 0x8, member=2, fmt="<H")
    assert refused(p) == f"{p}: member b.npy is encrypted; stepscope traces are not."
    other = zipped(tmp_path / "o.zip", [("a.npy", npy([1]))])
    patch_directory(other, 8, 0x2, fmt="<H")           # another flag bit: not encryption
    assert A.read_members(other)["a"].tolist() == [1]


# -- declared sizes against the limit ------------------------------------------------------

def test_the_zip_directory_may_declare_up_to_the_limit(tmp_path):
    # forged sizes: 2 x 2**31 bytes declared = 4096 MB, the default limit; a text member
    # declaring 4 GB does not count
    members = [("a.npy", npy([1])), ("b.npy", npy([2])), ("x.txt", b"")]
    p = zipped(tmp_path / "t.zip", members, zipfile.ZIP_STORED)
    for i, size in ((0, 2 ** 31), (1, 2 ** 31), (2, 0xFFFFFFF0)):
        patch_directory(p, 24, size, member=i)
    assert {k: v.tolist() for k, v in A.read_members(p).items()} == {"a": [1], "b": [2]}
    patch_directory(p, 24, 2 ** 31 + 1, member=1)
    assert refused(p) == f"{p}: its zip directory declares 4096 MB, over the 4096 MB limit {RAISE}"
    q = zipped(tmp_path / "q.zip", [*members, ("c.npy", npy([3]))], zipfile.ZIP_STORED)
    for i in (0, 1, 3):
        patch_directory(q, 24, 0xFFFFFFF0, member=i)
    assert refused(q) == f"{q}: its zip directory declares 12288 MB, over the 4096 MB limit {RAISE}"
    # the directory is checked before any member is opened or chosen
    assert refused(q, lambda n: False) == f"{q}: its zip directory declares 12288 MB, over the 4096 MB limit {RAISE}"


def test_the_zip_directory_limit_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, str(1024 / 2 ** 20))          # 1024 bytes
    ok = zipped(tmp_path / "ok.zip", [("a.npy", npy(np.zeros(896, np.uint8)))])   # 128 + 896 bytes
    assert len(A.read_members(ok)["a"]) == 896
    over = zipped(tmp_path / "over.zip", [("a.npy", npy(np.zeros(897, np.uint8)))])
    assert refused(over) == f"{over}: its zip directory declares 0 MB, over the 0 MB limit {RAISE}"


def test_a_member_may_declare_up_to_the_limit(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "1")
    # the header declares 2**20 bytes of values, the member holds 10: within the limit, corrupt
    at = zipped(tmp_path / "at.zip", [("a.npy", header("|u1", (2 ** 20,)) + b"x" * 10)])
    assert refused(at) == f"{at}: member a declares 1048576 values but holds 138 bytes (the file is corrupt)."
    past = zipped(tmp_path / "past.zip", [("a.npy", header("|u1", (2 ** 20 + 1,)) + b"x" * 10)])
    assert refused(past) == f"{past}: member a declares 1 MB, over the 1 MB limit {RAISE}"
    # int64 values are 8 bytes
    at = zipped(tmp_path / "at8.zip", [("c.npy", header("<i8", (2 ** 17,)) + b"x" * 10)])
    assert refused(at) == f"{at}: member c declares 131072 values but holds 138 bytes (the file is corrupt)."
    past = zipped(tmp_path / "past8.zip", [("c.npy", header("<i8", (2 ** 17 + 1,)) + b"x" * 10)])
    assert refused(past) == f"{past}: member c declares 1 MB, over the 1 MB limit {RAISE}"
    monkeypatch.setenv(ENV, "3")
    big = zipped(tmp_path / "big.zip", [("b.npy", header("<i8", (2 ** 22,)))])
    assert refused(big) == f"{big}: member b declares 32 MB, over the 3 MB limit {RAISE}"


def test_the_members_read_count_together_against_the_limit(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV, "1")
    p = zipped(tmp_path / "t.zip", [("a.npy", npy(np.zeros(600_000, np.uint8))),
                                    ("b.npy", header("|u1", (1_000_000,)) + b"x" * 10)])
    assert refused(p) == f"{p}: member b declares 1 MB, over the 1 MB limit {RAISE}"
    # a member skipped is not read and does not count
    assert refused(p, lambda n: n == "b") == \
        f"{p}: member b declares 1000000 values but holds 138 bytes (the file is corrupt)."
    assert len(A.read_members(p, lambda n: n == "a")["a"]) == 600_000


def test_a_member_that_ends_before_its_values_is_truncated(tmp_path):
    # declares as many values as the member's bytes (header included): the end comes first
    p = zipped(tmp_path / "t.zip", [("a.npy", header("|u1", (138,)) + b"x" * 10)])
    assert refused(p) == f"{p}: member a is truncated."
    p = zipped(tmp_path / "u.zip", [("a.npy", header("|u1", (139,)) + b"x" * 10)])
    assert refused(p) == f"{p}: member a declares 139 values but holds 138 bytes (the file is corrupt)."
    p = zipped(tmp_path / "v.zip", [("a.npy", header("<i8", (5,)) + b"x" * 39)])
    assert refused(p) == f"{p}: member a is truncated."


# -- corrupt and unreadable files ----------------------------------------------------------

def test_corrupt_or_truncated_zips_are_one_sentence(tmp_path):
    text = tmp_path / "text.zip"
    text.write_bytes(b"hello")
    assert refused(text) == f"{text}: the file is corrupt or truncated (BadZipFile: File is not a zip file)."
    whole = zipped(tmp_path / "w.zip", [("a.npy", npy(np.arange(1000)))]).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[:len(whole) // 2])
    assert refused(cut) == f"{cut}: the file is corrupt or truncated (BadZipFile: File is not a zip file)."


def test_a_bad_crc_in_the_values_is_one_sentence(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", npy(np.arange(20_000)))], zipfile.ZIP_STORED)
    b = bytearray(p.read_bytes())
    b[b.index(b"PK\x03\x04") + 30 + len("a.npy") + 100_000] ^= 1
    p.write_bytes(bytes(b))
    assert refused(p) == f"{p}: the file is corrupt or truncated (BadZipFile: Bad CRC-32 for file 'a.npy')."


def test_a_broken_deflate_stream_is_one_sentence(tmp_path):
    full = npy(np.random.default_rng(0).integers(0, 2 ** 62, 20_000))
    c = zlib.compressobj(wbits=-15)
    raw = c.compress(full[:65536]) + c.flush(zlib.Z_FULL_FLUSH) + b"\x07" + b"\x00" * 10   # a reserved block type
    p = zipped(tmp_path / "t.zip", [("a.npy", raw)], zipfile.ZIP_STORED)
    patch_directory(p, 10, zipfile.ZIP_DEFLATED, fmt="<H")
    patch_directory(p, 24, len(full))
    assert refused(p) == (f"{p}: the file is corrupt or truncated (error: Error -3 while decompressing data: "
                          "invalid block type).")


def test_a_member_running_past_the_end_of_the_file_is_one_sentence(tmp_path):
    p = zipped(tmp_path / "t.zip", [("a.npy", header("|u1", (1000,)) + b"x" * 10)], zipfile.ZIP_STORED)
    patch_directory(p, 20, 2000)
    patch_directory(p, 24, 2000)
    assert refused(p) == f"{p}: the file is corrupt or truncated (EOFError: )."


def test_unreadable_files_are_one_sentence(tmp_path):
    assert refused(tmp_path) == f"{tmp_path}: the file cannot be read (IsADirectoryError: [Errno 21] Is a directory: " \
        f"'{tmp_path}')."
    missing = tmp_path / "none.zip"
    assert refused(missing) == f"{missing}: the file cannot be read (FileNotFoundError: [Errno 2] No such file or " \
        f"directory: '{missing}')."
    p = zipped(tmp_path / "t.zip", [("a.npy", npy([1]))])
    patch_directory(p, 10, 99, fmt="<H")
    assert refused(p) == f"{p}: the file cannot be read (NotImplementedError: That compression method is not supported)."
    neg = zipped(tmp_path / "neg.zip", [("a.npy", header("<i8", (-1,)))])
    assert refused(neg) == f"{neg}: the file cannot be read (ValueError: negative dimensions are not allowed)."
