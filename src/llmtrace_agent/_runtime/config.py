"""One typed, frozen configuration, parsed once from the environment (and explicit overrides).

This is the only module that reads ``os.environ``; everything else receives a ``Config``.
It runs in every traced process before the user's code, so it imports nothing heavy
(no ``typing``, ``dataclasses`` or ``re`` unless a variable needs it).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    # (variable, raw value, why it is invalid, field whose resulting value is used instead)
    _Invalid = tuple[str, str, str, str | None]

EXPORTERS = ("otlp", "console", "file", "none")
OTLP_PROTOCOLS = ("http/protobuf", "grpc")
METRICS_EXPORTERS = ("otlp", "console", "none")
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off", ""))


class ConfigError(ValueError):
    """A value that cannot be used; the message says what was expected."""

    usable: object = None
    """What can still be used of the value (the valid part of a list), if anything."""


# --- parsers: str -> value, raising ConfigError -------------------------------------------------


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError("expected true or false")


def _positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError("expected a whole number") from None
    if value <= 0:
        raise ConfigError("expected a number above 0")
    return value


def _seconds(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError("expected a number of seconds") from None
    if not value >= 0:
        raise ConfigError("expected a number of seconds, 0 or more")
    return value


def _ratio(raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError("expected a number from 0 to 1") from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError("expected a number from 0 to 1")
    return value


def _text(raw: str) -> str | None:
    return raw.strip() or None


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in raw.split(",") if name.strip())


def _tokens(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _genai_latest(raw: str) -> bool:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` also lists other domains' opt-ins (``http``,
    ``database``): only ours counts, the rest are not errors."""
    return "gen_ai_latest_experimental" in _names(raw)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ConfigError("expected one of " + ", ".join(allowed))
        return value

    return parse


HTTP_UNDER_LLM = ("retries", "always", "never")


def _http_under_llm(raw: str) -> str:
    """``retries``, ``always`` or ``never``; the boolean spellings of older releases still mean
    always and never."""
    value = raw.strip().lower()
    if value in HTTP_UNDER_LLM:
        return value
    if value in _TRUE:
        return "always"
    if value in _FALSE:
        return "never"
    raise ConfigError("expected one of " + ", ".join(HTTP_UNDER_LLM))


def _exporters(raw: str) -> tuple[str, ...]:
    names = _names(raw)
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown or not names:
        raise ConfigError("expected a comma list of " + ", ".join(EXPORTERS))
    return names


def _headers(raw: str) -> tuple[tuple[str, str], ...]:
    """``key=value`` pairs, comma separated, values URL-encoded (the OTLP exporter format)."""
    from urllib.parse import unquote  # only paid for when the variable is set

    pairs = []
    for part in raw.split(","):
        key, sep, value = part.partition("=")
        if not part.strip():
            continue
        if not sep or not key.strip():
            raise ConfigError("expected a comma list of key=value")
        pairs.append((unquote(key.strip()).lower(), unquote(value.strip())))
    return tuple(pairs)


def _regexes(raw: str) -> tuple[str, ...]:
    import re  # only paid for when the variable is set

    patterns = tuple(part.strip() for part in raw.split(",") if part.strip())
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{pattern!r} is not a regular expression ({exc})") from None
    return patterns


def _scrub_patterns(raw: str) -> tuple[str, ...]:
    """Like ``_regexes``, but a bad pattern costs only itself: the others still mask."""
    import re

    patterns, errors = [], []
    for pattern in _tokens(raw):
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(f"{pattern!r} is not a regular expression ({exc})")
        else:
            patterns.append(pattern)
    if errors:
        error = ConfigError("; ".join(errors))
        error.usable = tuple(patterns)
        raise error
    return tuple(patterns)


def _callback_path(raw: str) -> str | None:
    value = raw.strip()
    module, colon, function = value.partition(":")
    if not value:
        return None
    if not (colon and module.strip() and function.strip()):
        raise ConfigError("expected module:function")
    return value


class Setting:
    """One configuration variable: the README table and ``--help`` are generated from these."""

    __slots__ = ("default", "doc", "env", "field", "parse", "shown_default")

    def __init__(
        self,
        field: str,
        env: str,
        parse: Callable[[str], object],
        default: object,
        doc: str,
        shown_default: str | None = None,
    ) -> None:
        self.field = field
        self.env = env
        self.parse = parse
        self.default = default
        self.doc = doc
        self.shown_default = shown_default if shown_default is not None else _show(default)


def _show(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value) or "none"
    return str(value)


_DERIVED = object()  # default computed from other settings in Config.__init__

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "enabled",
        "LLMTRACE_ENABLED",
        _bool,
        True,
        "Master switch: `false` patches nothing and exports nothing "
        "(so does `OTEL_SDK_DISABLED=true`).",
    ),
    Setting(
        "exporters",
        "LLMTRACE_EXPORTER",
        _exporters,
        _DERIVED,
        "Comma list of `otlp`, `console`, `file`, `none`.",
        "`otlp` if an OTLP endpoint is set, else `console`",
    ),
    Setting(
        "file_path",
        "LLMTRACE_FILE",
        _text,
        "llmtrace-traces.jsonl",
        "Path the `file` exporter appends OTLP/JSON lines to.",
    ),
    Setting(
        "capture_content",
        "LLMTRACE_CAPTURE_CONTENT",
        _bool,
        False,
        "Record prompt and completion text, tool arguments and results.",
    ),
    Setting(
        "genai_latest",
        "OTEL_SEMCONV_STABILITY_OPT_IN",
        _genai_latest,
        False,
        "`gen_ai_latest_experimental` (in the comma list) emits the GenAI conventions' newest, "
        "unreleased names instead of v1.41's (see `docs/conventions.md`).",
        "v1.41 names",
    ),
    Setting(
        "content_max_length",
        "LLMTRACE_CONTENT_MAX_LENGTH",
        _positive_int,
        16384,
        "Longest captured text, in characters, before it is truncated.",
    ),
    Setting(
        "scrub",
        "LLMTRACE_SCRUB",
        _bool,
        True,
        "Mask credentials (API keys, tokens, passwords, URL secrets, private keys) in everything "
        "exported, leaving a `[REDACTED:kind]` marker; `false` exports values as recorded.",
    ),
    Setting(
        "scrub_pii",
        "LLMTRACE_SCRUB_PII",
        _bool,
        False,
        "Also mask personal data: e-mail addresses, phone numbers, payment cards, IBANs, "
        "national id numbers.",
    ),
    Setting(
        "scrub_patterns",
        "LLMTRACE_SCRUB_PATTERNS",
        _scrub_patterns,
        (),
        "Comma list of regular expressions whose matches are masked too (only the first group, "
        "if the pattern has one).",
    ),
    Setting(
        "scrub_callback",
        "LLMTRACE_SCRUB_CALLBACK",
        _callback_path,
        None,
        "`module:function` called as `function(key, value)` with every exported string after "
        "the built-in masking; returns the string to export (None: unchanged). "
        "`start(scrub=function)` does the same.",
    ),
    Setting(
        "instrumentors",
        "LLMTRACE_INSTRUMENTORS",
        _names,
        None,
        "Comma list of the only instrumentors to enable.",
        "all",
    ),
    Setting(
        "disabled_instrumentors",
        "LLMTRACE_DISABLED_INSTRUMENTORS",
        _names,
        (),
        "Comma list of instrumentors never to enable.",
    ),
    Setting(
        "openai_agents_export",
        "LLMTRACE_OPENAI_AGENTS_EXPORT",
        _bool,
        True,
        "Keep the OpenAI Agents SDK's own upload of its traces to OpenAI (false: only our spans).",
    ),
    Setting(
        "http_under_llm",
        "LLMTRACE_HTTP_UNDER_LLM",
        _http_under_llm,
        "retries",
        "HTTP spans under an LLM span: `retries` (only when the model call made more than one "
        "attempt or a request failed), `always` (`true`), `never` (`false`). The LLM span's "
        "context is propagated either way.",
    ),
    Setting(
        "http_exclude_urls",
        "LLMTRACE_HTTP_EXCLUDE_URLS",
        _regexes,
        (),
        "Comma list of regular expressions; HTTP requests whose URL matches one are not traced.",
    ),
    Setting(
        "http_known_methods",
        "OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS",
        _tokens,
        None,
        "Comma list of the HTTP methods spans name as they are (case-sensitive); "
        "others are recorded as `_OTHER`.",
        "the RFC 9110 methods, PATCH and QUERY",
    ),
    Setting(
        "server_exclude_urls",
        "LLMTRACE_SERVER_EXCLUDE_URLS",
        _regexes,
        (),
        "Comma list of regular expressions; incoming requests whose URL (`scheme://host/path`) "
        "matches one get no server span (health checks, metrics scrapes).",
    ),
    Setting(
        "otel_excluded_urls",
        "OTEL_PYTHON_EXCLUDED_URLS",
        _regexes,
        (),
        "OpenTelemetry's name for the same list; both apply.",
    ),
    Setting(
        "server_capture_query",
        "LLMTRACE_SERVER_CAPTURE_QUERY",
        _bool,
        False,
        "Record an incoming request's query string as `url.query` (signed-URL and API-key "
        "values redacted).",
    ),
    Setting(
        "server_request_headers",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST",
        _names,
        (),
        "Comma list of incoming request headers to record as `http.request.header.<name>` "
        "(credentials and cookies never are).",
    ),
    Setting(
        "server_response_headers",
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_RESPONSE",
        _names,
        (),
        "Comma list of response headers to record as `http.response.header.<name>`.",
    ),
    Setting(
        "config_file",
        "LLMTRACE_CONFIG",
        _text,
        None,
        "TOML file declaring functions of your own code to trace.",
    ),
    Setting(
        "propagate_attributes",
        "LLMTRACE_PROPAGATE_ATTRIBUTES",
        _bool,
        False,
        "Also send the session, user and scalar extra values of `attributes()` blocks to "
        "downstream services as W3C `baggage` on outgoing HTTP requests.",
    ),
    Setting(
        "shutdown_timeout",
        "LLMTRACE_SHUTDOWN_TIMEOUT",
        _seconds,
        2.0,
        "Seconds the process may spend flushing spans at exit.",
    ),
    Setting(
        "spool_dir",
        "LLMTRACE_SPOOL_DIR",
        _text,
        None,
        "Folder where spans the collector did not take are kept (OTLP protobuf files only "
        "you can read) until the next traced process, started with the same folder, sends them.",
    ),
    Setting(
        "spool_max_mb",
        "LLMTRACE_SPOOL_MAX_MB",
        _positive_int,
        100,
        "Most megabytes the spool folder holds; beyond that the oldest files are dropped, counted.",
    ),
    Setting(
        "debug",
        "LLMTRACE_DEBUG",
        _bool,
        False,
        "Verbose agent logging and full tracebacks on stderr.",
    ),
    Setting(
        "raise_internal_errors",
        "LLMTRACE_RAISE_INTERNAL_ERRORS",
        _bool,
        False,
        "Re-raise the agent's own errors instead of logging them (for the agent's tests).",
    ),
    Setting(
        "service_name",
        "OTEL_SERVICE_NAME",
        _text,
        None,
        "`service.name` of the resource (`OTEL_RESOURCE_ATTRIBUTES` is honoured too).",
    ),
    Setting(
        "otlp_endpoint",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        _text,
        None,
        "Base URL of the OTLP receiver; `/v1/traces` and `/v1/metrics` are appended for HTTP.",
    ),
    Setting(
        "otlp_traces_endpoint",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        _text,
        None,
        "Full URL for traces, used as is.",
    ),
    Setting(
        "otlp_metrics_endpoint",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        _text,
        None,
        "Full URL for metrics, used as is.",
    ),
    Setting(
        "otlp_headers",
        "OTEL_EXPORTER_OTLP_HEADERS",
        _headers,
        (),
        "Comma list of `key=value` headers for OTLP requests (`OTEL_EXPORTER_OTLP_TRACES_HEADERS` "
        "wins for traces); the exporters read them, and the spool's sender uses them.",
        "none",
    ),
    Setting(
        "otlp_protocol",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        _choice(*OTLP_PROTOCOLS),
        "http/protobuf",
        "`http/protobuf` or `grpc`.",
    ),
    Setting(
        "metrics_exporter",
        "OTEL_METRICS_EXPORTER",
        _choice(*METRICS_EXPORTERS),
        _DERIVED,
        "`otlp`, `console` or `none` for the GenAI metrics.",
        "`otlp` when traces go over OTLP, else `none`",
    ),
    Setting(
        "sampler",
        "OTEL_TRACES_SAMPLER",
        _choice(*SAMPLERS),
        "parentbased_always_on",
        "Sampler name, as in the OpenTelemetry specification.",
    ),
    Setting(
        "sampler_arg",
        "OTEL_TRACES_SAMPLER_ARG",
        _ratio,
        1.0,
        "Ratio for the `traceidratio` samplers.",
    ),
    Setting(
        "bsp_schedule_delay_ms",
        "OTEL_BSP_SCHEDULE_DELAY",
        _positive_int,
        1000,
        "Milliseconds between batch exports.",
    ),
    Setting(
        "bsp_max_queue_size",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        _positive_int,
        8192,
        "Spans buffered before new ones are dropped.",
    ),
    Setting(
        "bsp_max_export_batch_size",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        _positive_int,
        512,
        "Spans per export request.",
    ),
    Setting(
        "bsp_export_timeout_ms",
        "OTEL_BSP_EXPORT_TIMEOUT",
        _positive_int,
        10000,
        "Milliseconds one export may take.",
    ),
)
_BY_FIELD = {setting.field: setting for setting in SETTINGS}
# Signal-specific OTel variables that win over the generic one they refine.
_REFINED_BY = {
    "otlp_protocol": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "otlp_headers": "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
}
_SECRET_FIELDS = frozenset(("otlp_headers",))  # values never printed (API keys)


class Config:
    """The agent's settings; build with ``Config.from_env``. Immutable: use ``replace``."""

    __slots__ = (*_BY_FIELD, "warnings")

    enabled: bool
    exporters: tuple[str, ...]
    file_path: str
    capture_content: bool
    genai_latest: bool
    content_max_length: int
    scrub: bool
    scrub_pii: bool
    scrub_patterns: tuple[str, ...]
    scrub_callback: object
    instrumentors: tuple[str, ...] | None
    disabled_instrumentors: tuple[str, ...]
    openai_agents_export: bool
    http_under_llm: str
    http_exclude_urls: tuple[str, ...]
    http_known_methods: tuple[str, ...] | None
    server_exclude_urls: tuple[str, ...]
    otel_excluded_urls: tuple[str, ...]
    server_capture_query: bool
    server_request_headers: tuple[str, ...]
    server_response_headers: tuple[str, ...]
    config_file: str | None
    propagate_attributes: bool
    shutdown_timeout: float
    spool_dir: str | None
    spool_max_mb: int
    debug: bool
    raise_internal_errors: bool
    service_name: str | None
    otlp_endpoint: str | None
    otlp_traces_endpoint: str | None
    otlp_metrics_endpoint: str | None
    otlp_headers: tuple[tuple[str, str], ...]
    otlp_protocol: str
    metrics_exporter: str
    sampler: str
    sampler_arg: float
    bsp_schedule_delay_ms: int
    bsp_max_queue_size: int
    bsp_max_export_batch_size: int
    bsp_export_timeout_ms: int
    warnings: tuple[str, ...]

    def __init__(self, values: Mapping[str, object], warnings: tuple[str, ...] = ()) -> None:
        for setting in SETTINGS:
            object.__setattr__(self, setting.field, values.get(setting.field, setting.default))
        object.__setattr__(self, "warnings", warnings)
        if self.exporters is _DERIVED:
            has_endpoint = self.otlp_endpoint or self.otlp_traces_endpoint
            object.__setattr__(self, "exporters", ("otlp",) if has_endpoint else ("console",))
        if self.metrics_exporter is _DERIVED:
            object.__setattr__(
                self, "metrics_exporter", "otlp" if "otlp" in self.exporters else "none"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
        """Parse ``environ`` (default ``os.environ``), then apply keyword overrides.

        Invalid values never raise: each becomes one warning naming the variable and the value
        used instead, collected in ``config.warnings`` for the agent to print once.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        invalid: list[_Invalid] = []
        for setting in SETTINGS:
            name = _REFINED_BY.get(setting.field)
            if not (name and env.get(name)):
                name = setting.env
            raw = env.get(name)
            if raw is not None:
                _parse_into(values, invalid, setting, name, raw)
        if "OTEL_SDK_DISABLED" in env:
            try:
                if _bool(env["OTEL_SDK_DISABLED"]):
                    values["enabled"] = False
            except ConfigError as exc:
                invalid.append(("OTEL_SDK_DISABLED", env["OTEL_SDK_DISABLED"], str(exc), None))
        unknown = []
        for field, value in overrides.items():
            setting = _BY_FIELD.get(field)
            if setting is None:
                unknown.append(f"unknown setting {field}={value!r} ignored")
            elif isinstance(value, str):
                _parse_into(values, invalid, setting, field, value)
            elif isinstance(value, bool) and isinstance(setting.default, str):
                _parse_into(values, invalid, setting, field, str(value).lower())
            else:
                values[field] = tuple(value) if isinstance(value, list) else value
        config = cls(values)
        # Named after parsing everything: a derived default depends on the other settings.
        warnings = [
            f"{name}={raw!r} is invalid ({why}); "
            f"using {_show(getattr(config, field)) if field else 'false'!r}"
            for name, raw, why, field in invalid
        ]
        object.__setattr__(config, "warnings", (*warnings, *unknown))
        return config

    def replace(self, **changes: object) -> Config:
        """A copy with some settings changed (already-typed values)."""
        values = {setting.field: getattr(self, setting.field) for setting in SETTINGS}
        values.update(changes)
        return Config(values, self.warnings)

    def instrumentor_enabled(self, name: str) -> bool:
        """Whether the allow and deny lists let instrumentor ``name`` run."""
        name = name.lower()
        if name in self.disabled_instrumentors:
            return False
        return self.instrumentors is None or name in self.instrumentors

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Config is immutable; use Config.replace()")

    def _shown(self, field: str) -> str:
        value = getattr(self, field)
        if field in _SECRET_FIELDS:  # header names only: their values are often API keys
            return "(" + ", ".join(f"{key}=***" for key, _ in value) + ")"
        return repr(value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{s.field}={self._shown(s.field)}" for s in SETTINGS)
        return f"Config({fields})"


def _parse_into(
    values: dict[str, object], invalid: list[_Invalid], setting: Setting, name: str, raw: str
) -> None:
    try:
        values[setting.field] = setting.parse(raw)
    except ConfigError as exc:
        if exc.usable is not None:
            values[setting.field] = exc.usable
        invalid.append((name, raw, str(exc), setting.field))


_INHERITED_PREFIXES = ("LLMTRACE_", "OTEL_")


def traced_child_environment() -> dict[str, str]:
    """The variables a child process needs to be traced like this one: the launcher's bootstrap
    directory as its PYTHONPATH, and the agent's and OpenTelemetry's settings.

    For libraries that start processes with a scrubbed environment (an MCP client's stdio
    server), which would otherwise run untraced. Empty when this process was not started
    through the bootstrap (``llmtrace_agent.start()`` in code): there is nothing to hand on.
    """
    bootstrap_dirs = getattr(sys, "_llmtrace_bootstrap_dirs", None)
    if not bootstrap_dirs:
        return {}
    env = {key: value for key, value in os.environ.items() if key.startswith(_INHERITED_PREFIXES)}
    env["PYTHONPATH"] = os.pathsep.join(bootstrap_dirs)
    return env


def markdown_table() -> str:
    """The configuration table the README shows (a test keeps the two identical)."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for setting in SETTINGS:
        rows.append(f"| `{setting.env}` | {setting.doc} | {setting.shown_default} |")
    return "\n".join(rows)
