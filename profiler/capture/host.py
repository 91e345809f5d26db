"""Host spans of the framework, on CUPTI's clock: every ``nn.Module`` forward (global
forward hooks) and, opt-in, every torch function called from Python (a
``TorchFunctionMode``). The hooks only append ``(t_ns, enter, key, thread)`` to a list;
pairing enters with exits, naming and nesting happen once, in :meth:`collect`, after the
capture. Module names come from the roots given (``model.layers.3.self_attn``), else the
class name.

Cost per event is one clock read, one ``threading.get_ident`` and one list append (about
1 us in CPython); the overhead benchmark measures it per mode.
"""
from __future__ import annotations

import sys
import threading

from stepscope.analysis.trace.model import HostSpanKind


def _thread_id() -> int:
    """pthread_self() cut to 32 bits, as CUPTI reports a thread id."""
    return threading.get_ident() & 0xFFFFFFFF


class HostSpans:
    def __init__(self, clock, roots=(), ops: bool = False):
        self.clock = clock
        self.events: list[tuple] = []
        self.names: dict[int, str] = {}
        self.kinds: dict[int, int] = {}
        self.ops = ops
        self._handles = []
        self._mode = None
        self._roots = [r for r in (roots if isinstance(roots, (list, tuple)) else [roots]) if r is not None]
        self._objects: dict[int, object] = {}   # keep hooked keys alive: ids stay unique

    def start(self) -> bool:
        """Install the hooks; False (nothing installed) when torch is not loaded."""
        torch = sys.modules.get("torch")
        if torch is None:
            return False
        for root in self._roots:
            for name, m in root.named_modules():
                self.names[id(m)] = name or type(root).__name__
        append, clock, ident = self.events.append, self.clock, _thread_id
        objects = self._objects

        def pre(module, args):
            append((clock(), 1, id(module), ident()))
            objects.setdefault(id(module), module)

        def post(module, args, out):
            append((clock(), 0, id(module), ident()))

        from torch.nn.modules import module as tm
        self._handles = [tm.register_module_forward_pre_hook(pre), tm.register_module_forward_hook(post)]
        if self.ops:
            self._mode = _op_mode(torch, append, clock, ident, objects)
            self._mode.__enter__()
        return True

    def stop(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None

    def _name(self, key: int) -> tuple[str, int]:
        if key in self.names:
            return self.names[key], HostSpanKind.MODULE
        obj = self._objects.get(key)
        if obj is not None and not hasattr(obj, "named_modules"):
            mod = getattr(obj, "__module__", None) or ""
            name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
            return f"{mod}.{name}" if mod else name, HostSpanKind.OPERATOR
        return type(obj).__name__ if obj is not None else f"module@{key:x}", HostSpanKind.MODULE

    def collect(self, intern) -> dict[str, list]:
        """Pair enters and exits per thread (a stack), in time order; spans still open at
        the end are closed at the last event. Returns the ``host_spans`` columns."""
        cols = {c: [] for c in ("start_ns", "end_ns", "name", "kind", "depth", "parent", "thread_id")}
        stacks: dict[int, list[int]] = {}
        for t, enter, key, tid in sorted(self.events, key=lambda e: e[0]):
            stack = stacks.setdefault(tid, [])
            if enter:
                name, kind = self._name(key)
                row = len(cols["start_ns"])
                for c, v in (("start_ns", t), ("end_ns", -1), ("name", intern(name)), ("kind", kind),
                             ("depth", len(stack)), ("parent", stack[-1][0] if stack else -1),
                             ("thread_id", tid)):
                    cols[c].append(v)
                stack.append((row, key))
            else:
                # Close the innermost open span of this key (exits unwind inner spans left open).
                for j in range(len(stack) - 1, -1, -1):
                    if stack[j][1] == key:
                        for row, _ in stack[j:]:
                            cols["end_ns"][row] = t
                        del stack[j:]
                        break
        last = max((e[0] for e in self.events), default=0)
        cols["end_ns"] = [e if e >= 0 else last for e in cols["end_ns"]]
        self.events = []
        return cols


def _op_mode(torch, append, clock, ident, objects):
    """A TorchFunctionMode that records every torch function called from Python."""
    from torch.overrides import TorchFunctionMode

    class OpSpans(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            key = id(func)
            objects.setdefault(key, func)
            append((clock(), 1, key, ident()))
            try:
                return func(*args, **(kwargs or {}))
            finally:
                append((clock(), 0, key, ident()))
    return OpSpans()
