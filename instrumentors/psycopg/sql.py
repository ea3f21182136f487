"""What a SQL text tells a span, read once per distinct text (cached): the query summary
(``docs/db/database-spans.md``, "Generating a summary of the query"), whether it is a pgvector
similarity search (and over which table, with which LIMIT), and the text with its literals
replaced by ``?`` (for queries sent without parameters, whose literals may be sensitive).

A tokenizer, not a parser: comments, string literals and quoted identifiers are read whole so
their content never looks like SQL; parentheses opened by a function call (``extract(year FROM
t)``) hide their ``FROM``; anything it does not understand it leaves out of the summary.
"""

from __future__ import annotations

import functools
import re

__all__ = ["SqlShape", "shape_of"]

_NAME = r'(?:[A-Za-z_][\w$]*|"(?:[^"]|"")*")'
_TOKENS = re.compile(
    r"(?P<skip>--[^\n]*|/\*.*?\*/|%%)"
    r"|(?P<string>[EeBbXxNn]?'(?:[^']|'')*'|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$)"
    rf"|(?P<name>{_NAME}(?:\s*\.\s*{_NAME})*)"
    r"|(?P<param>%\((?P<pname>[^)]+)\)[sbt]|%[sbt]|\$(?P<pnum>\d+))"
    r"|(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<distance><->|<=>|<\#>|<\+>)"
    r"|(?P<punct>[(),;])",
    re.DOTALL,
)
# Literals to replace by ``?`` in a query sent without parameters; names are matched (and kept)
# so that the digits in ``t1`` are not a number.
_LITERALS = re.compile(
    r"(?P<keep>--[^\n]*|/\*.*?\*/|\$\d+|" + _NAME + r")"
    r"|(?P<literal>[EeBbXxNn]?'(?:[^']|'')*'|\$(?P<tag>[A-Za-z_]\w*)?\$.*?\$(?P=tag)?\$"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)",
    re.DOTALL,
)

_DML = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE"})
_DDL = frozenset({"CREATE", "DROP", "ALTER", "TRUNCATE"})
_TARGET_BEFORE = frozenset({"FROM", "JOIN", "INTO", "UPDATE"})
# Words between FROM/JOIN/… and the table name, or between CREATE and what it creates.
_NOISE = frozenset(
    {"ONLY", "LATERAL", "OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "IF", "NOT"}
    | {"EXISTS", "CONCURRENTLY", "TABLE", "MATERIALIZED", "GLOBAL", "LOCAL"}
)
# A name after one of these is not a table (``FROM`` inside ``SELECT … FROM (…) AS t``…).
_NOT_TARGETS = frozenset({"SELECT", "SET", "VALUES", "WHERE", "DEFAULT", "WITH", "USING"})
# Words that end a FROM list (after which a comma no longer names another table).
# A parenthesis after one of these opens a subquery or a list, not a function call's arguments.
_NOT_CALLS = frozenset(
    {"AS", "IN", "EXISTS", "ANY", "ALL", "SOME", "LATERAL", "ON", "AND", "OR", "NOT", "WHERE"}
    | {"UNION", "INTERSECT", "EXCEPT", "SELECT", "THEN", "ELSE", "WHEN", "USING"}
    | _TARGET_BEFORE
)
_END_FROM = frozenset(
    {"WHERE", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "WINDOW", "ON", "RETURNING"}
    | {"UNION", "INTERSECT", "EXCEPT", "FETCH", "FOR", "SET", "VALUES", "SELECT", "USING"}
)
MAX_SUMMARY = 255  # the conventions' limit, cut between words


class SqlShape:
    """One SQL text, as a span records it."""

    __slots__ = ("limit", "sanitized", "search_table", "summary")

    def __init__(
        self,
        summary: str | None,
        search_table: str | None,
        limit: int | str | tuple[int] | None,
        sanitized: str,
    ) -> None:
        self.summary = summary
        """``db.query.summary`` (also the span's name): ``SELECT items``, ``INSERT items``."""
        self.search_table = search_table
        """The table of a similarity search (``ORDER BY embedding <-> …``), else None; a quoted
        name without its quotes."""
        self.limit = limit
        """The LIMIT: an int literal, a parameter name, or ``(index,)`` of a positional one."""
        self.sanitized = sanitized
        """The text with literals replaced by ``?``."""

    def top_k(self, params: object) -> int | None:
        """The LIMIT's value, read from ``params`` when it is a parameter."""
        limit = self.limit
        if limit is None or isinstance(limit, int):
            return limit
        value: object = None
        if isinstance(limit, str):
            if isinstance(params, dict):
                value = params.get(limit)
        elif isinstance(params, (list, tuple)) and limit[0] < len(params):
            value = params[limit[0]]
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@functools.lru_cache(maxsize=256)
def shape_of(text: str) -> SqlShape:
    """The shape of ``text`` (cached: an application sends the same few texts again and again)."""
    parts: list[str] = []
    search = False
    search_table: str | None = None
    first_target: str | None = None
    limit: int | str | tuple[int] | None = None
    positional = 0
    expect_target = False
    after_limit = False
    from_depth = -1  # paren depth of the open FROM list, -1: none
    depth = 0
    calls: list[bool] = []  # per open paren: opened by a function call
    previous: str | None = None  # kind of the previous token
    previous_word = ""
    ddl = False
    started = False
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        if kind == "skip":
            continue
        if kind == "tag":  # the dollar-quote's tag group closes last: a string
            kind = "string"
        value = match.group()
        word = value.upper() if kind == "name" else ""
        if after_limit:
            after_limit = False
            if kind == "number" and value.isdigit():
                limit = int(value)
            elif kind == "param":
                limit = _parameter(match, positional)
        if kind == "param" and match.group("pname") is None and match.group("pnum") is None:
            positional += 1
        if kind == "distance":
            search = True
        elif kind == "punct":
            if value == "(":
                calls.append(previous == "name" and previous_word not in _NOT_CALLS)
                depth += 1
                expect_target = False
            elif value == ")":
                if calls:
                    calls.pop()
                depth -= 1
                if depth < from_depth:
                    from_depth = -1
            elif value == "," and from_depth == depth and not any(calls):
                expect_target = True
        elif kind == "name" and not any(calls):
            if not started:  # the first word: what the statement is
                started = True
                if word == "WITH":
                    continue  # the common table expressions' SELECTs follow
                parts.append(value)
                ddl = word in _DDL
                if word not in _DML and not ddl:
                    break  # BEGIN, SET, SHOW…: the word alone
                expect_target = word == "UPDATE"
            elif ddl:
                if word in _NOISE and len(parts) == 1 and word != "TABLE":
                    pass
                elif len(parts) == 1:
                    parts.append(value)  # TABLE, INDEX, EXTENSION…
                elif word not in _NOISE and word != "ON":
                    parts.append(value)  # the name
                    break
            elif expect_target:
                if word in _NOISE:
                    pass
                elif word in _NOT_TARGETS:
                    expect_target = False
                else:
                    parts.append(value)
                    first_target = first_target or value
                    expect_target = False
            elif word in _DML and previous_word != "DO":
                parts.append(value)
                expect_target = word == "UPDATE"
            elif word in _TARGET_BEFORE:
                expect_target = True
                if word == "FROM":
                    from_depth = depth
            elif word == "LIMIT":
                after_limit = True
            if word in _END_FROM and from_depth == depth:
                from_depth = -1
        if search and search_table is None:
            search_table = first_target
        previous = kind
        previous_word = word
    summary = _clip(parts) if parts else None
    sanitized = _LITERALS.sub(_keep_or_placeholder, text)
    table = _unquoted(search_table) if search and search_table else None
    return SqlShape(summary, table, limit, sanitized)


def _unquoted(name: str) -> str:
    """A table's name as data source id: ``"My Items"`` -> ``My Items`` (a name, not SQL)."""
    if '"' not in name:
        return name
    parts = re.findall(r'"((?:[^"]|"")*)"|([^."\s]+)', name)
    return ".".join(quoted.replace('""', '"') or bare for quoted, bare in parts)


def _parameter(match: re.Match[str], positional: int) -> str | tuple[int] | None:
    """A placeholder's key into the parameters: its name, or its position."""
    if match.group("pname") is not None:
        return match.group("pname")
    if match.group("pnum") is not None:  # $1 (raw cursors): 1-based
        return (int(match.group("pnum")) - 1,)
    return (positional,)


def _clip(parts: list[str]) -> str:
    summary = " ".join(parts)
    while len(summary) > MAX_SUMMARY and len(parts) > 1:
        parts.pop()
        summary = " ".join(parts)
    return summary[:MAX_SUMMARY]


def _keep_or_placeholder(match: re.Match[str]) -> str:
    return match.group() if match.group("keep") is not None else "?"
