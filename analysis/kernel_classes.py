"""Kernel classes by name pattern: one table, first match wins."""
from __future__ import annotations

import re
from enum import IntEnum
from functools import lru_cache

import numpy as np


class KernelClass(IntEnum):
    GEMM = 0          # GEMV and GEMM (cuBLAS, CUTLASS, nvjet)
    ATTENTION = 1
    NORM = 2
    ROTARY = 3
    REDUCTION = 4     # argmax, sums
    COPY = 5          # copies, cat, index, fill (includes cache updates)
    ELEMENTWISE = 6   # activations and pointwise arithmetic
    OTHER = 7
    MEMCPY = 8        # CUPTI memcpy records
    MEMSET = 9        # CUPTI memset records
    DEQUANT = 10      # separate dequantisation of low-bit weights
    GRAPH = 11        # a whole CUDA-graph replay (graph-level record: its nodes were not traced)


#: (class, pattern) in priority order; matched case-insensitively against the full name.
PATTERNS: list[tuple[KernelClass, str]] = [
    (KernelClass.GRAPH, r"^CUDA graph replay \(graph-level record"),
    (KernelClass.DEQUANT, r"dequant"),
    (KernelClass.ATTENTION, r"flash|fmha|attention|attn|sdpa|softmax"),
    (KernelClass.GEMM, r"gemm|gemv|cutlass|cublas|xmma|nvjet|splitk|matmul|dot_kernel|int4pack|int8pack|marlin"),
    # "norm" but not torch's normal_ random fill ("normal_kernel"); "normalization" is a norm
    (KernelClass.NORM, r"norm(?!al(_|\b))|rsqrt|meanops|pow_tensor"),
    (KernelClass.ROTARY, r"rotary|rope|neg_kernel|\bneg\b|cos_kernel|sin_kernel"),
    (KernelClass.REDUCTION, r"argmax|argmin|reduce|reduction|sum_kernel|max_kernel"),
    (KernelClass.COPY, r"copy|cat(array)?|index|gather|scatter|fill|arange|memcpy|memset"),
    (KernelClass.ELEMENTWISE, r"elementwise|silu|gelu|sigmoid|mul|add|div|sub|where|pointwise"),
]
_COMPILED = [(c, re.compile(p, re.I)) for c, p in PATTERNS]


def graph_level(trace) -> bool:
    """Whether the trace's kernel records are whole CUDA-graph replays (capture
    ``kernel_records`` "graph"): no per-kernel times, one GRAPH record per replay."""
    return (trace.meta.get("capture") or {}).get("kernel_records") == "graph"


#: Characters of a name the patterns search: real kernel names stay under 2 kB (the
#: longest shipped: 1354); a name of megabytes would take seconds per pattern.
CLASSIFY_CHARS = 1 << 14


def classify_name(name: str) -> KernelClass:
    name = name[:CLASSIFY_CHARS]
    for cls, rx in _COMPILED:
        if rx.search(name):
            return cls
    return KernelClass.OTHER


def classify_names(strings: list[str], name_ids: np.ndarray) -> np.ndarray:
    """Class of each kernel, classifying each distinct name once."""
    uniq, inv = np.unique(name_ids, return_inverse=True)
    table = np.array([classify_name(strings[i]) for i in uniq], np.int64)
    return table[inv] if len(uniq) else np.zeros(0, np.int64)


def record_classes(trace, rec) -> np.ndarray:
    """Class of every GPU record (``intervals.GpuRecords``): kernels by name, copies
    MEMCPY, sets MEMSET."""
    kern = classify_names(trace.strings, trace["kernels"]["name"])
    return np.select([rec.table == 0, rec.table == 1], [kern[np.where(rec.table == 0, rec.row, 0)]
                     if len(kern) else np.zeros(len(rec.table), np.int64), KernelClass.MEMCPY],
                     KernelClass.MEMSET).astype(np.int64)


def demangle_prefix(name: str) -> str:
    """The qualified name of an Itanium-mangled symbol (``_ZN2at6native4mulE...`` ->
    ``at::native::mul``); other names are returned unchanged. Templates are dropped."""
    if not name.startswith("_Z"):
        return name
    i = 3 if name.startswith("_ZL") else 2       # _ZL: a static (internal-linkage) function
    nested = name.startswith("_ZN")
    if nested:
        i = 3
        while i < len(name) and name[i] in "rVKL":
            i += 1
    parts = []
    while i < len(name) and name[i].isdigit():
        j = i
        while j < len(name) and name[j].isdigit():
            j += 1
        n = int(name[i:j])
        parts.append(name[j:j + n])
        i = j + n
        if not nested:
            break
        if i < len(name) and name[i] == "I":   # template arguments: stop at the name
            break
    return "::".join(p for p in parts if p != ANON_MANGLED) or name


#: The mangled anonymous namespace (demangled "(anonymous namespace)", "<unnamed>" by ncu).
ANON_MANGLED = "_GLOBAL__N_1"
_ANON = ("(anonymous namespace)::", "<unnamed>::")
#: A templated return type left in front of the name (``std::enable_if<...>::type f``).
_RETURN_TYPE = re.compile(r"^\S*::type\s+")


_GENERIC = re.compile(r"(elementwise|reduce|elementwise_grid_stride)_kernel$")
_OP_HINT = re.compile(r"([A-Za-z]\w*?(?:Functor|_functor|_kernel_cuda|_kernel_impl|Ops|_kernel)"
                      r"|CUDAFunctor(?:OnSelf|OnOther)?_[a-z]\w*)")
#: Functors that only say how many operands are tensors (BinaryFunctor<T, T, T, MulFunctor<T>>,
#: AUnaryFunctor: the first a scalar): the op is the functor they hold.
_WRAPPERS = frozenset({"BinaryFunctor", "AUnaryFunctor", "BUnaryFunctor"})


@lru_cache(maxsize=8192)
def short_name(name: str, width: int | None = None) -> str:
    """A kernel name without template arguments and parameter lists; torch's generic
    elementwise/reduce kernels get the op they run appended, e.g. ``[MulFunctor]``;
    in at most ``width`` characters (``shorten``) when given. Reports keep the whole
    name; renderers shorten it to their column. Only the first ``CLASSIFY_CHARS``
    characters are read (a name of megabytes stays fast)."""
    name = name[:CLASSIFY_CHARS]
    plain = demangle_prefix(name)
    for anon in _ANON:
        plain = plain.replace(anon, "")
    base = _RETURN_TYPE.sub("", _short(plain, 10 ** 6))
    if _GENERIC.search(base):
        words = _mangled_idents(name) if name.startswith("_Z") else re.findall(r"\w+", name)
        hints = [h for h in words if _OP_HINT.fullmatch(h) and not _GENERIC.search(h)
                 and not h.startswith(("gpu_kernel", "launch_"))]
        inner = [h for h in hints if h not in _WRAPPERS]
        if hints:
            base = f"{base} [{(inner or hints)[0].lstrip('0123456789')}]"
    return shorten(base, width) if width else base


#: Where a long name may be cut: between scopes, words, path parts or underscore-joined
#: parts; never inside a word.
_CUT = re.compile(r"::|[ /.\[_\-]")
_SEPARATORS = ":. /_-["


def shorten(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters: cut at the front, at the first separator
    that fits (never mid-word), with a leading ellipsis; the end (a kernel's variant, a
    file's name and line) is what tells names apart."""
    if len(name) <= width:
        return name
    start = len(name) - (width - 1)
    tail = name[start:]
    if tail and (name[start - 1] in _SEPARATORS or tail[0] in _SEPARATORS):   # the tail starts a word
        rest = tail.lstrip(_SEPARATORS)
        if rest:
            return "…" + rest
    m = _CUT.search(tail, 1)         # a cut at tail[0] would lose nothing
    rest = tail[m.end():].lstrip(_SEPARATORS) if m else ""    # no separator left at the front ("….. x")
    return "…" + (rest or tail)


def _mangled_idents(name: str) -> list[str]:
    """Every length-prefixed identifier in an Itanium-mangled name."""
    out, i, after_ident = [], 0, False
    while i < len(name):
        # a length prefix starts after a non-digit, or right after an identifier that ended
        # in one (_GLOBAL__N_1 then 11silu_kernel)
        if name[i].isdigit() and (i == 0 or after_ident or not name[i - 1].isdigit()):
            j = i
            while j < len(name) and name[j].isdigit():
                j += 1
            n = int(name[i:j])
            ident = name[j:j + n]
            literal = i >= 2 and name[i - 2] == "L"   # Li128E: an integer literal
            if n and not literal and len(ident) == n and (ident[0].isalpha() or ident[0] == "_") \
                    and all(c.isalnum() or c == "_" for c in ident):
                out.append(ident)
                i, after_ident = j + n, True
                continue
            i = j
        else:
            i += 1
        after_ident = False
    return out


def _short(name: str, width: int) -> str:
    out, depth = [], 0
    for ch in name:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth = max(depth - 1, 0)
        elif depth == 0:
            out.append(ch)
    s = "".join(out).replace("void ", "").strip()
    return shorten(s, width)
