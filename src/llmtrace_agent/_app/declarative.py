"""Declarative wrapping: trace functions of the user's own code listed in a TOML file
(``LLMTRACE_CONFIG``), with span attributes read from each call by accessor expressions.

Accessors are never run by Python: each is parsed with ``ast.parse(mode="eval")`` and the syntax
tree is turned, node by node, into a small interpreter that accepts only

- the names ``instance``, ``args``, ``kwargs``, ``output`` (and the literals True, False, None);
- attribute access, except dunder names other than ``__class__`` and ``__name__`` and the
  attributes that reach a frame (``gi_frame``, ``f_globals``…);
- indexing and slicing, with literals or allowed expressions as indices;
- short literals: strings, numbers, negative numbers;
- calls of ``len``, ``str``, ``int``, ``float``, ``bool`` or ``type`` with one argument.

Anything else (other calls, lambdas, comprehensions, operators, f-strings…) is refused when the
file is loaded, with one warning naming the entry and the attribute; the rest of the file still
applies. An accessor that fails during a call (IndexError, AttributeError…) leaves its attribute
out of that span: counted, and shown with LLMTRACE_DEBUG=true.
"""

from __future__ import annotations

import ast
import operator
import re
import sys

from llmtrace_agent._runtime import agent_state, import_hooks, log
from llmtrace_agent.toolkit import guard

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from opentelemetry.trace import Span
    from opentelemetry.util.types import AttributeValue

    Environment = tuple[object, object, object, object]  # instance, args, kwargs, output
    Evaluator = Callable[[Environment], object]

NAMES = ("instance", "args", "kwargs", "output")
FUNCTIONS: dict[str, Callable[[object], object]] = {
    "len": len,  # type: ignore[dict-item]
    "str": str,
    "int": int,  # type: ignore[dict-item]
    "float": float,  # type: ignore[dict-item]
    "bool": bool,
    "type": type,
}
ALLOWED_DUNDERS = frozenset(("__class__", "__name__"))
# Not dunders, but each leads to a frame and from there to every global of the program.
FRAME_ATTRIBUTES = frozenset(
    (
        "ag_frame",
        "cr_frame",
        "gi_frame",
        "tb_frame",
        "f_back",
        "f_builtins",
        "f_globals",
        "f_locals",
    )
)
MAX_SOURCE_LENGTH = 500  # characters in one accessor
MAX_DEPTH = 24  # nesting of the syntax tree
MAX_LITERAL_LENGTH = 256  # characters of a string literal
MAX_LITERAL_INT = 2**63  # magnitude of an integer literal

ENTRY_KEYS = ("target", "span_name", "kind", "attributes")
SPAN_KINDS = ("internal", "server", "client", "producer", "consumer")  # OpenTelemetry's SpanKind
_IDENTIFIERS = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_TARGET = re.compile(f"{_IDENTIFIERS}:{_IDENTIFIERS}")


class AccessorRefused(ValueError):
    """An accessor outside the language; the message says what is not allowed."""


class Accessor:
    """One parsed accessor expression, evaluated over a call."""

    __slots__ = ("_evaluate", "failures", "needs_output", "source", "where")

    def __init__(self, source: str, evaluate: Evaluator, needs_output: bool) -> None:
        self.source = source
        self._evaluate = evaluate
        self.needs_output = needs_output
        self.failures = 0
        self.where = ""  # "target attribute 'name'", for debug messages

    def read(self, instance: object, args: object, kwargs: object, output: object = None) -> object:
        """The value for this call, or None if the expression fails on it."""
        try:
            return self._evaluate((instance, args, kwargs, output))
        except Exception as exc:
            self.failures += 1
            if self.failures == 1 and log.debug_enabled:
                log.debug(
                    f"LLMTRACE_CONFIG: {self.where}: accessor {self.source!r} failed "
                    f"({type(exc).__name__}: {exc}); left out (further failures are counted)"
                )
            return None


def parse_accessor(source: str) -> Accessor:
    """Parse ``source``; raise ``AccessorRefused`` if it is not in the accessor language."""
    if not isinstance(source, str):
        raise AccessorRefused("an accessor must be a string")
    if len(source) > MAX_SOURCE_LENGTH:
        raise AccessorRefused(f"longer than {MAX_SOURCE_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise AccessorRefused(f"not an expression ({type(exc).__name__})") from None
    evaluate = _build(tree.body, 0)
    needs_output = any(
        isinstance(node, ast.Name) and node.id == "output" for node in ast.walk(tree)
    )
    return Accessor(source, evaluate, needs_output)


# --- the interpreter: one closure per syntax-tree node, built once at load time -----------------


def _build(node: ast.expr, depth: int) -> Evaluator:
    if depth > MAX_DEPTH:
        raise AccessorRefused("nested too deeply")
    if isinstance(node, ast.Name):
        if node.id not in NAMES:
            raise AccessorRefused(f"unknown name {node.id!r} (use {', '.join(NAMES)})")
        return operator.itemgetter(NAMES.index(node.id))
    if isinstance(node, ast.Constant):
        return _literal(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
            value = operand.value
            return _literal(-value if isinstance(node.op, ast.USub) else value)
        raise AccessorRefused("a sign is allowed only before a number")
    if isinstance(node, ast.Attribute):
        return _attribute(_build(node.value, depth + 1), node.attr)
    if isinstance(node, ast.Subscript):
        return _subscript(_build(node.value, depth + 1), _index(node.slice, depth + 1))
    if isinstance(node, ast.Call):
        return _call(node, depth)
    raise AccessorRefused(f"{_describe(node)} is not allowed")


def _literal(value: object) -> Evaluator:
    if value is not None and type(value) not in (str, int, float, bool):
        raise AccessorRefused(f"{type(value).__name__} literals are not allowed")
    if isinstance(value, str) and len(value) > MAX_LITERAL_LENGTH:
        raise AccessorRefused(f"string literal longer than {MAX_LITERAL_LENGTH} characters")
    if type(value) is int and abs(value) >= MAX_LITERAL_INT:
        raise AccessorRefused("integer literal too large")
    return lambda environment: value


def _attribute(value: Evaluator, name: str) -> Evaluator:
    if name.startswith("__") and name not in ALLOWED_DUNDERS:
        raise AccessorRefused(f"attribute {name!r} is not allowed (only __class__ and __name__)")
    if name in FRAME_ATTRIBUTES:
        raise AccessorRefused(f"attribute {name!r} is not allowed")
    return lambda environment: getattr(value(environment), name)


def _subscript(value: Evaluator, index: Evaluator) -> Evaluator:
    return lambda environment: value(environment)[index(environment)]  # type: ignore[index]


def _index(node: ast.expr, depth: int) -> Evaluator:
    if not isinstance(node, ast.Slice):
        return _build(node, depth)
    parts = [
        _build(part, depth + 1) if part is not None else _literal(None)
        for part in (node.lower, node.upper, node.step)
    ]
    lower, upper, step = parts
    return lambda environment: slice(lower(environment), upper(environment), step(environment))


def _call(node: ast.Call, depth: int) -> Evaluator:
    if not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
        raise AccessorRefused(
            f"calling {_describe(node.func)} is not allowed (only {', '.join(FUNCTIONS)})"
        )
    if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
        raise AccessorRefused(f"{node.func.id}() takes exactly one argument here")
    function = FUNCTIONS[node.func.id]
    argument = _build(node.args[0], depth + 1)
    return lambda environment: function(argument(environment))


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return repr(node.id)
    if isinstance(node, ast.Attribute):
        return f"'.{node.attr}'"
    names = {
        "Lambda": "a lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator expression",
        "NamedExpr": "an assignment expression",
        "JoinedStr": "an f-string",
        "BinOp": "an operator",
        "BoolOp": "an operator",
        "Compare": "a comparison",
        "IfExp": "a conditional expression",
    }
    kind = type(node).__name__
    return names.get(kind, f"a {kind} expression")


# --- the file: [[wrap]] entries -----------------------------------------------------------------


class Entry:
    """One ``[[wrap]]`` entry: where to patch, the span, and its accessors (the span's
    ``observation.Extractor``)."""

    def __init__(
        self,
        target: str,
        span_name: str | None,
        kind: object,
        accessors: dict[str, Accessor],
    ) -> None:
        self.target = target
        self.module_name, _, self.qualname = target.partition(":")
        self.span_name = span_name or self.qualname
        self.kind = kind
        self.accessors = accessors
        self._at_start = [(name, a) for name, a in accessors.items() if not a.needs_output]
        self._at_end = [(name, a) for name, a in accessors.items() if a.needs_output]
        self.patched = False

    def at_start(self, span: Span, instance: object, args: object, kwargs: object) -> None:
        for name, accessor in self._at_start:
            value = span_value(accessor.read(instance, args, kwargs))
            if value is not None:
                span.set_attribute(name, value)

    def at_end(
        self, span: Span, instance: object, args: object, kwargs: object, output: object
    ) -> None:
        for name, accessor in self._at_end:
            value = span_value(accessor.read(instance, args, kwargs, output))
            if value is not None:
                span.set_attribute(name, value)

    def patch(self, module: ModuleType) -> None:
        """Wrap the target in ``module`` (just imported); warn if it is not there."""
        import wrapt

        from llmtrace_agent._app.observation import SpanSpec, span_kind, wrap

        if self.patched:
            return
        try:
            parent, attribute, original = wrapt.resolve_path(module, self.qualname)
        except AttributeError:
            log.warning(
                f"LLMTRACE_CONFIG: [[wrap]] target {self.target!r}: module {module.__name__} "
                f"has no {self.qualname!r}; not traced"
            )
            return
        if isinstance(original, type):
            log.warning(
                f"LLMTRACE_CONFIG: [[wrap]] target {self.target!r} is a class; list its "
                f"methods instead (e.g. {self.target}.__init__); not traced"
            )
            return
        if not (callable(original) or isinstance(original, (staticmethod, classmethod))):
            log.warning(
                f"LLMTRACE_CONFIG: [[wrap]] target {self.target!r} is a "
                f"{type(original).__name__}, not a function; not traced"
            )
            return
        spec = SpanSpec(self.span_name, span_kind(self.kind), extractor=self)
        setattr(parent, attribute, wrap(original, spec))
        self.patched = True
        log.debug(f"LLMTRACE_CONFIG: tracing {self.target} as span {self.span_name!r}")


def span_value(value: object) -> AttributeValue | None:
    """An accessor's result as an attribute value: primitives and lists of one primitive type
    as they are, anything else as its ``str``; strings cut at LLMTRACE_CONTENT_MAX_LENGTH."""
    if value is None:
        return None
    from llmtrace_agent._app.context_attributes import attribute_value
    from llmtrace_agent.toolkit.genai.content import clip

    value = attribute_value(value)
    if isinstance(value, str):
        return clip(value)  # type: ignore[return-value]
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        return tuple(clip(item) for item in value)  # type: ignore[misc]
    return value


entries: list[Entry] = []
"""What the loaded file declared (for status and tests)."""


def load(path: str) -> list[Entry]:
    """Read ``path`` and arrange for each valid entry's target to be wrapped when its module is
    imported. Problems become warnings on stderr; the application always runs."""
    with guard.internal_errors:
        document = _read(path)
        if document is None:
            return []
        for entry in parse_entries(document, path):
            entries.append(entry)
            import_hooks.when_imported(entry.module_name, _hook(entry))
        if agent_state.config.debug:
            import atexit

            atexit.register(_report_failures)
    return entries


def _read(path: str) -> dict[str, object] | None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            log.warning(
                f"LLMTRACE_CONFIG={path}: reading TOML needs Python 3.11 or the tomli package; "
                "nothing declared there is traced"
            )
            return None
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        log.warning(f"LLMTRACE_CONFIG={path}: cannot be read ({exc.strerror or exc}); ignored")
    except tomllib.TOMLDecodeError as exc:
        log.warning(f"LLMTRACE_CONFIG={path}: not valid TOML ({exc}); ignored")
    return None


def parse_entries(document: dict[str, object], path: str) -> list[Entry]:
    """The valid ``[[wrap]]`` entries of a parsed file, warning about everything else."""
    where = f"LLMTRACE_CONFIG={path}"
    for key in document:
        if key != "wrap":
            log.warning(f"{where}: unknown key {key!r} ignored (expected [[wrap]] entries)")
    raw_entries = document.get("wrap", [])
    if not isinstance(raw_entries, list):
        log.warning(f"{where}: 'wrap' must be a list of [[wrap]] tables; ignored")
        return []
    parsed: list[Entry] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_entries, 1):
        entry = _parse_entry(raw, where, number)
        if entry is None:
            continue
        if entry.target in seen:
            log.warning(f"{where}: target {entry.target!r} listed twice; the first entry is used")
            continue
        seen.add(entry.target)
        parsed.append(entry)
    return parsed


def _parse_entry(raw: object, where: str, number: int) -> Entry | None:
    if not isinstance(raw, dict):
        log.warning(f"{where}: [[wrap]] #{number} is not a table; ignored")
        return None
    target = raw.get("target")
    if not (isinstance(target, str) and _TARGET.fullmatch(target)):
        log.warning(
            f'{where}: [[wrap]] #{number}: target must be "module:Qualified.name", '
            f"got {target!r}; entry ignored"
        )
        return None
    qualname = target.partition(":")[2]
    where = f"{where}: [[wrap]] target {target!r}"
    for key in raw:
        if key not in ENTRY_KEYS:
            log.warning(f"{where}: unknown key {key!r} ignored (known: {', '.join(ENTRY_KEYS)})")
    span_name = raw.get("span_name")
    if span_name is not None and not (isinstance(span_name, str) and span_name.strip()):
        log.warning(f"{where}: span_name must be a non-empty string; using {qualname!r}")
        span_name = None
    kind = raw.get("kind")
    if kind is not None and not (isinstance(kind, str) and kind.strip().lower() in SPAN_KINDS):
        log.warning(
            f"{where}: span kind must be one of {', '.join(SPAN_KINDS)}; got {kind!r}; "
            "using internal"
        )
        kind = None
    accessors = _parse_accessors(raw.get("attributes", {}), target, where)
    return Entry(target, span_name, kind, accessors)


def _parse_accessors(raw: object, target: str, where: str) -> dict[str, Accessor]:
    if not isinstance(raw, dict):
        log.warning(f'{where}: attributes must be a table of name = "accessor"; ignored')
        return {}
    accessors: dict[str, Accessor] = {}
    for name, source in raw.items():
        if not name.strip():
            log.warning(f"{where}: an attribute needs a name; {source!r} ignored")
            continue
        try:
            accessors[name] = parse_accessor(source)
            accessors[name].where = f"{target} attribute {name!r}"
        except AccessorRefused as exc:
            shown = (
                source if not isinstance(source, str) or len(source) <= 80 else source[:80] + "…"
            )
            log.warning(
                f"{where}: attribute {name!r} = {shown!r} refused: {exc}; "
                "the entry's other attributes still apply"
            )
    return accessors


def _hook(entry: Entry) -> import_hooks.Hook:
    def on_import(module: ModuleType) -> None:
        # Runs under the module's import lock: patch only, never raise.
        with guard.internal_errors:
            entry.patch(module)

    return on_import


def _report_failures() -> None:
    for entry in entries:
        for name, accessor in entry.accessors.items():
            if accessor.failures:
                log.debug(
                    f"LLMTRACE_CONFIG: {entry.target} attribute {name!r} ({accessor.source!r}) "
                    f"failed {accessor.failures} time(s) and was left out"
                )
