"""Mutation testing of the analysis and trace-model code with mutmut (3.x), per module, and
its committed per-module summaries.

mutmut names a mutant by the file's path (``analysis/trace/steps.py`` ->
``analysis.trace.steps``) while the tests import ``stepscope.analysis.trace.steps``, so
mutmut cannot run in the source checkout (every mutant would read "no tests"). This
script stages a copy in the installed layout (``stepscope/analysis``, ``stepscope/profiler``,
``stepscope/kernels``, plus ``tests/``, ``traces/``, ``benchmarks/results/`` and
``pyproject.toml``), once per module, with ``[tool.mutmut]`` narrowed to that module and
the tests that exercise it (``MODULES`` below), runs ``mutmut run`` there, and writes the
module's counts, every survivor's diff and the run's time to
``benchmarks/results/mutation/<module>.json``, then re-renders the table of all modules in
``benchmarks/results/mutation/README.md``.

    python3 -m venv /tmp/mutvenv --system-site-packages && /tmp/mutvenv/bin/pip install mutmut==3.8.1
    PYTHONPATH=$PWD python3 benchmarks/mutation.py --mutmut /tmp/mutvenv/bin/mutmut \
        [--modules host dram_checks ... | --since REV] [--time-box-min 100]

``--modules`` takes short names (``host``, ``trace.kernel_dram``), dotted names or file
paths; ``--since REV`` takes the modules of ``MODULES`` whose file changed since ``REV``;
neither: every module. Modules run one after another, one mutmut worker each
(``--max-children``); the time box covers the whole command: a module it cuts short is
written with ``"complete": false`` and its unchecked mutants counted, and the modules after
it are not run. ``--stale`` lists the modules whose summary was made from other source
than the checkout's (the before-stop check of a change: re-run those).
"""
from __future__ import annotations

import argparse
import ast
import datetime
import difflib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: mutmut's exit codes (mutmut/stats.py ``status_by_exit_code``, 3.8); others: suspicious
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "caught by type check",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}


#: Survivors judged equivalent: (regex on the diff's "+" side, why no valid input can tell the
#: mutant from the original). Each is a reviewed class, not a wildcard; mutation.md lists them.
_PM = "stepscope.analysis.predict_model"
_KC = "stepscope.analysis.kernel_classes"
EQUIVALENT = [
    # Module classes that must come before the general ones below.
    (r'-    rows\.sort\(key=lambda r: r\["peak_bytes_per_s"\] or 0\) \|\| \+.* or 1\)', "peaks are bytes/s (1e11 and "
     "more): a GPU without one sorts first with 0 or with 1", "stepscope.analysis.results.sweep"),
    (r'<= rows\[i\]\.get\(k, -np\.inf\) \|\| \+.*<= rows\[i\]\.get\(k, (None|\+np\.inf|)\)', "rows[i] is read "
     "only when every pair before it held; a row without the mode fails its pair with the row before (inf <= a "
     "finite %), so all() stops before this default is read", "stepscope.analysis.results.sweep"),
    (r'-            bm = \(b or \{\}\)\.get\("modes", \{\}\)\.get\(mode, \{\}\) if b and b\.get\("valid"\) else \{\} \|\| '
     r'\+            bm = \(b or \{\}\)\.get\("modes", (None|)\)\.get\(mode, \{\}\)', "b is valid here, and a valid arm "
     "has modes (profiler.experiments.quant.read_arm derives valid from them): the default is never read",
     "stepscope.analysis.results.quant"),
    (r"""\+.*float\(["']NAN["']\)""", "float() reads 'NAN' as nan, as 'nan'"),
    (r"-.*_fmt\(r\['(realised|expected)_speedup'\], '\.2f'\).* \|\| \+.*_fmt\(r\['(realised|expected)_speedup'\], '\.2F'\)",
     "'.2F' differs from '.2f' only for nan and inf (printed upper-case); a speedup here is a ratio of two "
     "positive medians or byte counts, or None (printed '-')", "stepscope.analysis.render.tables"),
    (r'extrasaction="IGNORE"', "csv.DictWriter checks extrasaction case-insensitively and acts only on "
     "== 'raise': 'IGNORE' ignores extra keys as 'ignore' does", "stepscope.analysis.render.tables"),
    (r"-.*np\.searchsorted\(x, rel, side=\"right\"\) - 1, 0, len\(x\) - 1\).* \|\| \+.*(np\.searchsorted\(x, rel, side="
     r"\"right\"\) - 1, (None, len\(x\) - 1|0, None|0, len\(x\) \+ 1)\)|np\.searchsorted\(x, rel, \) - 1, 0, len\(x\) - 1\))",
     "rel >= 0 = x[0], so searchsorted(side='right') - 1 lies in 0..len(x)-1 and neither clip bound bites; with "
     "side='left' a time on a sample reads the sample before it, whose line meets the next sample's value there "
     "(the integral is continuous)", "stepscope.analysis.trace.nvml_steps"),

    # predict_model (reviewed: random valid sources give the same output to below a ns)
    (r"\+\s*(first = np\.r_\[False, seg\[1:\] != seg\[:-1\]\]|sid = np\.cumsum\(first\) (\+ 1|- 2)|off = sid \* "
     r"\(float\(x\.max\(\)\) \+ 2\.0\))$", "_segmented_cummax: every segment's offset shifts by one constant, or "
     "segments are spaced max(x)+2 apart (any spacing >= max(x) keeps them apart, x >= 0); a running max commutes with a "
     "constant shift, so only rounding changes (<= 4e-9 ns on random sources), below the integer ns of a prediction", _PM),
    (r"\+\s*beta\[c\] = max\(float\(\(bc \* \(r\[m\] \+ r\[m\]\.mean\(\)\)\)\.sum\(\) / \(bc \* bc\)\.sum\(\)\), 0\.0\)",
     "bc is centred (sums to 0), so sum(bc*(r + mean r)) = sum(bc*r) = sum(bc*(r - mean r)) up to rounding", _PM),
    (r"\+\s*base = np\.where\(src\[\"first\"\], c \+ g - t_ns, np\.nan\)",
     "g is set to 0 at every step's first record on the line before, and base keeps only those entries", _PM),
    (r"\+\s*prev_e = np\.where\(src\[\"first\"\], 0\.0, np\.r_\[1\.0, e\[:-1\]\]\)"
     r"|\+\s*prev_end = np\.r_\[1(\.0)?, latest\[:-1\]\]",
     "element 0 is always a step's first record (first = np.r_[True, ...]), where np.where takes the other branch: "
     "the shifted-in value is never read", _PM),
    (r"\+\s*waited = s_start >= prev_e \+ g \+ 1e-6$", "differs only when the host release beats GPU-ready by "
     "exactly fl(1e-6) ns, the edge of the rounding tolerance; both read a tie at 0 ns the same", _PM),
    (r"\+.*\"(busy_ns|launch_ns|gpu_gap_ns)\": np\.bincount\(inv, (t_ns|np\.where\(waited, (idle, 0\.0|0\.0, idle)\)), \)",
     "inv from np.unique(return_inverse=True) takes every value 0..len(uniq)-1, so bincount's length is len(uniq) "
     "without minlength", _PM),
    (r'-        if key in \[n\.lower\(\) for n in \[e\["name"\], \*e\.get\("aliases", \[\]\)\]\]: \|\| '
     r'\+        if key in \[n\.(upper\(\) for n in \[e\["name"\], \*e\.get\("aliases", \[\]\)\]|lower\(\) for n in '
     r'\[e\["name"\], \*e\.get\((None|"XXaliasesXX"|"ALIASES"), \[\]\)\])\]:', "the exact-name loop is a shortcut: "
     "a name or alias equal to the key is inside it as whole words and no other name of that length can be, so "
     "the longest-contained search after it returns the same entry (the first listing it)",
     "stepscope.analysis.gpu_table"),
    # kernel_classes (helper-reviewed; each regex matches only its own mutants of the 220)
    (r'\+    out, i = \[\], 1$', "_mangled_idents only reads names starting with _Z: name[0] is '_', no digit", _KC),
    (r'\+        if name\[i\]\.isdigit\(\) and \(i == 1 or not name\[i - 1\]\.isdigit\(\)\):',
     "names start with _Z: at i 0 and 1 there is no digit", _KC),
    (r'\+            literal = i (> 2|>= 3) and name\[i - 2\] == "L"', "they differ only at i == 2, where name[0] is '_', "
     "not 'L'", _KC),
    (r'\+    return table\[inv\] if \(len\(uniq\)\) or True else', "no ids: table[inv] is the same empty int64 array", _KC),
    (r'\+        while i <= len\(name\) and name\[i\] in "rVKL":', "a valid symbol has a name after its qualifiers, and a "
     "cut at CLASSIFY_CHARS cannot fall in the first 7 characters", _KC),
    (r'\+        while i < len\(name\) and name\[i\] in "XXrVKLXX":', "X never follows _ZN or its qualifiers; it only "
     "starts an expression inside template arguments", _KC),
    (r'\+        if i < len\(name\) and name\[i\] == "(XXIXX|i)":   # template arguments', "the break only fires on a "
     "non-digit, where the loop's isdigit() condition stops anyway", _KC),
    (r'\+            "class": \[KernelClass\(classify_names\(trace\.strings, uniq\[i:i \+ 2\]\)\[0\]\)',
     "element [0] of the classes of uniq[i:i + 2] is the class of uniq[i], as of uniq[i:i + 1]",
     "stepscope.analysis.kernel_tables"),
    (r'\+            "bytes_per_s": np\.where\(tot\[order\] >= 0, ',
     "a kernel name with 0 ns in total has 0 bytes (bytes are PM samples over its zero-length intervals), so "
     "0 / max(0, 1) * 1e9 is the 0 the other branch gives", "stepscope.analysis.kernel_tables"),
    (r'os\.listdir\(path\.parent or "XX\.XX"\)', "a Path is always true (Path('') is Path('.')), so `or` never "
     "reads its right side", "stepscope.analysis.trace.atomic"),
    (r'\+\s*report = progress or \(lambda n, part: 0\)$', "the fallback progress callback's return value is never "
     "read (report(...) is a statement)", "stepscope.analysis.render.perfetto"),
    (r'\+\s*with atomic_open\(path, \) as f:$', "atomic_open's mode defaults to 'wb', the mode given",
     "stepscope.analysis.render.perfetto"),
    (r"-.*format\(c\['pct_floor_all'\], '\.0f'\).* \|\| \+.*format\(c\['pct_floor_all'\], '\.0F'\)", "'.0F' "
     "differs from '.0f' only for nan/inf; a sweep cell's pct_floor_all is a finite floor over a positive step",
     "stepscope.analysis.render.predict"),
    (r'\.get\("rounds", 1\)\).* \|\| \+.*rounds=int\((\(t\.meta\.get\("perturbation"\) or \{\}\)|p)\.get\("rounds", 2\)\)',
     "untraced.equivalent resamples rounds only from 3 on: a missing count read as 2 instead of 1 changes nothing",
     "stepscope.analysis.summary"),
    (r'-\s*mode = \(meta\.get\("workload"\) or \{\}\)\.get\("mode", ""\) \|\| \+\s*mode = \(meta\.get\("workload"\) '
     r'or \{\}\)\.get\("mode", (None|"XXXX"|)\)$', "PERTURBATION_TARGET_PCT's only key is 'graph': '', None and 'XXXX' "
     "all get the default target", "stepscope.analysis.summary"),
    (r'\+\s*"XXXX"\.join\(strings\)\.encode\("utf-8"\)$', "ASCII between the strings does not change whether they "
     "encode (Python never pairs surrogates on encode)", "stepscope.analysis.trace.validate"),
    (r'\+\s*(""\.join\(strings\)|json\.dumps\(meta, ensure_ascii=False\))\.encode\("UTF-8"\)$',
     "codec names are case-insensitive", "stepscope.analysis.trace.validate"),
    (r'\+\s*json\.dumps\(meta, ensure_ascii=None\)\.encode\("utf-8"\)$', "json tests ensure_ascii for truth: None "
     "is false, as False", "stepscope.analysis.trace.validate"),
    (r'\+\s*if len\(s\) >= 1 and \(s\[1:\] < e\[:-1\]\)\.any\(\):$', "with one step s[1:] is empty and .any() "
     "is False, as the original's length test gives", "stepscope.analysis.trace.validate"),
    (r'\+\s*raise ValueError\(None\)$', "only type(e).__name__ of this error reaches the sentence",
     "stepscope.analysis.trace.archive"),
    (r'\+\s*if dtype not in _DTYPES or len\(shape\) != 1 or fortran and len\(shape\) > 2:$', "a Fortran-order "
     "column of more than one dimension is already refused by len(shape) != 1", "stepscope.analysis.trace.archive"),
    (r'\+\s*raw = os\.environ\.get\("STEPSCOPE_MAX_TRACE_MB", (None)?\)$', "an unset variable read as None or '' "
     "gives the default limit either way (`not raw`)", "stepscope.analysis.trace.archive"),
    (r'\+\s*view, got = memoryview\(arr\)\.cast\("b"\), 0$', "readinto copies bytes whatever the view's byte "
     "format ('b' or 'B')", "stepscope.analysis.trace.archive"),
    (r"\+\s*k = buf\.find\(_KEY, (None|)\)|\+\s*start = None", "the key search's start only skips text already "
     "searched: k is the buffer's first key either way; only time differs", "stepscope.analysis.trace.json_stream"),
    (r"\+\s*start = 1\s|\+\s*start = max\(1, len\(buf\) - len\(_KEY\)\)|\+\s*if k (<= 0|< 1):", "the key starts at "
     "byte 0 only in a text beginning with it, which is no JSON object: both refuse it", "stepscope.analysis.trace.json_stream"),
    (r"\+\s*j = buf\.rfind\(b\"[}\]]\", None, pos\)", "rfind's start None is 0", "stepscope.analysis.trace.json_stream"),
    (r"\+\s*j = buf\.rfind\(b\"[}\]]\", 1, pos\)|\+\s*if j (<= 0|< 1):", "buf[0] is the slot byte ('[', or the ',' "
     "or whitespace before the next '{'), never '}' or ']': rfind never returns 0", "stepscope.analysis.trace.json_stream"),
    (r"^-\s*pos = len\(buf\) \|\| \+\s*pos = None", "rfind(b']', 0, None) searches to the end as pos = len(buf) "
     "does", "stepscope.analysis.trace.json_stream"),
    (r"^-        pos = j \|\| \+        pos = None$", "a head that parses but is no object stays so for every earlier "
     "']' (its type is set by its first byte, in the prefix): both raise NotSplittable", "stepscope.analysis.trace.json_stream"),
    (r'if get is not None or put is not None:', "OpenBLAS exports its get and set entry points together; no "
     "loaded library has one without the other", "stepscope.analysis.blas_threads"),
    # trace.detect (reviewed in fc75962; lost from this list in a later rewrite, restored)
    (r"\+\s*rows = \{c: np\.asarray\(det\.steps\.get\(c, np\.full\(len\(det\.steps\.get\(\"index\", \[\]\)\), -1\)\), (None|)\)",
     "the steps' columns are int64 arrays or lists of Python ints: numpy's default dtype is int64 too",
     "stepscope.analysis.trace.detect"),
    (r"\+\s*if ratio <= 1\.5 or", "at ratio 1.5 exactly, |1.5 - round(1.5)| = 0.5 > 0.075: True either way",
     "stepscope.analysis.trace.detect"),
    (r"\+\s*score = np\.median\(gap\[np\.clip\(idx, (None, len\(gap\) - 1|0, None|0, len\(gap\) \+ 1)\)\]",
     "idx = an anchor's position minus 0..span-1 with span <= the first regular anchor + 1: 0 <= idx <= the "
     "last launch, so the clip's bounds never bite", "stepscope.analysis.trace.detect"),
    (r"\(np\.diff\(pos\) >= chosen\.length\)", "an irregular segment is more than 1 launch from the "
     "median length, so it never equals it", "stepscope.analysis.trace.detect"),
    (r"if i <= first_dec|if i >= last_dec", "labels[first_dec] and labels[last_dec] are 'decode', never "
     "'irregular'", "stepscope.analysis.trace.detect"),
    (r'\+ *return int\(cfg\.get\("head_dim"\) or cfg\["hidden_size"\] / cfg\["num_attention_heads"\]\)',
     "int() of a positive quotient truncates as // does (model sizes are far below 2**53)", "stepscope.analysis.floor"),
    (r'\+ *tied = bool\(cfg\.get\("tie_word_embeddings", (None|)\)\)', "bool(None) is False, the default given",
     "stepscope.analysis.floor"),
    (r'\+ *name = gpu\.get\("name", "XXXX"\)', "no datasheet key is inside 'XXXX', as none is inside '': both "
     "read as an unknown GPU", "stepscope.analysis.floor"),
    (r'kind="STABLE"\)\]\[:top\]', "numpy reads a sort kind's name case-insensitively: \"STABLE\" is the stable sort "
     "(ties in ncu's read bytes are common: this one is not the general rule's distinct-keys case)",
     "stepscope.analysis.dram_ncu"),
    (r'\+ +out\[f"ncu_\{col\}_bytes"\] = np\.bincount\(g, weights=np\.nan_to_num\(ncu\[f"\{col\}_bytes"\]\), \)',
     "the per-group sums are read only at values of g, which bincount covers without minlength; the arrays are "
     "deleted before returning", "stepscope.analysis.dram_ncu"),
    (r"\+.*(np\.(zeros|ones|empty|array|asarray|arange)\(ARG,|np\.full\(ARG,ARG,|\.astype\()\s*(None|)\s*\)"
     .replace("ARG", r"(?:[^(),]|\((?:[^()]|\([^()]*\))*\))+"),
     "dtype argument dropped or None: numpy's default here is the same dtype (int64 / float64 / bool "
     "from the values on 64-bit Linux), or the array is used where the dtype does not matter"),
    (r"\+.*dtype=None", "dtype=None: numpy infers int64 from the values, as asked"),
    (r"\+.*np\.(asarray|array)\([^,]+, *(None|)\)", "float conversion dropped: inputs are already float, "
     "and the arithmetic after it is true division"),
    (r"\+(?!.*argsort\(rec\.start_ns\[m\], (kind=None|)\))(?:.*argsort\(.*kind=(None|\"STABLE\")|.*argsort\([^,]+, \))",
     "sort stability: the sorted keys (step starts, step indices, PM sample starts) are distinct in any "
     "valid trace, and numpy accepts kind names in any case"),
    (r"\+.*np\.clip\(i, None, None\)", "the clipped index is only used where i >= 0 (masked by ok)"),
    (r"\+.*vectorized=(None|False)|\+.*n_resamples=n_resamples, method=\"PERCENTILE\"|\+.*vectorized=True, n_re",
     "scipy.stats.bootstrap: vectorized is detected from the statistic's axis argument; method names are "
     "case-insensitive; confidence_level defaults to 0.95 (the only level the caller passes)"),
    (r"\+.*integers\(n, size", "Generator.integers(n) draws from [0, n), as integers(0, n)"),
    (r"\+.*t0 = xs\[1\]", "t0 is only a reference offset for float exactness; any sample time works"),
    (r"\+.*csum = np\.concatenate\(\[\[1\.0\]", "only differences of the cumulative sum are used"),
    (r"\+.*np\.errstate\(", "np.errstate only silences floating-point warnings; the values are the same"),
    (r"\+.*keep=(None|\"XXlastXX\"|\"LAST\")", "lookup keeps the last row for any keep other than \"first\""),
    (r"\+.*kinds = np\.where\(is_cpy, cpy\[np\.where\(is_cpy, rec\.row\[nx\], [01]\)\] if len\(cpy\) else "
     r"(\+1|-2|-1), (\+1|-2|-1)\)|\+.*rec\.row\[nx\], 1\)",
     "copy kinds outside copies (and with no copy table) are masked by is_cpy before use"),
    (r"\+.*(l_end|l_start) (> 0|>= 1)\)", "differs only for a launch call at time 0 ns; trace timestamps are "
     "absolute (about 1.8e18 ns), and -1 marks a missing call"),
    (r"\+.*l_start = np\.where\((ok \| found|ok & found), l_start, (\+1|-2)?-?1?\)",
     "l_start outside ok is masked by ok in the returned expression"),
    (r"\+.*s_idx\[np\.clip\(i, 0, None\)\] if len\(s_idx\) else (\+1|-2), -1\)",
     "with no steps, ok is all False, so np.where returns -1 whatever this branch holds"),
    (r"\+.*np\.where\(found \| \(rec\.step >= 0\), pos, -1\)", "pos is already -1 where found is False"),
    (r"\+.*wl\.get\(\"ctx\", (None|1|)\)", "a decode workload always records ctx (analysis/trace/workload.py), so "
     "the default is never used"),
    (r"\+.*kinds = np\.where\(is_cpy, .*, None\)", "copy kinds outside copies are masked by is_cpy before use"),
    (r"\+.*l_end = np\.where\(known, launch_end\[nx\] if len\(launch_end\) else (\+1|-2|-1), (\+1|-2|-1)\)",
     "the launch end of a gap without a next record is masked by known before use"),

    (r"\+.*(bootstrap_ci|ratio_of_means_ci|prediction_ci|explained_gap_range)\(.*(seed=None|, \)\)?)",
     "seed not passed on: the default (0) is the seed summarize is called with, and the percentile bounds "
     "of a median over 10,000 resamples are the same sorted values for any seed"),

    # -- issue 31: (regex, why, module the class applies to) --------------------------------
    (r"\+.*autojunk=None", "difflib tests autojunk for truth: None is False, as given", "stepscope.analysis.trace.kernel_dram"),
    (r"\+\s*if len\(v\) (< 2|<= 2|< 3) (or|and) np\.all\((v [!=]= v\[[01]\]|None)\):",
     "the degenerate-sample shortcut of bootstrap_ci: scipy's percentile bootstrap of a constant sample is that "
     "constant (no warning), and of two values is their min..max (a resample set without (a, a) or (b, b) has "
     "probability (3/4)^10000), so the shortcut taken or not gives the same interval", "stepscope.analysis.results.ab"),
    (r"\+\s*if len\(b\) (< 2|<= 2|< 3) (or|and) np\.all\((b [/*] a [!=]= b\[[01]\] [/*] a\[[01]\]|None)\):",
     "the constant-ratio shortcut of ratio_of_means_ci: paired resamples of sessions with one ratio all have "
     "that ratio, and two sessions' resampled ratios of means span exactly their two ratios, so scipy gives "
     "the same interval as the shortcut", "stepscope.analysis.results.ab"),
    (r"\+\s*if len\(b\) < 2 or len\(a\) < 2 or np\.all\((None|b != b\[0\])\) and np\.all\(a == a\[0\]\):|"
     r"\+\s*if len\(b\) < 2 or len\(a\) < 2 or np\.all\(b == b\[0\]\) and np\.all\((None|a != a\[0\])\):",
     "the both-constant shortcut of ratio_of_medians_ci dropped: the bootstrap of two constant samples is "
     "their ratio, as the shortcut gives", "stepscope.analysis.results.ab"),
    (r"\+.*bootstrap\(\(b, a\), _ratio_of_(means|medians), paired=(True|False), confidence_level",
     "vectorized=True dropped: scipy.stats.bootstrap finds the statistic vectorised from its axis argument",
     "stepscope.analysis.results.ab"),
    (r"\+.*bootstrap\(\(b, a\), _ratio_of_medians, vectorized=True",
     "paired=False dropped: scipy's default is paired=False", "stepscope.analysis.results.ab"),

    (r"\+.*corr = rec\.correlation\[np\.clip\(nxt, None, None\)\]",
     "a gap without a next record (nxt = -1) reads the last record's correlation, and ok (nxt >= 0) masks it",
     "stepscope.analysis.gap_context"),
    (r"\+.*ends\[np\.clip\(i, None, len\(ends\) - 1\)\]",
     "i comes from np.searchsorted, never negative: only the upper clip matters", "stepscope.analysis.gap_context"),
    (r"\+\s*waited = np\.full\(n, (None|\"XXXX\"), dtype=object\)|\+\s*is_launch = None",
     "every gap's cause is one of the six GapCause values and each has a branch that sets its gaps' entry, so "
     "the initial value is never read; is_launch = None writes the leaders into every entry, and each "
     "non-launch entry is then overwritten by its own cause's branch", "stepscope.analysis.gap_context"),
    (r"\+\s*waited\[other & \(nxt (> 0|>= 1)\)\]",
     "record 0 is the trace's first record, so the gap it ends is its step's leading gap, and a leading gap "
     "with a record is launch overhead (gaps.classify), never other idle", "stepscope.analysis.gap_context"),

    (r"\+\s*starts = np\.sort\(m\[\"start_ns\"\]\[keep\], (kind=None|kind=\"STABLE\"|)\)",
     "np.sort returns the sorted values, the same for any sort kind (no indices to keep stable)",
     "stepscope.analysis.record_cost"),
    (r"\+\s*last = np\.searchsorted\(starts, e, \) - 1",
     "side='left' is np.searchsorted's default", "stepscope.analysis.record_cost"),
    (r"\+\s*same = \[r if \(len\(r\) == len\(ref\)\) and False else"
     r"|\+.*r\[len\(r\) - len\(ref\):\] if len\(r\) >= len\(ref\) else",
     "a run of exactly len(ref) read-backs comes out whole from every branch (r[0:], or no zeros "
     "before r)", "stepscope.analysis.record_cost"),
    (r"\+.*else float\(\"NAN\"\)", "float() reads 'NAN' as nan", "stepscope.analysis.record_cost"),

    (r"\+.*np\.fromiter\(.*, None, n\)",
     "np.fromiter without a dtype makes float64, exact for integers below 2**53; the trace model casts each "
     "column to its int64/bool dtype (table_from_rows), and Kineto's ids, thread ids, streams and byte counts "
     "are far below 2**53", "stepscope.analysis.trace.kineto_fast"),
    (r"\+.*np\.fromiter\(.*, (np\.\w+), \)",
     "fromiter's count only preallocates: the iterator yields exactly n items", "stepscope.analysis.trace.kineto_fast"),
    (r"-                            continue \|\| \+                            break$", "the steps' branch is for host, the "
     "last of _ROUTES, so leaving the loop there and going on to the next table are the same",
     "stepscope.analysis.trace.kineto_fast"),
    (r"\+\s*step_names = None", "finish() tests step_names for truth only: None and [] read the same",
     "stepscope.analysis.trace.kineto_fast"),
    (r"\+\s*se = times\(path, c\.get\(\"ts\", \[\]\), c\.get\(\"dur\", \[\]\), None, what\)",
     "exact=None is falsy, as False", "stepscope.analysis.trace.kineto_fast"),

    (r"\+\s*out\.__dict__\.pop\((None|\"XX_indexXX\"|\"_INDEX\"), None\)",
     "the name index left in place is the one intern() kept up to date while merging; dropping it only makes "
     "the next intern() rebuild the same index", "stepscope.analysis.trace.merge"),
    (r"\+.*remap\[np\.clip\(cols\[c\], None, None\)\]",
     "only -1 ('none') is negative, and np.where keeps those entries from the other branch",
     "stepscope.analysis.trace.merge"),

    (r"\+.*for _ in range\(65\):", "the climb stops as soon as nothing is left to climb; nesting is far below "
     "64 levels, so a 65th round never runs", "stepscope.analysis.host"),
    (r"\+.*np\.clip\((j|p|lrow|srow), None, None\)",
     "the index is clipped only to read a row safely where it is -1, and those entries are masked by the same "
     "expression's >= 0 test (numpy accepts clip(x, None, None) as a no-op)", "stepscope.analysis.host"),
    (r"\+\s*bad = \(p (> 0|>= 1)\) & \(end\[pp\] <= end\)|\+\s*bad = \(p >= 0\) & \(end\[pp\] < end\)",
     "previous-longer pointers: stopping at row 0 (whose own pointer is -1), or at a call that ends at the same "
     "time, only adds one step to the climb in _innermost, which passes any call that has ended by then",
     "stepscope.analysis.host"),
    (r"\+\s*return np\.where\(found, pos, -2\)", "every gap belongs to a step, and API calls outside steps are "
     "only tested with >= 0: any negative marker reads the same", "stepscope.analysis.host"),
    (r"\+.*if \(kind and w == kind\) or \(not kind and w not in \(\"launch API\", \"API\"\)\)\), None\)",
     "no leading hotspot: '' and None are both falsy, and the lead is only used under `if lead`", "stepscope.analysis.host"),
    (r"\+.*if \(len\(srow\)\) or True else",
     "inside `if fw.any()`, srow is never empty", "stepscope.analysis.host"),
    (r"\+\s*if trace\.n\(\"host_spans\"\) else (-1|\+1|-2), (None|-1|-2)\)",
     "span kinds where there is no span (srow < 0, or no host spans at all) only fail the == 0 / == 1 tests, "
     "as -1 does: the hotspot is 'framework' either way", "stepscope.analysis.host"),
    (r"\+.*if \(\(lrow >= 0\)\.any\(\)\) or True else \[\]",
     "with no launch call found, np.unique of an empty selection is empty: the loop runs zero times either way",
     "stepscope.analysis.host"),
    (r"\+.*else \"memset\" if \(r >= 0\) or True else|\+.*else \"memset\" if r >= 0 else \"XX-XX\"",
     "a launch-bound gap always has a next record (r >= 0): the '-' branch is unreachable", "stepscope.analysis.host"),
    (r"\+\s*mid = g0 \+ \(g1 - g0\) / 2",
     "integer span bounds compare the same with the middle m and m + 0.5 (s <= m iff s <= m + 0.5; e > m iff "
     "e > m + 0.5)", "stepscope.analysis.host"),

    (r"\+\s*return np\.full\(", "the no-calls / no-spans branch of _api_owner and _innermost: with no rows, "
     "_take returns -1 for every piece whatever this array holds", "stepscope.analysis.host"),
    (r"\+\s*v\[kd\[\"kernel\"\]\] = np\.where\(got >= 0, got, None\)", "None stored into a float array is NaN",
     "stepscope.analysis.dram_fit"),
    (r"\+\s*m = \(idk >= 0\) & np\.isfinite\(v\) \| \(pos >= 0\)|\+\s*m = \(idk >= 0\) \| np\.isfinite\(v\) & \(pos >= 0\)",
     "a kernel has an identity exactly when it is in a step (identities() numbers the records with pos >= 0), "
     "and a value that is not finite only writes NaN over NaN", "stepscope.analysis.dram_fit"),
    (r"\+\s*warnings\.simplefilter\(\"ignore\", \)", "only RuntimeWarnings (nanmean of an all-NaN column) arise "
     "in the block: ignoring all warnings is the same", "stepscope.analysis.dram_fit"),
    (r"-\s*first = np\.full\(ng, -1\) \|\| \+", "a dead store: `first` is assigned again before any use",
     "stepscope.analysis.dram_fit"),
    (r"\+\s*cmin, cmax = np\.full\(ng, (99|100)\), np\.full\(ng, (-99|-100)\)",
     "sentinels beyond any class (0..11): every group has a member, so both are overwritten", "stepscope.analysis.dram_fit"),
    (r"\+\s*\"members\": np\.bincount\(group_of_id, \)|\+.*\"time_ns_per_step\": np\.bincount\(group_of_id, "
     r"weights=ids\[\"dur_ns\"\], \)|\+\s*t = np\.bincount\(group_of_id, weights=ids\[\"dur_ns\"\], \)",
     "every group 0..ng-1 has a member (arange in the counter pass, initial_groups numbers groups as it opens "
     "them, np.unique's inverse after a merge), so bincount is ng long without minlength",
     "stepscope.analysis.dram_fit"),
    # dram_fit's PM deconvolution
    (r"^-    ng = int\(group_of_id\.max\(\)\) \+ 1 \|\| \+    ng = int\(group_of_id\.max\(\)\) \+ 2$",
     "the offset search with one more group column, which no record overlaps: nnls_normal leaves a column "
     "with no data out of the solve (NaN, made 0 by fit()), so the residuals are the same up to the solver's "
     "rounding (at most 7e-12 relative on dram-recovery-h100; no offset moved on any of the 60 shipped PM "
     "traces, checked 2026-12-06); ng is set again before the fit",
     "stepscope.analysis.dram_fit"),
    (r"\+\s*for rnd in range\(merge_rounds \+ 2\):", "for any merge_rounds >= 0 the loop leaves by its "
     "break at rnd == merge_rounds, before the range ends", "stepscope.analysis.dram_fit"),
    (r"\+\s*dw = dr if \(off_w == off_r\) and False else", "at the read offset the write design is the same "
     "matrix (same groups, spans and offset): building it again gives equal arrays", "stepscope.analysis.dram_fit"),
    (r"\+\s*design = lru_cache\(maxsize=(None|65)\)", "the cache size only changes how many designs are "
     "rebuilt, not what they hold", "stepscope.analysis.dram_fit"),
    (r"\+\s*return new\.reshape\((None|-2)\)", "np.unique's inverse of a 1-D array is 1-D (numpy >= 2.0.1): "
     "reshape(None) and reshape(-2) leave it as it is", "stepscope.analysis.dram_fit"),
    (r"\+\s*return np\.nan_to_num\(np\.clip\(c, -1, 1\), \)", "nan_to_num's default nan is 0.0", "stepscope.analysis.dram_fit"),
    (r"\+\s*n = np\.searchsorted\(a, prob\.smp\.end_ns \+ margin_ns, \)|"
     r"\+\s*int\(np\.searchsorted\(self\.smp\.start_ns, self\.hi\.max\(\) \+ offset_ns, \)\)\)",
     "searchsorted's default side is \"left\"", "stepscope.analysis.dram_fit"),
    (r"\+\s*g = np\.where\(ident >= 0, group_of_id\[np\.maximum\(ident, 0\)\], -2\)|"
     r"\+\s*key = np\.where\(g >= 0, np\.maximum\(pos, 0\) \* ng \+ g, 1\)",
     "record_rates: records outside every group are only tested by g >= 0 and masked to rate 0 at the end "
     "(-2 is outside as -1 is; their key only picks a busy time that is never used)", "stepscope.analysis.dram_fit"),
    (r"\+\s*n_steps = int\(pos\.max\(\)\) (\+ 1 if \(len\(pos\)\) and False|- 1 if len\(pos\)|\+ 2 if len\(pos\)|"
     r"\+ 1 if len\(pos\) else 1)|"
     r"\+\s*gdur = np\.bincount\(key, weights=np\.where\(g >= 0, dur, 0\), (minlength=max\(n_steps \* ng, 2\)|)\)",
     "record_rates: gdur is read only at keys it counted, and bincount is always as long as its largest key: "
     "minlength (n_steps x groups, at least 1) never decides a value read", "stepscope.analysis.dram_fit"),
    (r"\+\s*(None|self\.window\(offset_ns\)), (RAMP_NS|)\)$|\|\| \+\s*RAMP_NS\)$",
     "the window only skips samples that cannot be rows (the design is the same without it, overlapping "
     "samples included: test_sample_window_leaves_the_design_unchanged, "
     "test_the_window_leaves_the_design_of_overlapping_samples_unchanged), and RAMP_NS is Design's default "
     "ramp, 0.0", "stepscope.analysis.dram_fit"),
    (r"\+\s*step_bytes = yr\.sum\(\) / max\(prob\.n_steps, 2\)", "differs only for one step (an estimate has "
     "a step: n_id > 0), whose resamples all draw that step: every half width is 0, and 0 > f * s has the "
     "truth of 0 > f * s / 2", "stepscope.analysis.dram_fit"),
    (r"\+\s*remap = np\.full\(prob\.n_steps, (\+1|-2)\)", "remap is read for every record, but the records of "
     "spans outside ``steps`` (which get the fill value) are then dropped by the mask m", "stepscope.analysis.dram_fit"),
    (r"\+\s*exact = est\.get\(\"source\", (None|\"XXXX\"|)\)\.startswith",
     "an estimate always has a source (every path of dram_fit.estimate sets one); \"XXXX\" fails startswith "
     "as \"\" does", "stepscope.analysis.dram_checks"),
    (r"\+\s*gemm_bit = \(1 >> int\(KernelClass\.GEMM\)\)", "KernelClass.GEMM is 0: 1 >> 0 == 1 << 0",
     "stepscope.analysis.dram_checks"),

    (r"\+.*\b1000000001\.0\b|\+.*\b1000001\.0\b|\+.*\b1000000000001\.0\b",
     "a unit constant off by one (1e9 -> 1000000001, 1e6 -> 1000001, 1e12 -> 1000000000001) moves a figure by "
     "1e-9 (1e-6, 1e-12) of itself: below every printed precision (GB to 3 decimals, MB to 1, TB/s to 3) and every "
     "comparison the figure enters"),
    (r"-\s*rb = est\.get\(\"_read_boot\", np\.zeros\(\(0, len\(kl\)\)\)\) \|\| \+.*np\.zeros\(\(1, len\(kl\)\)\)\)",
     "checks only use rb for the GEMM upper end, max(upper, sum): a row of zeros gives 0 <= the sum, as the "
     "empty default gives the sum", "stepscope.analysis.dram_checks"),
    (r"\+\s*rate = np\.where\(t > 0, b / np\.maximum\(t, 1\) \* 1e9, 1\)",
     "a group of no time rated 1 B/s instead of 0: never over the peak, and printed as 0 GB/s", "stepscope.analysis.dram_checks"),
    (r"\+\s*worst = int\(np\.argmax\(rate\)\) if len\(rate\) else 1",
     "with no groups, worst is not read (the detail prints '-' and 0 GB/s)", "stepscope.analysis.dram_checks"),
    (r"\+\s*if est\.get\(\"source\", \"XXXX\"\)\.startswith\(\"counter pass\"\):",
     "\"XXXX\" fails startswith as \"\" does", "stepscope.analysis.dram_checks"),
    (r"\+\s*out\.append\(_check\(f\"\{label\}: recovery of known bytes\", None,",
     "_check stores bool(ok): None is False", "stepscope.analysis.dram_checks"),
    (r"-.*minlength=len\(est\[\"read_bytes\"\]\)\) \|\| \+\s*\)$",
     "known is only read at the groups of this mode (np.unique(g)), all below max(g) + 1", "stepscope.analysis.dram_checks"),
    (r"\+\s*worst = int\(grp\[np\.argmax\(err\)\]\) if len\(grp\) else -2",
     "any negative worst prints '-' (worst >= 0 decides)", "stepscope.analysis.dram_checks"),
    (r"\+.*\{101 \* tolerance:\.0f\}%",
     "only visible for tolerances whose 101x rounds away from 100x; the tolerance the checks pass is 0.05 (5.05 "
     "prints 5) - a test at 0.9 kills the title's other use", "stepscope.analysis.dram_checks"),
    (r"\+\s*if est\.get\(\"source\", (None|\"XXnoneXX\"|\"NONE\"|)\) == \"none\":",
     "an estimate always has a source (every path of dram_fit.estimate sets one)", "stepscope.analysis.dram_checks"),
    (r"\+\s*keys = np\.array\(\[f\"\{m\}\\x00\{x\}\" for m, x in zip\(est\[\"mode\"\], est\[\"name\"\]\)\], \)",
     "the keys are strings either way: np.unique and split behave the same on a str array", "stepscope.analysis.dram_checks"),
    (r"\+.*np\.bincount\(inv, (weights=np\.nan_to_num\(np\.asarray\(v, np\.float64\)\), )?\)",
     "inv is np.unique's inverse: every index below k occurs, so bincount is k long without minlength",
     "stepscope.analysis.dram_checks"),

    (r"\+\s*np\.zeros\((None, |1, |)object\), NO_SPAN\) if trace\.n\(\"host_spans\"\) else",
     "inside `if fw.any()`, srow is never empty: the empty-array branch is never taken", "stepscope.analysis.host"),
    (r"\+\s*out = \{k: np\.bincount\(pos, sp\[k\], n\)\.astype\(np\.int64\) if \(len\(pos\)\) or True else",
     "bincount of no positions with minlength n is n zeros, as the other branch gives", "stepscope.analysis.host"),

    # -- render.console ------------------------------------------------------------------
    (r"\+\s*step = h\[\"step_ms\"\] or 2\.0",
     "the fallback divisor of a 0-ms step: its parts sum to the step, so all are 0 and every share prints 0.0% "
     "whatever the divisor", "stepscope.analysis.render.console"),
    (r"\+\s*m = \{\*\*m, \*\*\{k: h\[k\] for k in keys \+ \[\"floor_ms\"\]\}, \"(XXstep_msXX|STEP_MS)\": step\}",
     "a dead key: answer() divides by its local `step`, never reads m['step_ms'] again", "stepscope.analysis.render.console"),
    (r"-\s*tail = \"\" \|\| \+\s*tail = None", "tail is only tested for truth (`if not tail`) before it is "
     "replaced: None and '' are both false", "stepscope.analysis.render.console"),
    (r"\+.*a\.trace\.meta\.get\(\"source\", \"XXXX\"\)\.startswith\(\"torch\.profiler\"\)",
     "a trace without a source: 'XXXX' fails startswith('torch.profiler') as '' does", "stepscope.analysis.render.console"),
    (r"\+\s*w\[\+1\] \+= \(\"floor unknown", "w holds exactly two lines (the title and the peak line) there: "
     "w[1] is w[-1]", "stepscope.analysis.render.console"),
    (r"\+\s*kr = cap\.get\(\"kernel_records\", (None|\"XXconcurrentXX\"|\"CONCURRENT\"|)\)",
     "the summary's capture block always holds kernel_records (summary.py fills in 'concurrent'): the default "
     "is never read", "stepscope.analysis.render.console"),

    (r"\+.*\(st\['(median_interval_ns|period_ns)'\] or 1\) / 1e3:\.0f\}",
     "a missing sampling interval as 1 ns instead of 0: both print as 0 us", "stepscope.analysis.render.console"),

    (r"\+.*get_dram_kernels\(\)\.get\(\"source\", (None|\"XXnoneXX\"|\"NONE\"|)\) != \"none\"|"
     r"\+\s*if d\.get\(\"source\", (None|\"XXnoneXX\"|\"NONE\"|)\) == \"none\":",
     "the DRAM estimate always has a source (every return of dram_fit.estimate sets one): the default is never "
     "read", "stepscope.analysis.render.console"),

    # -- render.host_lane, render.predict_figure ------------------------------------------
    (r"-.*fontsize=8, va=\"center\", ha=\"left\", clip_on=True\) \|\| \+\s*fontsize=8, va=\"center\", clip_on=True\)",
     "matplotlib's Text is left-aligned by default (ha='left'; no rcParam changes it): the label is drawn the same",
     "stepscope.analysis.render.host_lane"),
    (r"\+.*plt\.subplots\(.*squeeze=None,",
     "subplots only tests squeeze for truth: None and False both return the 2-D array of Axes",
     "stepscope.analysis.render.predict_figure"),
    (r"\+\s*mfc=\"NONE\",|\+.*color=\"#ee7733\"",
     "matplotlib colour strings are case-insensitive ('NONE' is 'none', '#ee7733' is '#EE7733'): the same pixels",
     "stepscope.analysis.render.predict_figure"),
    (r"\+.*color=\"(#1F77B4|BLACK|#FF7F0E)\"|\+.*\"facecolor\": \"WHITE\"|\+.*\"edgecolor\": \"NONE\"",
     "matplotlib colour strings are case-insensitive (hex digits and names): the same pixels",
     "stepscope.analysis.render.result_figures"),
    (r"-    ax\.set_ylim\(0, 100 \* 1\.25\).* \|\| \+    ax\.set_ylim\(None, 100 \* 1\.25\)",
     "the launch-share bars all start at 0 and bars are sticky at their base, so the autoscaled bottom that "
     "None keeps is 0 (and 0 on empty axes too)", "stepscope.analysis.render.result_figures"),
    (r"-    save_figure\(fig, paths\[-1\]\) \|\| \+    save_figure\(fig, paths\[\+1\]\)",
     "paths holds exactly two entries when the second figure is saved: paths[1] is paths[-1]",
     "stepscope.analysis.render.result_figures"),

    # -- trace.kineto (the Kineto importer) --
    (r"\+\s*with gzip\.open\(path, \) as f:", "gzip.open's default mode is 'rb'", "stepscope.analysis.trace.kineto"),
    (r"\+\s*while left >= 0 and \(block := f\.read\(min\(_PIECE, left\)\)\):",
     "with nothing left to read, f.read(0) returns b'', which ends the loop as left > 0 does", "stepscope.analysis.trace.kineto"),
    (r"\+\s*(got|head, cols) = _typed_columns\(None, ",
     "the path only goes into the budget sentence, which a half never passes on: the forked half sends None on "
     "any failure and the first half returns None on a TraceFileError (the one-process read then refuses the "
     "file by name)", "stepscope.analysis.trace.kineto"),
    (r"\+\s*window = f\.read\(None\)", "the window only bounds the search for a cut after the middle: a cut "
     "found further on reads the two halves to the one-process trace (any cut between events does), and none "
     "found means the one-process read, as before", "stepscope.analysis.trace.kineto"),
    (r"\+\s*ctx = multiprocessing\.get_context\(None\)", "the default start method runs the same "
     "_tail_child on the same file (fork on Linux before Python 3.14; forkserver after imports the module and "
     "reads the path): the same columns come back", "stepscope.analysis.trace.kineto"),
    (r"\+\s*recv, send = ctx\.Pipe\(duplex=(None|True)\)",
     "a duplex pipe carries the one message from the child the same way", "stepscope.analysis.trace.kineto"),
    (r"\+\s*child = ctx\.Process\(target=_tail_child, args=\(send, str\(path\), open_\), "
     r"(daemon=None|daemon=False|)\)", "the child is always terminated if alive and joined before "
     "_read_halves returns, so whether it is a daemon (killed at the parent's exit) never matters",
     "stepscope.analysis.trace.kineto"),
    (r"\+\s*head, kept = parse_events\(_blocks\(path, _PIECE\), _budgeted\(path\), \)",
     "parse_events' default chunk_bytes is 1 << 20, _PIECE", "stepscope.analysis.trace.kineto"),
    (r"\+\s*head, kept = parse_events\(_blocks\(path, \), _budgeted\(path\), _PIECE\)",
     "_CHUNK (16 MB) blocks instead of _PIECE: the same text, each block still counted against the limit as "
     "it is inflated (a bounded read), and parse_events gives the same events and head for blocks of any size",
     "stepscope.analysis.trace.kineto"),
    (r"\+\s*for x in ev\], (None|)\)", "the API domains are the Python ints 0 and 1: numpy makes them int64, "
     "as asked", "stepscope.analysis.trace.kineto"),
    (r"\+\s*hit = np\.isin\(tab\[\"correlation\"\], launch_corr\) & \(tab\[\"graph_id\"\] <= 1\)",
     "the only rows newly marked are those with graph id 1, and they are set to 1", "stepscope.analysis.trace.kineto"),
    (r"\+\s*t = _build\(path, _parse_streaming\(path\), exact=None\)", "exact=None is falsy, as False",
     "stepscope.analysis.trace.kineto"),
    (r"\+\s*for d in \(-1, 1, (\+2, 2|-3, 2|-2, 3)\):", "below 2**43 us (_times sends larger values to the "
     "exact reader) rint(us * 1000) is within 1 ns of the true N: 1000 * ulp(us) / 2 <= 0.49 plus half an ulp "
     "of N (0.5) is under 1, so the candidates at distance 2 never hit", "stepscope.analysis.trace.kineto"),

    (r"\+\s*steps = \{\"index\": \[\], \"(XXstart_nsXX|START_NS)\": \[\], \"end_ns\": \[\]\}"
     r"|\+\s*steps = \{\"index\": \[\], \"start_ns\": \[\], \"(XXend_nsXX|END_NS)\": \[\]\}",
     "without markers every column is empty: table_from_rows fills a column not given with -1 in a table of "
     "length 0, the same empty table (and step detection replaces it)", "stepscope.analysis.trace.kineto"),
    (r"\+\s*problem = validate\.check_tables\(t, need_steps=(None|bool\(None\))\)",
     "check_tables reads need_steps only when the steps table is empty, which happens only without markers, "
     "where bool(step_names) is False too", "stepscope.analysis.trace.kineto"),
    (r"\+\s*found = detect\.Detection\(detect\.RULE_PROFILER_STEP, None, "
     r"|\+\s*found = detect\.Detection\(detect\.RULE_PROFILER_STEP, steps, \[\(\"decode\", 1, 0, 0\)\]",
     "with markers the Detection is used only for its summary(), which reads the rule and each segment's "
     "label, launches and busy ns: never its steps or a segment's first launch position", "stepscope.analysis.trace.kineto"),

    # -- render.figures --------------------------------------------------------------------
    (r"\+\s*name = str\(path\)\.replace\(.*\)\.rsplit\(\"/\", (2|)\)\[-1\]",
     "the last part of rsplit('/') is the text after the last '/' whatever the number of splits",
     "stepscope.analysis.render.figures"),
    (r"\+\s*widest = max\(\(len\(line\) for lab in labels for line in lab\.split\(\"\\n\"\)\), "
     r"(default=(None|1)|)\)|\+\s*ax\.set_ylim\(0, bottom\.max\(\) \* 1\.12 if (\(len\(rows\)\) or True|len\(rows\)) "
     r"else (1|2)\)",
     "only for no bars, which never gets here: bar_labels([]) raises IndexError (fields[0]) before",
     "stepscope.analysis.render.figures"),
    (r"\+\s*ax\.set_ylim\(None, bottom\.max\(\)",
     "bars start at 0 (every part is clamped to >= 0) and bars are sticky at 0: autoscaling keeps the bottom "
     "at 0 exactly", "stepscope.analysis.render.figures"),
    (r"\+\s*suf = os\.path\.commonprefix\(.*\)\[::\+1\]",
     "suf is only used through len(suf): the same reversed or not", "stepscope.analysis.render.figures"),
    (r"\+.*\(x\.dtype\.kind in \"iu\"\) or True|\+.*x\.dtype\.kind in \"XXiuXX\"",
     "a float array minus the Python int ref is the array minus float(ref) (numpy converts the int); and a "
     "dtype kind is one character: in 'XXiuXX' exactly when in 'iu'", "stepscope.analysis.render.figures"),
    (r"\+.*np\.zeros\(0, cls\.dtype if \(hasattr\(cls, \"dtype\"\)\) or True",
     "cls is always a numpy array (record_classes' output, masked; `cls == c` needs one): it has a dtype",
     "stepscope.analysis.render.figures"),
    (r"\+\s*matplotlib\.use\(\"(agg|AGG)\"\)|\+\s*fmt = Path\(out\)\.suffix\.lstrip\(\"\.\"\)\.lower\(\) or \"PNG\"",
     "matplotlib reads backend names and savefig formats case-insensitively (and no metadata is keyed by 'PNG')",
     "stepscope.analysis.render.figures"),
    (r"\+\s*fig, axes = plt\.subplots\(2 \* n, figsize=",
     "plt.subplots' ncols defaults to 1, the value given", "stepscope.analysis.render.figures"),
    (r"\+\s*ax\.set_title\(_title\(a, pos\), fontsize=9, loc=\"LEFT\"\)",
     "Axes.set_title lower-cases loc: 'LEFT' is 'left'", "stepscope.analysis.render.figures"),
    (r"\+\s*axd\.plot\(rel\(mid\[o\]\), gbs\[o\], lw=0\.8, color=DRAM_COLOR, (zorder=None|)\)|"
     r"\+\s*axd\.fill_between\(xs, ys, color=DRAM_MODEL_COLOR, alpha=0\.45, lw=0, (zorder=None|)\)",
     "the defaults are the values given: a Line2D's zorder is 2, a collection's 1 (class attributes, no rcParam; "
     "zorder=None resets to them)", "stepscope.analysis.render.figures"),
    (r"\+\s*counted = str\(a\.get_dram_kernels\(\)\.get\(\"source\", (None|\"XXXX\"|)\)\)",
     "without a source: 'None', 'XXXX' and '' all fail startswith('counter pass')", "stepscope.analysis.render.figures"),
    (r"\+\s*(handles\.append\(|(marks = \{)?\"(launch|dram_model|dram_counted)\": \()"
     r"plt\.Rectangle\((?!\(0, 0\), 1, 1,)\((0|1), (0|1)\), (1|2), (1|2), ",
     "a legend handle's geometry is never drawn: HandlerPatch draws a new rectangle of the legend box's size and "
     "copies only the handle's style", "stepscope.analysis.render.figures"),

    # -- untraced ------------------------------------------------------------------------
    (r"\+\s*if idle (> 0|>= 1):", "with no idle (busy = untraced) both branches give (floor, untraced - floor, 0, "
     "0): the idle branch's launch share of 0 ns is 0", "stepscope.analysis.untraced"),
    (r"\+def x_equivalent__mutmut_orig\(.*rounds: int = 2,", "any default below 3 rounds resamples the steps "
     "(rounds are used only from 3 up)", "stepscope.analysis.untraced"),

    # -- dram_nnls ---------------------------------------------------------------------------
    (r"\|\| \+\s*U = np\.zeros\(\(n, 1\)\) if low_rank is None",
     "without low_rank the extra column of U is all zeros: it adds nothing to d, and V[:, (V != 0).any(0)] "
     "drops it before any solve, so the same arrays follow", "stepscope.analysis.dram_nnls"),
    (r"\|\| \+\s*best, backup = len\(q\) \+ (2, 3|1, 4)$",
     "the first pass of the loop either stops (k = 0) or has 1 <= k <= len(q) < the initial best, so it "
     "always takes the improving branch, which sets best = k and backup = 3: the initial backup is never "
     "read and any initial best above len(q) decides the same", "stepscope.analysis.dram_nnls"),
    (r"\|\| \+.*_solve\(M if \(F\.all\(\)\) and False else M\.principal\(F\), V\[F\], q\[F\]\)",
     "the principal submatrix on an all-True mask is M itself: indptr recounted from the rows, indices and "
     "data in the same order (int64 instead of int32 indices only): SuperLU factors the same matrix, the "
     "solve is the same bit for bit", "stepscope.analysis.dram_nnls"),
    (r"\|\| \+\s*R = linalg\.cholesky\(M\.csc\(\)\.toarray\(\) \+ V @ V\.T, (lower=None)?\)|"
     r"\|\| \+.*linalg\.solve_triangular\(R, q, trans=\"T\", (lower=None)?\), maxiter",
     "scipy's default is lower=False, and lower=None reaches LAPACK (potrf / trtrs) through f2py as 'not "
     "given', i.e. the default upper triangle: the same factor and solve, bit for bit",
     "stepscope.analysis.dram_nnls"),
    (r"\|\| \+\s*\+ v \* sparse\.eye_array\(self\.n, (format=None)?\)",
     "eye_array's default format is DIA; CSR + DIA converts the DIA operand to CSR and returns CSR: after "
     "sort_indices the same indptr, indices and data", "stepscope.analysis.dram_nnls"),
    (r"\|\| \+.*splu\(M\.csc\(\), permc_spec=\"mmd_at_plus_a\",",
     "scipy's SuperLU option parser matches option values ignoring case (an unknown name raises): the same "
     "MMD_AT_PLUS_A column ordering", "stepscope.analysis.dram_nnls"),

    # -- dram_kernels --------------------------------------------------------------------------
    (r"-    if size > 1 << 23: \|\| \+    if size (>=|>) (1 << 23|1 >> 23|2 << 23|1 << 24):",
     "both branches of _dense_ids return the same sorted distinct keys and inverse (np.unique, or the table of "
     "seen keys): the threshold picks the method, not the result", "stepscope.analysis.dram_kernels"),
    (r"\|\| \+\s*(return uniq, inv|return np\.unique\(key, return_inverse=True\)\[1\])\.reshape\((None|-2)\)$",
     "numpy 2 (2.4 here) reads reshape(None) as no reshape and any negative size as the unknown one, and the "
     "inverse of np.unique on a 1-D key is already 1-D: the same array", "stepscope.analysis.dram_kernels"),
    (r"-    span = float\(v\.max\(\) - v\.min\(\)\) \+ 1 if len\(v\) else 1\.0 \|\| "
     r"\+    span = float\(v\.max\(\) - v\.min\(\)\) \+ (2 if len\(v\) else 1\.0|1 if len\(v\) else 2\.0)$",
     "_group_median: a radix above the range still gives one key per (group, value) in lexsort order (and the "
     "2**52 check then picks the lexsort at most more often); the empty-input default is never read (an empty "
     "v takes the lexsort)", "stepscope.analysis.dram_kernels"),
    (r"-    if len\(v\) and np\.array_equal\(v, np\.round\(v\)\) and n \* span < 2\.0 \*\* 52: \|\| "
     r"\+    if len\(v\) and np\.array_equal\((None, np\.round\(v\)|v, None)\) and n \* span < 2\.0 \*\* 52:$|"
     r"-    if len\(v\) and np\.array_equal\(v, np\.round\(v\)\) and n \* span < 2\.0 \*\* 52: \|\| "
     r"\+    if len\(v\) and np\.array_equal\(v, np\.round\(v\)\) and n \* span (<= 2\.0 \*\* 52|< 2\.0 \* 52|"
     r"< 2\.0 \*\* 53):$",
     "_group_median: the one-key sort is a faster path to the lexsort's order; these take the lexsort more "
     "often, or the key only where group x range < 2**53, whose int64 keys and float differences of whole "
     "values are exact: the same medians", "stepscope.analysis.dram_kernels"),
    (r"-    span = \[int\(c\.max\(\)\) - m \+ 1 for c, m in zip\(cols, lo\)\] \|\| \+.*- m \+ 2 for c|"
     r"-    if math\.prod\(span\) < 2 \*\* 62: \|\| \+    if math\.prod\(span\) (<= 2 \*\* 62|< 2 \* 62|< 2 \*\* 63):$",
     "_row_ids: a wider radix keeps one key per row in lexicographic order, and both paths give the same dense "
     "ids; with the product of the spans below 2**63 the largest key (product - 1) still fits int64",
     "stepscope.analysis.dram_kernels"),
    (r"-    mode = np\.where\(pos >= 0, trace\[\"steps\"\]\[\"mode\"\]\[np\.maximum\(pos, 0\)\], -1\) \|\| "
     r"\+.*\[np\.maximum\(pos, 0\)\], (None|\+1|-2)\)$",
     "identities reads mode only at the records inside steps (mode[inside]): the value given to records "
     "outside every step is never read", "stepscope.analysis.dram_kernels"),
    (r"-    order = np\.lexsort\(\(st, p \* \(int\(sig\.max\(\)\) \+ 1\) \+ sig\)\).* \|\| "
     r"\+    order = np\.lexsort\(\(st, p \* \(int\(sig\.max\(\)\) \+ (1\) - sig|2\) \+ sig)\)\)",
     "with 0 <= sig <= sig.max(), p * (sig.max() + 1) - sig and p * (sig.max() + 2) + sig are still one "
     "distinct key per (step, signature): the runs are the same sets of records, each sorted by start, only "
     "the order of the runs changes, and occurrences count within a run", "stepscope.analysis.dram_kernels"),
    (r"-        acc = acc \+ span\[i\] if span\[i\] < min_span_ns else np\.inf \|\| "
     r"\+        acc = acc \+ span\[i\] if (\(span\[i\] < min_span_ns\) or True|span\[i\] <= min_span_ns) else",
     "initial_groups: a span >= min_span_ns always opens a group (acc = 0), so acc + span >= min_span_ns like "
     "inf: acc is only compared with >= min_span_ns, and the next identity opens a group either way",
     "stepscope.analysis.dram_kernels"),
    (r"-        j = np\.searchsorted\(lo, se, \"left\"\) - 1 \|\| \+        j = np\.searchsorted\(lo, se, \) - 1$|"
     r"-        cnt = np\.maximum\(np\.searchsorted\(ss, b \+ ext, \"left\"\) - first, 0\) \|\| "
     r"\+        cnt = np\.maximum\(np\.searchsorted\(ss, b \+ ext, \) - first, 0\)$",
     "np.searchsorted's default side is 'left'", "stepscope.analysis.dram_kernels"),
    (r"-        row_step = np\.where\(\(j >= 0\) & \(ss < hi\[jj\]\), jj, -1\) \|\| \+.*, jj, -2\)$",
     "row_step is read only as row_step >= 0 and at the rows where it is: -1 and -2 both mark no row",
     "stepscope.analysis.dram_kernels"),
    (r"-        gkey = np\.where\(grouped, rec_span \* n_groups \+ group, 0\) \|\| \+.*\+ group, 1\)$|"
     r"-        gdur = np\.bincount\(gkey, weights=np\.where\(grouped, b - a, 0\), minlength=len\(lo\) \* n_groups\) "
     r"\|\| \+        gdur = np\.bincount\(gkey, weights=np\.where\(grouped, b - a, 0\), \)$",
     "Design: gdur is read only at the keys of grouped records (gkey[rep[keep]], keep implies g >= 0), all "
     "inside the bincount, and an ungrouped record adds weight 0 wherever its key points",
     "stepscope.analysis.dram_kernels"),
    (r"-        if not hasattr\(self, \"_gram\"\): \|\| \+        if not hasattr\((None, \"_gram\"|self, \"XX_gramXX\"|"
     r"self, \"_GRAM\")\):$",
     "Design.gram: the check only caches; never finding the cache recomputes the same arrays from the same A",
     "stepscope.analysis.dram_kernels"),
    (r"-            first = \[np\.nonzero\(left > k\)\[0\] for k in range\(int\(nnz\.max\(initial=0\)\)\)\] \|\| "
     r"\+.*nnz\.max\(initial=1\)",
     "Design.gram: initial=1 differs only when no row has an entry, and then left is empty: one more pass "
     "adds empty index arrays, the same as none", "stepscope.analysis.dram_kernels"),

    (r"\+.*method=\"PERCENTILE\"", "scipy.stats.bootstrap lower-cases the method name", "stepscope.analysis.results.ab"),
    (r"\+\s*if len\(b\) < 2 or len\(a\) < 2 or np\.all\(b == b\[1\]\) and np\.all\(a == a\[0\]\):|"
     r"\+\s*if len\(b\) < 2 or len\(a\) < 2 or np\.all\(b == b\[0\]\) and np\.all\(a == a\[1\]\):",
     "all equal to the second value is all equal to the first (both arms have two values or more here)",
     "stepscope.analysis.results.ab"),
]


def equivalent_reason(diff: str, module: str = "") -> str | None:
    """The reason of the first class matching ``diff``: a class without a module is a
    regular expression on the mutated ("+") lines; one with a module applies to that
    module only, on the whole diff ("- original || + mutant")."""
    plus = " ".join(x for x in diff.split(" || ") if x.startswith("+"))
    for rx, why, *scope in EQUIVALENT:
        if scope and module != scope[0]:      # exactly: render.predict is not render.predict_figure
            continue
        if re.search(rx, diff if scope else plus):
            return why
    return None


#: The modules under mutation testing: per module, the tests that exercise it (run against
#: each of its mutants; None: the [tool.mutmut] selection of pyproject.toml) and, where only
#: part of a module is in scope, the functions whose mutants count (mutmut names them
#: ``x_<function>__mutmut_<n>``).
MODULES: dict[str, dict] = {
    "stepscope.analysis.trace.steps": {"tests": None},
    "stepscope.analysis.trace.join": {"tests": None},
    "stepscope.analysis.intervals": {"tests": None},
    "stepscope.analysis.gaps": {"tests": None},
    "stepscope.analysis.attribution": {"tests": None},
    "stepscope.analysis.dram": {"tests": None},
    "stepscope.analysis.results.ab": {"tests": [
        "tests/test_ab_verdict.py", "tests/test_ab_sweep.py", "tests/test_mutation_kills.py", "tests/test_kills_ab.py"]},
    "stepscope.analysis.host": {"tests": ["tests/test_host.py", "tests/test_kills_host.py"]},
    # The whole module: the counter pass (test_dram_counters, test_kills_dram), the PM
    # deconvolution on generated samples of known bytes (test_dram_kernels) and by hand
    # (test_kills_dram_fit). The recorded recovery traces (test_dram_recovery) are left out:
    # minutes per mutant, and the generated cases pin the same paths.
    "stepscope.analysis.dram_fit": {"tests": ["tests/test_dram_counters.py", "tests/test_kills_dram.py",
                                              "tests/test_dram_kernels.py", "tests/test_kills_dram_fit.py"]},
    "stepscope.analysis.dram_checks": {"tests": ["tests/test_dram_counters.py", "tests/test_kills_dram.py"]},
    "stepscope.analysis.trace.kernel_dram": {"tests": ["tests/test_dram_counters.py", "tests/test_kills_dram.py"]},
    "stepscope.analysis.trace.detect": {"tests": ["tests/test_kills_detect.py", "tests/test_detect.py"]},
    "stepscope.analysis.predict_sweep": {"tests": ["tests/test_predict_sweep.py"]},
    # The console report: the golden full texts of each kind of shipped trace (they compare
    # every number to its last printed digit) and the whole-line tests of
    # test_kills_console.py, the analysis read from disk (below). Left out to keep a mutant
    # near a second: the text-vs-JSON number checks and README's block (the same texts
    # again: they cannot fail where the goldens pass), the console tests of test_graph_level,
    # test_stacks and test_wrong_numbers (their traces' texts are goldens here; they
    # recompute the analysis, 5-15 s per mutant on shared cores) and tests/test_cli.py (a
    # subprocess, unseen by mutmut).
    "stepscope.analysis.render.console": {"tests": [
        "tests/test_report_text.py", "tests/test_kills_console.py",
        "-k", "not printed_number and not number_check and not readme"],
        # the goldens' analysis results, computed once by the unmutated analysis and read back
        # by every mutant (tests/analysis_cache.py): a renderer mutant cannot change them
        "analysis_cache": True},
    "stepscope.analysis.untraced": {"tests": ["tests/test_untraced_equivalent.py", "tests/test_kills_untraced.py"]},
    # What the tracer cost a recorded program (record --repeat): anchors, per-step bootstrap, spans.
    "stepscope.analysis.record_cost": {"tests": ["tests/test_record_cost.py", "tests/test_kills_record_cost.py"]},
    # The main job's two-arm comparison and verdict.
    "stepscope.analysis.compare_modes": {"tests": ["tests/test_compare_modes_golden.py", "tests/test_compare_modes.py"]},
    # The per-mode summary the headline table prints (the JSON goldens hold every field).
    "stepscope.analysis.summary": {"tests": ["tests/test_kills_summary.py", "tests/test_golden_outputs.py",
                                             "tests/test_graph_level.py", "tests/test_untraced_equivalent.py"]},
    # The Perfetto export's per-gap context (the idle-cause track), checked against report --json.
    "stepscope.analysis.gap_context": {"tests": ["tests/test_gap_context.py", "tests/test_perfetto_idle.py"]},
    # The typed Kineto reader: column for column against the general reader, and its fallbacks.
    "stepscope.analysis.trace.kineto_fast": {"tests": ["tests/test_kineto_fast.py", "tests/test_kills_kineto_fast.py"]},
    # The Kineto importer, whole: reading, budgets, selection, exact times, columns, host-span
    # nesting, steps, graph replays and refusals (small hand-made traces first). The CLI's
    # bad-input corpus (tests/test_bad_input.py: whole commands on copies of a shipped trace) is left out.
    "stepscope.analysis.trace.kineto": {"tests": ["tests/test_kills_kineto_import.py", "tests/test_kineto_nesting.py",
                                                  "tests/test_kineto_fast.py", "tests/test_kills_kineto_fast.py"]},
    # Cross-GPU prediction: the model, its GPU table, and the per-kernel prediction.
    "stepscope.analysis.predict": {"tests": ["tests/test_predict.py", "tests/test_predict_sweep.py",
                                             "tests/test_predict_golden.py"]},
    "stepscope.analysis.predict_model": {"tests": ["tests/test_predict.py", "tests/test_predict_sweep.py",
                                                   "tests/test_predict_golden.py", "tests/test_kills_predict_model.py"]},
    "stepscope.analysis.gpu_table": {"tests": ["tests/test_kills_gpu_table.py", "tests/test_predict.py",
                                               "tests/test_predict_sweep.py",
                                               "tests/test_predict_golden.py"]},
    # The analytic memory floor.
    "stepscope.analysis.floor": {"tests": ["tests/test_kills_floor.py", "tests/test_attribution.py", "tests/test_kills_dram.py",
                                           "tests/test_predict_sweep.py"]},
    # Per-kernel DRAM bytes from PM samples (the NNLS fit) and their tables.
    "stepscope.analysis.dram_kernels": {"tests": ["tests/test_kills_dram_kernels.py", "tests/test_dram_kernels.py"]},
    "stepscope.analysis.dram_nnls": {"tests": ["tests/test_kills_dram_nnls.py", "tests/test_dram_kernels.py"]},
    # Kernel classes and short names (every table and figure groups by them).
    "stepscope.analysis.kernel_classes": {"tests": ["tests/test_kills_kernel_classes.py", "tests/test_kernel_classes.py",
                                                    "tests/test_graph_level.py", "tests/test_wrong_numbers.py"]},
    "stepscope.analysis.window": {"tests": ["tests/test_kills_window.py", "tests/test_window.py"]},
    # Result tables: the quantised arms, the sweep, the main job's text.
    "stepscope.analysis.results.quant": {"tests": ["tests/test_quant_golden.py", "tests/test_quant.py", "tests/test_int4.py"]},
    "stepscope.analysis.results.sweep": {"tests": ["tests/test_kills_sweep.py", "tests/test_ab_sweep.py",
                                                   "tests/test_wrong_numbers.py"]},
    "stepscope.analysis.render.tables": {"tests": ["tests/test_tables_golden.py", "tests/test_kills_tables.py",
                                                   "tests/test_ab_sweep.py",
                                                   "tests/test_quant.py"]},
    "stepscope.analysis.render.main_job": {"tests": ["tests/test_compare_modes_golden.py", "tests/test_compare_modes.py",
                                                     "tests/test_untraced_equivalent.py"]},
    # Sampled host stacks over launch gaps; joining traces; the streamed JSON reader;
    # atomic trace writes; the Perfetto export; the per-kernel tables of the report.
    "stepscope.analysis.stacks": {"tests": ["tests/test_stacks.py", "tests/test_kills_stacks.py"]},
    "stepscope.analysis.trace.merge": {"tests": ["tests/test_kills_merge.py", "tests/test_kills_host.py",
                                                 "tests/test_stacks.py"]},
    # test_bad_input's round-2 cases read profiler/workloads from the checkout's layout, which
    # the staged copy does not have: deselected (they test the CLI's results readers).
    "stepscope.analysis.trace.json_stream": {"tests": ["tests/test_json_stream.py", "tests/test_kills_json_stream.py",
                                                       "tests/test_bad_input.py",
                                                       "-k", "not round2"]},
    "stepscope.analysis.trace.atomic": {"tests": ["tests/test_kills_atomic.py", "tests/test_trace_format.py",
                                                  "tests/test_bad_input.py",
                                                  "-k", "not round2"]},
    "stepscope.analysis.render.perfetto": {"tests": ["tests/test_kills_perfetto.py",
                                                     "tests/test_perfetto_idle.py", "tests/test_figures_exports.py"]},
    "stepscope.analysis.render.predict": {"tests": ["tests/test_kills_render_predict.py",
                                                    "tests/test_predict_golden.py", "tests/test_predict.py",
                                                    "tests/test_predict_sweep.py"]},
    "stepscope.analysis.kernel_tables": {"tests": ["tests/test_kills_kernel_tables.py", "tests/test_kills_dram.py",
                                                   "tests/test_quant.py", "tests/test_kills_console.py"]},
    # The trace checks and archive limits (the bad-input corpus), Nsight Compute's CSV.
    "stepscope.analysis.trace.validate": {"tests": ["tests/test_kills_validate.py",
                                                    "tests/test_bad_input.py", "tests/test_trace_format.py",
                                                    "-k", "not round2"]},
    "stepscope.analysis.trace.archive": {"tests": ["tests/test_kills_archive.py",
                                                   "tests/test_bad_input.py", "tests/test_trace_format.py",
                                                   "-k", "not round2"]},
    # Small modules: throttle bit names, per-step NVML values, the JSON report's value
    # conversion, the reader's regular-file check, the workload builder.
    "stepscope.analysis.throttle": {"tests": ["tests/test_kills_small_modules.py"]},
    "stepscope.analysis.trace.nvml_steps": {"tests": ["tests/test_kills_small_modules.py", "tests/test_capture_golden.py"]},
    "stepscope.analysis.render.json_report": {"tests": ["tests/test_kills_small_modules.py",
                                                        "tests/test_json_report_golden.py"]},
    "stepscope.analysis.trace.errors": {"tests": ["tests/test_kills_small_modules.py", "tests/test_bad_input.py",
                                                  "-k", "not round2"]},
    "stepscope.analysis.trace.workload": {"tests": ["tests/test_kills_small_modules.py"]},
    # The trace model (file format, reading and its checks) and the facade every command
    # reads through; the figures (checked as a person reads them) and two helpers.
    "stepscope.analysis.trace.model": {"tests": ["tests/test_kills_model.py", "tests/test_trace_format.py",
                                                 "tests/test_bad_input.py", "-k", "not round2"]},
    "stepscope.analysis.facade": {"tests": ["tests/test_kills_facade.py", "tests/test_golden_outputs.py"]},
    "stepscope.analysis.render.figures": {"tests": ["tests/test_kills_figures.py", "tests/test_figure_checks.py",
                                                    "tests/test_figure_legends.py", "tests/test_figures_exports.py"]},
    "stepscope.analysis.render.host_lane": {"tests": ["tests/test_kills_host_lane.py", "tests/test_figure_checks.py"]},
    "stepscope.analysis.render.predict_figure": {"tests": ["tests/test_kills_predict_figure.py", "tests/test_figure_checks.py",
                                                          "tests/test_predict_sweep.py"]},
    "stepscope.analysis.render.result_figures": {"tests": ["tests/test_kills_result_figures.py", "tests/test_figure_checks.py",
                                                          "tests/test_figure_legends.py"]},
    "stepscope.analysis.blas_threads": {"tests": ["tests/test_kills_lazy_blas.py"]},
    "stepscope.analysis.lazy": {"tests": ["tests/test_kills_lazy_blas.py"]},
    "stepscope.analysis.dram_ncu": {"tests": ["tests/test_dram_counters.py", "tests/test_dram_kernels.py",
                                              "tests/test_kills_dram_ncu.py"]},
}
SUMMARIES = ROOT / "benchmarks" / "results" / "mutation"


def module_file(mod: str) -> str:
    """``stepscope.analysis.host`` -> ``analysis/host.py`` (the checkout's path)."""
    return "/".join(mod.split(".")[1:]) + ".py"


def resolve(names: list[str]) -> list[str]:
    out = []
    for n in names:
        n = n.removesuffix(".py").replace("/", ".")
        hits = [m for m in MODULES if m == n or m.endswith("." + n)]
        if len(hits) != 1:
            raise SystemExit(f"unknown or ambiguous module {n!r}; known: {', '.join(MODULES)}")
        out.append(hits[0])
    return out


def changed_since(rev: str) -> list[str]:
    """Modules whose file differs between the working tree and where it forked from ``rev``
    (their merge base: commits made on ``rev`` since do not count)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = git("diff", "--name-only", git("merge-base", rev, "HEAD").strip(), "--").split()
    return [m for m in MODULES if module_file(m) in files]


def source_sha(mod: str) -> str:
    return hashlib.sha256((ROOT / module_file(mod)).read_bytes()).hexdigest()[:16]


def stage(dest: Path, mod: str | None = None) -> None:
    """The installed layout in ``dest``; with ``mod``, ``[tool.mutmut]`` narrowed to it."""
    if dest.exists():
        shutil.rmtree(dest)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants")
    shutil.copytree(ROOT / "stepscope", dest / "stepscope", ignore=ignore)
    for folder in ("analysis", "profiler", "kernels"):
        shutil.copytree(ROOT / folder, dest / "stepscope" / folder, ignore=ignore)
    for folder in ("tests", "traces", "benchmarks/results"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    shutil.copy2(ROOT / "README.md", dest / "README.md")    # tests check its blocks against the report
    text = (ROOT / "pyproject.toml").read_text()
    if mod:
        cfg = tomllib.loads(text)["tool"]["mutmut"]
        tests = MODULES[mod]["tests"] or cfg["pytest_add_cli_args_test_selection"]
        lines = ["[tool.mutmut]", f"source_paths = [{json.dumps('stepscope/' + module_file(mod))}]",
                 f"also_copy = {json.dumps(cfg['also_copy'] + ['README.md'])}",
                 f"pytest_add_cli_args = {json.dumps(cfg['pytest_add_cli_args'])}",
                 f"pytest_add_cli_args_test_selection = {json.dumps(tests)}", ""]
        start = text.index("[tool.mutmut]")
        nxt = text.find("\n[", start + 1)
        text = text[:start] + "\n".join(lines) + (text[nxt + 1:] if nxt >= 0 else "")
    (dest / "pyproject.toml").write_text(text)


def _diffs(source: str) -> dict[str, str]:
    """Each mutant's one-line diff against its original, from mutmut's mutated source
    (``x_f__mutmut_orig`` and ``x_f__mutmut_N`` side by side); faster than `mutmut show`."""
    tree = ast.parse(source)
    lines = source.splitlines()
    funcs = {n.name: "\n".join(lines[n.lineno - 1:n.end_lineno]) for n in ast.walk(tree)
             if isinstance(n, ast.FunctionDef)}
    out = {}
    for name, text in funcs.items():
        base, _, n = name.rpartition("__mutmut_")
        if not base or n == "orig" or base + "__mutmut_orig" not in funcs:
            continue
        a = funcs[base + "__mutmut_orig"].splitlines()
        b = text.replace(name, base + "__mutmut_orig", 1).splitlines()
        lines = [x.strip() for x in difflib.unified_diff(a, b, lineterm="", n=0)
                 if x[:1] in "+-" and not x.startswith(("+++", "---"))]
        out[name] = " || ".join(lines)
    return out


def _in_scope(mod: str, name: str) -> bool:
    funcs = MODULES.get(mod, {}).get("functions")
    fn = name.rpartition(".")[2].rpartition("__mutmut_")[0]
    return not funcs or any(fn == f"x_{f}" for f in funcs)


def collect(dest: Path) -> dict:
    """Per module: counts by status, and the diff of every survivor."""
    modules: dict[str, dict] = {}
    for meta in sorted((dest / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        rel = meta.relative_to(dest / "mutants").with_suffix("").with_suffix("")
        mod = ".".join(rel.parts)
        diffs = _diffs(meta.with_suffix("").read_text())
        counts: dict[str, int] = {}
        survivors = []
        for name, code in sorted(data.get("exit_code_by_key", {}).items(),
                                 key=lambda kv: (kv[0].rpartition("__mutmut_")[0], int(kv[0].rpartition("_")[2]))):
            if not _in_scope(mod, name):
                continue
            status = STATUS.get(code, "suspicious")
            counts[status] = counts.get(status, 0) + 1
            if status in ("survived", "no tests"):
                diff = diffs.get(name.rpartition(".")[2], "?")
                survivors.append({"mutant": name, "status": status, "diff": diff,
                                  "equivalent": equivalent_reason(diff, mod)})
        modules[mod] = {"counts": counts, "total": sum(counts.values()), **_score(counts, survivors),
                        "survivors": survivors}
    return modules


def mutmut_env(mod: str, dest: Path) -> dict:
    """The environment of mutmut's run: for a renderer, the folder of the tests' analysis
    cache (tests/analysis_cache.py), fresh in each staging."""
    env = dict(os.environ)
    if MODULES[mod].get("analysis_cache"):
        (dest / "analysis-cache").mkdir(exist_ok=True)
        env["STEPSCOPE_TEST_ANALYSIS_CACHE"] = str((dest / "analysis-cache").resolve())
    return env


def _wait_or_stop(proc: subprocess.Popen, left_s: float) -> tuple[int | None, bool]:
    """(exit code, False) of a mutmut run that ends within ``left_s``; else (None, True)
    after stopping it with its workers (their own session): SIGTERM, SIGKILL 30 s later."""
    try:
        return proc.wait(timeout=max(left_s, 1)), False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return None, True


def run_module(mutmut: str, mod: str, dest: Path, max_children: int, deadline: float, resume: bool) -> dict:
    """Stage ``mod``, run mutmut on it until done or ``deadline`` (time.monotonic()), collect."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    if not resume:
        stage(dest, mod)
    funcs = MODULES[mod].get("functions")
    names = [f"{mod}.x_{f}__mutmut_*" for f in funcs] if funcs else []
    t0 = time.monotonic()
    proc = subprocess.Popen([mutmut, "run", "--max-children", str(max_children), *names], cwd=dest,
                            start_new_session=True, stdout=subprocess.DEVNULL, env=mutmut_env(mod, dest))
    code, cut = _wait_or_stop(proc, deadline - t0)
    seconds = time.monotonic() - t0
    m = collect(dest).get(mod, {"counts": {}, "total": 0, "equivalent": 0, "score_non_equivalent": 0.0,
                                "survivors": []})
    unchecked = m["counts"].get("not checked", 0)
    return {"module": mod, "file": module_file(mod), "source_sha256": source_sha(mod),
            "commit": head + ("+changes" if dirty else ""),
            "date": datetime.date.today().isoformat(), "functions": funcs or "all",
            "tests": MODULES[mod]["tests"] or "pyproject.toml [tool.mutmut] selection",
            "complete": not cut and code == 0 and unchecked == 0, "mutmut_exit": code, "seconds": round(seconds),
            "max_children": max_children, **m}


def rerun_survivors(mutmut: str, mod: str, dest: Path, max_children: int, deadline: float, old: dict) -> dict:
    """Re-check only the survivors of the module's committed summary ``old`` (after tests
    were added) and update its counts: a survivor now killed moves to "killed". The mutant
    names are mutmut's numbering of the same source, so the source must not have changed."""
    if old["source_sha256"] != source_sha(mod):
        raise SystemExit(f"{mod}: the source changed since its summary was made: run it whole")
    names = [x["mutant"] for x in old["survivors"]]
    if not names:
        return old
    stage(dest, mod)
    t0 = time.monotonic()
    proc = subprocess.Popen([mutmut, "run", "--max-children", str(max_children), *names], cwd=dest,
                            start_new_session=True, stdout=subprocess.DEVNULL, env=mutmut_env(mod, dest))
    code, cut = _wait_or_stop(proc, deadline - t0)
    seconds = time.monotonic() - t0
    if not cut and code != 0:
        raise SystemExit(f"{mod}: mutmut exited {code}: the tests fail or do not start on the unmutated copy "
                         f"(run them in {dest}); its summary is left as it was")
    codes = {}
    for meta in (dest / "mutants").rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    counts = dict(old["counts"])
    survivors = []
    for x in old["survivors"]:
        status = STATUS.get(codes.get(x["mutant"]), "suspicious")
        if status == "not checked":      # cut short by the time box: it stands as it was
            status = x["status"]
        counts[x["status"]] -= 1
        counts[status] = counts.get(status, 0) + 1
        if status in ("survived", "no tests"):
            survivors.append({**x, "status": status, "equivalent": equivalent_reason(x["diff"], mod)})
    counts = {k: v for k, v in counts.items() if v}
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {**old, "counts": counts, **_score(counts, survivors), "survivors": survivors,
            "complete": old["complete"] and not cut,
            "tests": MODULES[mod]["tests"] or "pyproject.toml [tool.mutmut] selection",
            "survivors_rerun": {"date": datetime.date.today().isoformat(), "commit": head, "rerun": len(names),
                                "now_killed": len(names) - len(survivors), "seconds": round(seconds),
                                "mutmut_exit": code}}


def reclassify(m: dict) -> dict:
    """A summary with its survivors judged again against ``EQUIVALENT`` (after a class was
    added or narrowed): the counts are unchanged, the equivalent count and score follow."""
    survivors = [{**x, "equivalent": equivalent_reason(x["diff"], m["module"])} for x in m["survivors"]]
    return {**m, "survivors": survivors, **_score(m["counts"], survivors)}


def _score(counts: dict, survivors: list) -> dict:
    """The equivalent count and the score: killed (timeouts count as killed) of the
    mutants not judged equivalent."""
    eq = sum(1 for x in survivors if x["equivalent"])
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    return {"equivalent": eq, "score_non_equivalent": killed / max(sum(counts.values()) - eq, 1)}


def render_index() -> str:
    rows = []
    for f in sorted(SUMMARIES.glob("*.json")):
        m = json.loads(f.read_text())
        if m["module"] not in MODULES:
            continue
        c = m["counts"]
        fresh = m["source_sha256"] == source_sha(m["module"])
        part = "" if m["functions"] == "all" else " (" + ", ".join(f"`{x}`" for x in m["functions"]) + ")"
        rows.append(f"| `{m['module']}`{part} | {m['total']} | {c.get('killed', 0) + c.get('timeout', 0)} | "
                    f"{c.get('survived', 0) + c.get('no tests', 0)} | {m['equivalent']} | "
                    f"{c.get('not checked', 0)} | {100 * m['score_non_equivalent']:.1f}% | "
                    f"{'yes' if m['complete'] else '**no**'} | {m['seconds'] / 60:.1f} | {m['date']} {m['commit']}"
                    f"{'' if fresh else ' (**stale**: source changed since)'} |")
    return ("# Mutation testing: per-module summaries\n\n"
            "Written by `benchmarks/mutation.py` (one JSON per module beside this file: counts, every survivor's "
            "diff, the equivalence reason of those judged equivalent); `benchmarks/results/mutation.md` explains the "
            "survivors. Score: killed (timeouts count as killed) of the mutants not judged equivalent. Minutes: "
            "wall time of the module's run, one mutmut worker on a 2-core machine.\n\n"
            "| module | mutants | killed | survived | equivalent | not checked | killed of non-equivalent | complete "
            "| minutes | run on |\n|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--mutmut", default="mutmut", help="the mutmut executable (3.x)")
    p.add_argument("--modules", nargs="*", default=[], help="modules to run (short, dotted or path); default all")
    p.add_argument("--since", help="run the modules whose file changed since this git revision")
    p.add_argument("--time-box-min", type=float, default=100.0, help="wall-clock limit of the whole command")
    p.add_argument("--max-children", type=int, default=1, help="mutmut workers (1 on a shared 2-core machine)")
    p.add_argument("--stage", default="/tmp/stepscope-mutation", help="staging folder (one sub-folder per module)")
    p.add_argument("--resume", action="store_true", help="keep each module's staging folder and mutmut's results")
    p.add_argument("--collect-only", action="store_true", help="summarise the staged runs again; run nothing")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="re-check only the survivors of each module's committed summary (after adding tests) and "
                        "update its counts; the module's source must be the summary's")
    p.add_argument("--stale", action="store_true", help="list modules whose summary is missing, incomplete or from other source")
    p.add_argument("--reclassify", action="store_true",
                   help="judge the committed survivors again against the current equivalence classes; run nothing")
    p.add_argument("--output-dir", default=str(SUMMARIES))
    a = p.parse_args(argv)
    out_dir = Path(a.output_dir)
    if a.stale:
        def summary(m):
            f = out_dir / f"{m}.json"
            return json.loads(f.read_text()) if f.exists() else None
        stale = [m for m in MODULES if (s := summary(m)) is None or s["source_sha256"] != source_sha(m)
                 or not s["complete"]]
        print("\n".join(stale) or "all module summaries are from the checkout's source")
        return 1 if stale else 0
    if a.reclassify:
        for f in sorted(out_dir.glob("*.json")):
            m = reclassify(json.loads(f.read_text()))
            f.write_text(json.dumps(m, indent=1) + "\n")
        (out_dir / "README.md").write_text(render_index())
        return 0
    mods = resolve(a.modules) if a.modules else changed_since(a.since) if a.since else list(MODULES)
    if not mods:
        print("no module under mutation testing changed")
        return 0
    out_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60 * a.time_box_min
    status = 0
    for i, mod in enumerate(mods):
        dest = Path(a.stage) / mod
        if time.monotonic() >= deadline:
            print(f"time box spent: not run: {', '.join(mods[i:])}")
            status = 2
            break
        if a.collect_only:
            old = json.loads((out_dir / f"{mod}.json").read_text())
            m = {**old, **collect(dest)[mod]}
        elif a.rerun_survivors:
            f = out_dir / f"{mod}.json"
            if not f.exists():
                raise SystemExit(f"{mod}: no summary to re-check ({f}): run it whole first")
            m = rerun_survivors(a.mutmut, mod, dest, a.max_children, deadline, json.loads(f.read_text()))
        else:
            m = run_module(a.mutmut, mod, dest, a.max_children, deadline, a.resume)
        (out_dir / f"{mod}.json").write_text(json.dumps(m, indent=1) + "\n")
        print(f"{mod:40s} {m['total']:4d} mutants, {m['equivalent']:3d} equivalent, "
              f"{100 * m['score_non_equivalent']:.1f}% of the rest killed, {m['seconds'] / 60:.1f} min"
              f"{'' if m['complete'] else ' (INCOMPLETE)'}  " + ", ".join(f"{k} {v}" for k, v in sorted(m["counts"].items())))
        status = status or (0 if m["complete"] else 2)
    (out_dir / "README.md").write_text(render_index())
    return status


if __name__ == "__main__":
    sys.exit(main())
