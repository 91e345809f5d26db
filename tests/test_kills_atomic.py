"""analysis/trace/atomic.py (issue 31): a write lands whole or not at all (the old file is
kept, no temporary is left, whatever interrupts it), the file's mode, the one-sentence
WriteError of each failing kind and the errors it lets through unchanged, the temporary's
name (in the destination folder, cut and hashed past 180 bytes) and the removal of
temporaries whose writer is gone (only those of this file, only dead writers')."""
import errno
import hashlib
import json
import os
import subprocess
import sys

import pytest

from stepscope.analysis.trace import atomic as A


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_write_json_and_text_land_whole_with_the_shared_mode(tmp_path):
    old = os.umask(0o027)
    try:
        p = A.write_json(tmp_path / "r.json", {"a": [1, 2]})
        assert p == tmp_path / "r.json" and p.read_text() == '{\n "a": [\n  1,\n  2\n ]\n}'
        assert oct(p.stat().st_mode & 0o777) == oct(0o640)          # 0666 less the umask, not mkstemp's 0600
        assert A.write_json(tmp_path / "c.json", {"a": 1}, indent=None).read_text() == '{"a": 1}'
        t = A.write_text(tmp_path / "r.txt", "x\ny")
        assert t == tmp_path / "r.txt" and t.read_text() == "x\ny"
        A.write_text(tmp_path / "r.txt", "new")                      # replaces
        assert t.read_text() == "new"
    finally:
        os.umask(old)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["c.json", "r.json", "r.txt"]


def test_the_temporary_is_beside_the_output_and_named_for_it(tmp_path):
    with A.atomic_open(tmp_path / "out.bin") as f:
        f.write(b"abc")
        (tmp,) = [x.name for x in tmp_path.iterdir()]
        assert tmp.startswith(f".out.bin.{os.getpid()}.") and tmp.endswith(".part")
        assert "." not in tmp[len(f".out.bin.{os.getpid()}."):-len(".part")]
    assert (tmp_path / "out.bin").read_bytes() == b"abc" and len(list(tmp_path.iterdir())) == 1


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "r.json"
    p.write_text("old")
    for exc in (KeyboardInterrupt, ValueError):
        with pytest.raises(exc):
            with A.atomic_open(p, "w") as f:
                f.write("half")
                raise exc()
        assert p.read_text() == "old" and [x.name for x in tmp_path.iterdir()] == ["r.json"]


def test_write_failures_are_one_sentence_and_keep_the_old_file(tmp_path):
    missing = tmp_path / "no" / "r.json"
    with pytest.raises(A.WriteError) as e:
        A.write_json(missing, {})
    assert str(e.value) == (f"cannot write {missing}: no such file or directory; nothing was written "
                            "(an older file of that name is kept).")
    assert e.value.errno == errno.ENOENT
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(A.WriteError) as e:      # the rename onto a folder fails after the write
        A.write_text(folder, "x")
    assert str(e.value) == (f"cannot write {folder}: is a directory; nothing was written "
                            "(an older file of that name is kept).")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["d"]


def test_other_errors_pass_through_unchanged_and_leave_no_temporary(tmp_path):
    p = tmp_path / "r.bin"
    with pytest.raises(OSError) as e:
        with A.atomic_open(p):
            raise OSError(errno.EBADF, "Bad file descriptor")
    assert type(e.value) is OSError and e.value.errno == errno.EBADF
    inner = A.WriteError(errno.ENOSPC, "already one sentence.")
    with pytest.raises(A.WriteError) as e:
        with A.atomic_open(p):
            raise inner
    assert e.value is inner and str(e.value) == "already one sentence."
    with pytest.raises(A.WriteError, match="^cannot write .*: no space left on device; nothing was written"):
        with A.atomic_open(p):
            raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(A.WriteError, match=r"^cannot write .*: OSError; nothing was written"):
        with A.atomic_open(p):
            raise OSError(errno.EIO, None)
    assert list(tmp_path.iterdir()) == []


def test_long_names_are_cut_and_hashed_past_180_bytes(tmp_path):
    name = "a" * 180
    assert A._stem(tmp_path / name) == f".{name}."
    long = "é" * 91                                  # 182 bytes: cut at 100 bytes, 50 characters
    h = hashlib.sha1(long.encode()).hexdigest()[:12]
    assert A._stem(tmp_path / long) == f".{'é' * 50}~{h}."
    odd = "b" + "é" * 90                             # 181 bytes: the cut falls inside a character
    assert A._stem(tmp_path / odd) == f".{'b' + 'é' * 49}~{hashlib.sha1(odd.encode()).hexdigest()[:12]}."
    A.write_text(tmp_path / ("c" * 250), "x")       # its temporary fits the 255-byte limit
    assert (tmp_path / ("c" * 250)).read_text() == "x"


def test_stale_temporaries_of_dead_writers_of_this_file_are_removed(tmp_path):
    dead, me = _dead_pid(), os.getpid()
    names = {f".x.json.{dead}.ab12.part": True,             # its writer is gone
             f".x.json.{me}.ab12.part": False,              # this process
             ".x.json.1.ab12.part": False,                  # pid 1 runs
             f".x.json.1.json.{dead}.ab12.part": False,     # a temporary of x.json.1.json
             f".x.json.{dead}.ab12.tmp": False,              # not a .part
             ".x.json.abc.ab12.part": False,                # no pid
             f".y.json.{dead}.ab12.part": False}            # another file's
    for n in names:
        (tmp_path / n).write_text("")
    gone = A.remove_stale(tmp_path / "x.json")
    assert gone == [tmp_path / n for n, g in names.items() if g]
    assert sorted(x.name for x in tmp_path.iterdir()) == sorted(n for n, g in names.items() if not g)
    assert A.remove_stale(tmp_path / "none" / "x.json") == []
    # a write of x.json removes them too
    (tmp_path / f".x.json.{dead}.cd34.part").write_text("")
    A.write_text(tmp_path / "x.json", "ok")
    assert not (tmp_path / f".x.json.{dead}.cd34.part").exists()


def test_alive(monkeypatch):
    assert A._alive(os.getpid()) and A._alive(1) and not A._alive(_dead_pid())

    def denied(pid, sig):
        raise PermissionError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(A.os, "kill", denied)          # another user's process: it exists
    assert A._alive(12345)


def test_write_error_reads_as_its_sentence():
    e = A.WriteError(errno.EROFS, "cannot write x: read-only.")
    assert str(e) == "cannot write x: read-only." and isinstance(e, OSError)
    assert json.loads(json.dumps(str(e))) == "cannot write x: read-only."
