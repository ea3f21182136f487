"""Scrubbing: credentials (always) and personal data (on request) masked in everything exported.

Whatever the application hands to a traced library can end up in a span: a password in a URL, an
API key quoted by an exception, a customer's card number in a prompt. The exporters below the
span queue see every span, event, resource and metric point the process exports, whoever made
it, so the scrubber sits there (``ScrubbingSpanExporter`` / ``ScrubbingMetricExporter``), off the
application's call path, and replaces only the secret part of a value with a visible marker
(``[REDACTED:aws-access-key]``): the rest of a prompt or URL stays readable.

Three kinds of rule, all in one pass over a string per regular expression:

- **Key names**: an attribute whose name says credential (``password``, ``api_key``,
  ``authorization``…; not an identifier's ``….id``) has its whole string value masked;
  ``name=value`` and ``"name": "value"`` pairs inside text have their value masked, as have the
  sensitive query parameters of a URL (``toolkit.http_spans.SENSITIVE_QUERY_PARAMETERS``, which
  ``url.full`` already redacts) and the password of a URL's user-info.
- **Secret formats**, anywhere in a string: OpenAI, Anthropic, Google, GitHub, Slack, Stripe and
  Hugging Face keys, AWS access key ids (and secret keys next to them), JWTs, ``Bearer``/``Basic``
  credentials, PEM private-key blocks.
- **Personal data** (``LLMTRACE_SCRUB_PII``): e-mail addresses, phone numbers, payment cards
  (Luhn-checked), IBANs (mod-97-checked), US SSNs and UK National Insurance numbers.

Bounded: every pattern's repetitions are capped, and a string longer than ``MAX_SCANNED_CHARS``
is cut there (with ``TRUNCATION_MARK``): nothing unscanned is ever exported. Never raises: a
value the scrubber fails on is exported as ``[REDACTED:scrub-error]``, never as it was.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import replace

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, Status

from llmtrace_agent._runtime import agent_state, log
from llmtrace_agent.toolkit.http_spans import (
    OAUTH_CODE_PARAMETER,
    REDACTED,
    SENSITIVE_QUERY_PARAMETERS,
    is_oauth_callback,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from opentelemetry.sdk.metrics.export import MetricsData

    from llmtrace_agent._runtime.config import Config

    ScrubCallback = Callable[[str, str], "str | None"]

MAX_SCANNED_CHARS = 262_144
"""Longest string scanned; the rest is cut. Scanning prose costs ~3-5 ns a character, a value
built to hit every pattern ~0.4 µs (``bench/scrub.py``, the pathological-megabyte test)."""
TRUNCATION_MARK = "…[TRUNCATED:scrub-limit]"
ERROR_MARK = "[REDACTED:scrub-error]"
SPAN_NAME_KEY = "span.name"
"""The key the callback sees for a span's name (and ``span.status`` for its status message)."""
SPAN_STATUS_KEY = "span.status"

# --- the rules --------------------------------------------------------------------------------
# Every pattern starts with a literal or a narrow class (Python's ``re`` then skips most of a
# text quickly) and caps each repetition, so a pass is linear in the text; a rule whose trigger
# (a character or word it cannot match without) is absent from the text is not run at all.

# Words that make a key name a credential's. "auth", "authorization" but not "author"; "token" but
# not the "tokens" / "token.type" / "token.modality" / "token_count" of usage figures.
# Lowercase: matched on the lowered text.
_KEY_WORDS = (
    "passw(?:or)?d|passphrase|secret|api[-_. ]?key|apikey|private[-_. ]?key|access[-_. ]?key"
    "|authori[sz]|auth(?!or)|credential|cookie|session|csrf|xsrf|jwt|signature"
    "|token(?!s|iz|[-_. ]?(?:count|type|modality|usage|limit))"
)
_KEY_NAME = re.compile(_KEY_WORDS)
_KEY_TRIGGERS = tuple(
    (word, re.compile(word))
    for word in (
        "pass", "secret", "api", "private", "access", "auth", "credential", "cookie", "session",
        "csrf", "xsrf", "jwt", "signature", "token",
    )
)  # fmt: skip
"""What every key word starts with: a pair is looked for only where one of these is."""
_SAFE_KEYS = frozenset(("session.id", "session.previous_id"))
"""Attribute names the key rule leaves alone: conventions' identifiers, not credentials. So is
every name ending in ``.id`` (``mcp.session.id``, the anthropic SDK's ``anthropic.session.id`` and
``anthropic.organization.api_key.id``): the id of a session or key, which its value is still
scanned for secret formats like any other."""
_IDENTIFIER_SUFFIX = ".id"

_B64URL = "[A-Za-z0-9_-]"
# (kind, pattern): each led by a literal, which Python's ``re`` finds at well under a ns a
# character (faster than ``str.find`` for short needles); alternations would cost 20x more.
_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        # PEM private keys: the whole block; a block cut short (clipped content) to its end.
        (
            "private-key",
            r"-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[^-]|-(?!----)){0,32768}(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?",
        ),
        ("jwt", rf"eyJ{_B64URL}{{5,8192}}\.ey{_B64URL}{{5,8192}}\.{_B64URL}{{0,8192}}"),
        ("openai-key", r"sk-[A-Za-z0-9_-]{20,512}"),  # sk-ant-…: anthropic-key
        ("stripe-key", r"sk_(?:live|test)_[A-Za-z0-9]{10,247}"),
        ("stripe-key", r"rk_(?:live|test)_[A-Za-z0-9]{10,247}"),
        ("stripe-key", r"whsec_[A-Za-z0-9+/=]{20,256}"),
        ("aws-access-key", r"A(?:KIA|SIA|BIA|CCA|GPA|IDA|IPA|NPA|NVA|PKA|ROA|SCA)[A-Z0-9]{16}"),
        ("google-api-key", r"AIza[0-9A-Za-z_-]{35}"),
        ("github-token", r"gh[pousr]_[A-Za-z0-9]{36,255}"),
        ("github-token", r"github_pat_[A-Za-z0-9_]{22,255}"),
        ("slack-token", r"xox[abposre]-[A-Za-z0-9-]{10,250}"),
        ("slack-token", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,200}"),
        ("huggingface-token", r"hf_[A-Za-z0-9]{30,64}"),
    )
)
# Formats whose end is fixed: a longer run of the same characters is some other identifier.
_FIXED_LENGTH = frozenset(("aws-access-key", "google-api-key", "huggingface-token", "stripe-key"))
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")
_AWS_WORD, _SECRET_WORD = re.compile("aws"), re.compile("secret")  # the context AWS secrets need
_AUTHORIZATION_TRIGGER = re.compile("b(?:earer|asic)")
_AUTHORIZATION = re.compile(r"(?:bearer|basic)\s{1,3}([a-z0-9._~+/=-]{8,8192})")
_USERINFO = re.compile(r"://([^\s/?#@\"'<>]{1,512})@")
_QUERY = re.compile(r"[?&;]([A-Za-z0-9_.\-]{1,64})=([^&#\s\"'<>]{1,2048})")
_QUOTED = r"""\\?"([^"\\\n]{1,512})\\?"|\\?'([^'\\\n]{1,512})\\?'"""
# name=value (a query string, a log line, keyword arguments), "name": "value" (JSON, a dict's
# repr, JSON escaped inside JSON). Only the value is masked, so the match starts at the key word.
_PAIR = re.compile(
    rf"(?:{_KEY_WORDS})[\w.-]{{0,40}}(?:\s{{0,3}}=\s{{0,3}}(?:{_QUOTED})|=([^\s\"'\\&,;)}}\]<>]{{1,512}})"
    rf"|[\w .-]{{0,40}}\\?[\"']\s{{0,3}}[:=]\s{{0,3}}(?:{_QUOTED}))"
)

_EMAIL_DOMAIN = re.compile(r"@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")
_EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
_IBAN = re.compile(r"[A-Z][A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?")
_NUMBERS = re.compile(
    "|".join(
        (
            r"(?P<ssn>(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4})",
            # +44 20 7946 0958, (555) 123-4567, 555-123-4567, 020 7946 0958: separators or a "+".
            r"(?P<phone>\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}|\(\d{3}\) ?\d{3}[ .-]\d{4}"
            r"|\d{3}[ .-]\d{3}[ .-]\d{4}|0\d{1,4}(?:[ -]\d{2,4}){2,4})",
            r"(?P<card>\d(?:[ -]?\d){12,18})",
        )
    )
)
_NINO = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]")
_NINO_INVALID_PREFIXES = frozenset(("BG", "GB", "NK", "KN", "TN", "NT", "ZZ"))

CREDENTIAL_MARK = "[REDACTED:credential]"
CUSTOM_MARK = "[REDACTED:custom]"
_MARKS = {
    kind: f"[REDACTED:{kind}]"
    for kind in ("ssn", "phone", "card", *(kind for kind, _ in _FORMATS), "anthropic-key")
}
_MARKS["ssn"] = "[REDACTED:national-id]"
_AWS_SECRET_MARK = "[REDACTED:aws-secret-key]"
_BEARER_MARK = "[REDACTED:bearer]"
_URL_CREDENTIALS_MARK = "[REDACTED:url-credentials]"
_EMAIL_MARK = "[REDACTED:email]"
_IBAN_MARK = "[REDACTED:iban]"
_NATIONAL_ID_MARK = "[REDACTED:national-id]"
_SENSITIVE_QUERY_LOWER = frozenset(name.lower() for name in SENSITIVE_QUERY_PARAMETERS)
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _touches(text: str, start: int, end: int, chars: frozenset[str]) -> bool:
    """Whether the match ``text[start:end]`` continues a run of ``chars`` on either side."""
    return (start > 0 and text[start - 1] in chars) or (end < len(text) and text[end] in chars)


def _already_redacted(value: str) -> bool:
    return value.startswith((REDACTED, "[REDACTED", "[TRUNCATED"))


def _mask_group(text: str, match: re.Match[str], group: int, mark: str) -> str:
    """``match``'s text with only ``group`` replaced by ``mark``."""
    start = match.start()
    return text[start : match.start(group)] + mark + text[match.end(group) : match.end()]


def _is_prose(text: str) -> bool:
    """Lowercase words joined by hyphens: what a random key is with odds of 1 in 10^18."""
    return text.islower() and text.replace("-", "").replace("_", "").isalpha()


def _format_masker(kind: str) -> Callable[[re.Match[str]], str]:
    mark = _MARKS[kind]

    def mask(match: re.Match[str]) -> str:
        text = match.string
        start, end = match.start(), match.end()
        if start > 0 and text[start - 1] in _WORD:  # inside a word: "task-…", "NASA…"
            return match.group()
        if kind in _FIXED_LENGTH and end < len(text) and text[end] in _WORD:
            return match.group()
        if kind == "openai-key":
            if match.group().startswith("sk-ant-"):
                return _MARKS["anthropic-key"]
            body = text[start + 3 : end]
            if _is_prose(body) and not body.startswith(("proj-", "svcacct-", "admin-")):
                return match.group()  # "sk-learn-compatible-…": keys mix case and digits
        return mark

    return mask


_FORMAT_GATES = ("-", "J", "-", "_", "_", "_", "A", "A", "_", "_", "-", "/", "_")
"""A character each format cannot match without, in ``_FORMATS``' order: ``char in text`` is a
``memchr`` (~30 ns for 2 KB), a regular expression's literal search ~20 times that."""
_FORMAT_MASKERS = tuple(
    (gate, pattern, _format_masker(kind))
    for gate, (kind, pattern) in zip(_FORMAT_GATES, _FORMATS, strict=True)
)


def _mask_aws_secret(match: re.Match[str]) -> str:
    # 40 base64 characters are a secret only next to AWS words (the caller checked); alone, a
    # hash or a path. Keys mix case.
    secret = match.group()
    if _touches(match.string, match.start(), match.end(), _BASE64) or secret.islower():
        return secret
    if secret.isupper() or secret.startswith("/"):
        return secret
    return _AWS_SECRET_MARK


def _url_around(text: str, position: int) -> str:
    """The whitespace-delimited word (a URL) around ``position``, at most 4 KiB of it."""
    start = max(0, position - 2048)
    for index in range(position - 1, start - 1, -1):
        if text[index].isspace():
            start = index + 1
            break
    end = min(len(text), position + 2048)
    for index in range(position, end):
        if text[index].isspace():
            end = index
            break
    return text[start:end]


def _mask_query(match: re.Match[str]) -> str:
    name, value = match.group(1).lower(), match.group(2)
    if _already_redacted(value):
        return match.group()
    if name in _SENSITIVE_QUERY_LOWER or _KEY_NAME.search(name) is not None:
        return _mask_group(match.string, match, 2, CREDENTIAL_MARK)
    if name == OAUTH_CODE_PARAMETER and is_oauth_callback(_url_around(match.string, match.start())):
        return _mask_group(match.string, match, 2, CREDENTIAL_MARK)
    return match.group()


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _mask_emails(text: str) -> str:
    """Found from their "@" (a literal: fast), the local part read back from it."""
    pieces: list[str] = []
    done = 0
    for match in _EMAIL_DOMAIN.finditer(text):
        at, end = match.start(), match.end()
        start = at
        while start > max(done, at - 64) and text[start - 1] in _EMAIL_LOCAL:
            start -= 1
        if start == at or (end < len(text) and text[end] in _WORD):
            continue
        pieces.append(text[done:start])
        pieces.append(_EMAIL_MARK)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_iban(match: re.Match[str]) -> str:
    text = match.group()
    if _touches(match.string, match.start(), match.end(), _WORD) or not _iban_valid(text):
        return text
    return _IBAN_MARK


def _mask_nino(match: re.Match[str]) -> str:
    text = match.group()
    if _touches(match.string, match.start(), match.end(), _WORD):
        return text
    if text[:2] in _NINO_INVALID_PREFIXES:
        return text
    return _NATIONAL_ID_MARK


_NUMBER_BEFORE = _WORD | frozenset("+-./")


def _inside_number(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is part of a longer number, a version, an id or a date."""
    if start > 0 and text[start - 1] in _NUMBER_BEFORE:
        return True
    if end < len(text):
        after = text[end]
        if after in _WORD:
            return True
        if after in "-./" and end + 1 < len(text) and text[end + 1].isdigit():
            return True
    return False


def _mask_numbers(match: re.Match[str]) -> str:
    text = match.group()
    if _inside_number(match.string, match.start(), match.end()):
        return text
    kind = match.lastgroup or ""
    if kind == "card":
        digits = text.replace(" ", "").replace("-", "")
        if not (13 <= len(digits) <= 19 and _luhn(digits)):
            return text  # an order id, a timestamp
    elif kind == "phone" and not 9 <= sum(char.isdigit() for char in text) <= 15:
        return text
    return _MARKS[kind]


def _not_a_token(value: str) -> bool:
    """ "Bearer authentication" is prose: tokens carry digits or punctuation."""
    return value.isalpha() or _already_redacted(value)


def _mask_custom(match: re.Match[str]) -> str:
    # A pattern with a group masks that group only (``customer=(\d+)`` keeps "customer=").
    if not match.re.groups or match.start(1) < 0:
        return CUSTOM_MARK
    return _mask_group(match.string, match, 1, CUSTOM_MARK)


def _mask_lowered(
    text: str,
    lowered: str,
    pattern: re.Pattern[str],
    mark: str,
    keep: Callable[[str], bool] = _already_redacted,
) -> str:
    """Mask, in ``text``, the matched group of each match of ``pattern`` in ``lowered``, unless
    ``keep`` says that value is not a secret.

    Case-insensitive matching at the cost of a case-sensitive one (a tenth of it, for words).
    """
    pieces: list[str] = []
    done = 0
    for match in pattern.finditer(lowered):
        group = match.lastindex
        if group is None:
            continue
        start, end = match.start(group), match.end(group)
        if keep(text[start:end]):
            continue
        pieces.append(text[done:start])
        pieces.append(mark)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_pairs(text: str, lowered: str | None = None) -> str:
    """``name=value`` and ``"name": "value"`` pairs whose name says credential: value masked.

    Looked for only where a key word starts (a literal search: fast) close enough before a "="
    or ":", then matched from there. ``lowered``: ``text`` lowercased, if the caller has it.
    """
    if lowered is None:
        lowered = _lower(text)
    values: list[tuple[int, int]] = []
    for start in _key_word_starts(lowered):
        match = _PAIR.match(lowered, start)
        if match is not None and match.lastindex is not None:
            values.append(match.span(match.lastindex))
    if not values:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in sorted(values):
        if start < done or _already_redacted(text[start:end]):
            continue
        pieces.append(text[done:start])
        pieces.append(CREDENTIAL_MARK)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _lower(text: str) -> str:
    """``text`` lowercased, one character for one (indexes stay valid)."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few Unicode letters lower to two characters
        lowered = "".join(char.lower()[:1] for char in text)
    return lowered


_PAIR_REACH = 100
"""How far before its "=" or ":" a pair's key word can start: the longest key word (11), its
suffix (40), the spaces, dots and hyphens up to a quote (40), the quote and the spaces (5)."""
_MAX_SEPARATORS = 64  # past this many "=" or ":", the whole text is searched
_WINDOW_VERDICTS: dict[str, bool] = {}
"""Whether a stretch before separators holds a trigger, by its text: the same JSON keys and
log prefixes come back in every span. Bounded (cleared when full); a lost entry is recomputed."""
_WINDOW_VERDICTS_SIZE = 1024
_WINDOW_CACHED_LENGTH = 512


def _key_word_starts(lowered: str) -> set[int]:
    """Where in ``lowered`` a key word can start a pair: the triggers in the ``_PAIR_REACH``
    characters before each "=" or ":" (found by ``str.find``: fast), or anywhere in a text with
    more than ``_MAX_SEPARATORS`` of either."""
    starts: set[int] = set()
    reach = _PAIR_REACH
    for separator in "=:":
        end = lowered.find(separator)
        if end < 0:
            continue
        start = end - reach if end > reach else 0
        remaining = _MAX_SEPARATORS
        while remaining:
            remaining -= 1
            position = lowered.find(separator, end + 1)
            if 0 <= position <= end + reach:
                end = position  # windows that touch are searched as one
                continue
            _add_key_word_starts(lowered, start, end, starts)
            if position < 0:
                break
            start, end = position - reach, position
        else:  # separators everywhere: look everywhere (bounded by the text's length)
            _add_key_word_starts(lowered, 0, len(lowered), starts)
            return starts
    return starts


def _add_key_word_starts(lowered: str, start: int, end: int, starts: set[int]) -> None:
    window = lowered[start:end]
    verdict = _WINDOW_VERDICTS.get(window)
    if verdict is None:
        verdict = any(word in window for word, _ in _KEY_TRIGGERS)
        if len(window) <= _WINDOW_CACHED_LENGTH:
            if len(_WINDOW_VERDICTS) >= _WINDOW_VERDICTS_SIZE:
                _WINDOW_VERDICTS.clear()
            _WINDOW_VERDICTS[window] = verdict
    if verdict:
        for _word, trigger in _KEY_TRIGGERS:
            starts.update(found.start() for found in trigger.finditer(lowered, start, end))


def scrub_text(text: str, pii: bool = False) -> str:
    """``text`` with every credential (and with ``pii``, personal data) masked; may raise."""
    if len(text) > MAX_SCANNED_CHARS:
        return _scrub(text[:MAX_SCANNED_CHARS], pii) + TRUNCATION_MARK
    return _scrub(text, pii)


_SHORTEST_SECRET = 20  # no format is shorter; "Basic …", "pw=…", ":…@" are, with their marks


def _scrub(text: str, pii: bool) -> str:
    if len(text) < _SHORTEST_SECRET and not (
        "=" in text or ":" in text or "@" in text or " " in text or "\t" in text or "\n" in text
    ):
        # Hot path: most attribute values (names, models, hosts, ids) are short and plain.
        return _scrub_personal(text) if pii else text
    if "-" in text or "_" in text or "A" in text or "J" in text or "/" in text:
        for gate, pattern, mask in _FORMAT_MASKERS:
            if gate in text:
                text = pattern.sub(mask, text)
    lowered_text = text
    lowered = _lower(text)
    if _AUTHORIZATION_TRIGGER.search(lowered) is not None:
        text = _mask_lowered(text, lowered, _AUTHORIZATION, _BEARER_MARK, _not_a_token)
    if "@" in text:
        text = _mask_lowered(text, text, _USERINFO, _URL_CREDENTIALS_MARK)
    if "=" in text and ("?" in text or "&" in text or ";" in text):
        text = _QUERY.sub(_mask_query, text)
    if "=" in text or ":" in text:
        text = _mask_pairs(text, lowered if text is lowered_text else None)
    if _AWS_WORD.search(lowered) is not None or _SECRET_WORD.search(lowered) is not None:
        text = _AWS_SECRET.sub(_mask_aws_secret, text)
    return _scrub_personal(text) if pii else text


_SHAPES = bytes.maketrans(
    b"0123456789 -().ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    b"000000000011222AAAAAAAAAAAAAAAAAAAAAAAAAA",
)
"""An ASCII text's shape for the personal-data formats: a digit is "0", a space or hyphen "1",
"(", ")" or "." "2", a capital "A"; the other bytes stay, none of them one of these."""
_NUMBER_RUN_SHAPE = re.compile(rb"0[012]{7,40}0")
"""``_NUMBER_RUN`` on the shape: led by a literal, so found at a memchr's pace."""
_NUMBER_RUN = re.compile(r"\d[\d ().-]{7,40}\d")
_ADJACENT_DIGITS = re.compile(b"00")
"""Faster than ``b"00" in shape`` (~3x): its search skips from one digit to the next."""
_SPACED_CARD = b"01" * 12 + b"0"
"""13 digits one space or hyphen apart: the only card, phone number, SSN, IBAN or NINO whose
digits are never side by side."""


def _scrub_personal(text: str) -> str:
    if "@" in text:
        text = _mask_emails(text)
    if not text.isascii():  # ``\d`` matches other scripts' digits too: no shape
        text = _IBAN.sub(_mask_iban, text)
        text = _NINO.sub(_mask_nino, text)
        return _mask_number_runs(text, _NUMBER_RUN.finditer(text))
    # The shape tells, in a translate and a few ``in`` (~1 ns a character), which formats can
    # be there at all; most prose has no two digits side by side.
    # A mark only replaces a match and touches no digit, so the shape still tells what can be
    # left after it; the runs' positions need the shape of the text as it now is.
    shaped = text
    shape = text.encode("ascii").translate(_SHAPES)
    if _ADJACENT_DIGITS.search(shape) is None:  # no IBAN nor NINO, and a card only if spaced
        if _SPACED_CARD not in shape:
            return text
    else:
        if b"AA00" in shape:
            text = _IBAN.sub(_mask_iban, text)
        if b"AA00" in shape or b"AA100" in shape:
            text = _NINO.sub(_mask_nino, text)
    if text is not shaped and text != shaped:
        shape = text.encode("ascii").translate(_SHAPES)
    return _mask_number_runs(text, _NUMBER_RUN_SHAPE.finditer(shape))


def _mask_number_runs(text: str, runs: Iterable[re.Match[str] | re.Match[bytes]]) -> str:
    """``text`` with the cards, SSNs and phone numbers inside each run of digits and separators
    (``runs``: ``_NUMBER_RUN``'s matches, in ``text`` or its shape) masked.

    A run may start with a "+" or "(" just before its first digit (as ``+44…``, ``(555)…``).
    """
    pieces: list[str] = []
    done = 0
    for run in runs:
        start, end = run.span()
        if start > done and text[start - 1] in "+(":
            start -= 1
        candidate = text[start:end]
        if _inside_number(text, start, end):
            continue
        masked = _NUMBERS.sub(_mask_numbers, candidate)
        if masked is candidate or masked == candidate:
            continue
        pieces.append(text[done:start])
        pieces.append(masked)
        done = end
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def compile_patterns(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """The user's extra patterns, compiled (config.py validated them at start-up)."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error:  # not reached: config.py drops them with a warning
            continue
    return tuple(compiled)


def load_callback(spec: object) -> ScrubCallback | None:
    """``module:function`` (LLMTRACE_SCRUB_CALLBACK) or a callable (``start(scrub=...)``)."""
    if spec is None or callable(spec):
        return spec  # type: ignore[return-value]
    import importlib

    module_name, _, attribute = str(spec).partition(":")
    target: object = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{spec} is not callable")
    return target  # type: ignore[return-value]


# --- the scrubber -----------------------------------------------------------------------------

_CACHED_LENGTH = 256  # short values repeat (model names, hosts, operation names): cached
_CACHE_SIZE = 4096


def _items(attributes: Mapping[str, object]) -> Iterable[tuple[str, object]]:
    """``attributes.items()``, from the dict inside the SDK's ``BoundedAttributes`` when it is
    one (its own ``items()`` goes through ``MutableMapping``: a method call per key)."""
    inner = getattr(attributes, "_dict", None)
    if inner.__class__ is dict:
        return inner.items()  # type: ignore[union-attr]
    return attributes.items()


def _has_any(span: ReadableSpan, field: str) -> bool:
    """Whether the SDK span's ``_events`` / ``_links`` (or, on another span, their property)
    holds anything, without copying it."""
    inner = getattr(span, field, None)
    if inner is None:
        inner = getattr(span, field[1:])
    return bool(inner)


def _holds(known: set[object], value: object) -> bool:
    try:
        return value in known
    except TypeError:  # a tuple holding a mapping or a list: not remembered
        return False


def _hold(known: set[object], value: object) -> None:
    with contextlib.suppress(TypeError):  # unhashable: not remembered
        known.add(value)


class Scrubber:
    """Masks secrets (and personal data, with ``pii``) in strings and attribute mappings.

    Every method returns its argument itself when nothing changed, so an unchanged span is not
    copied. None raises.
    """

    def __init__(
        self,
        *,
        pii: bool = False,
        patterns: Sequence[re.Pattern[str]] = (),
        callback: ScrubCallback | None = None,
    ) -> None:
        self.pii = pii
        self.patterns = tuple(patterns)
        self.callback = callback
        self._text_cache: dict[str, str] = {}
        self._key_is_credential: dict[str, bool] = {}
        self._clean_tuples: set[object] = set()
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._callback_failed = False

    def text(self, value: str, key: str = "") -> str:
        """``value`` with every secret masked; ``key`` names the value for the callback."""
        try:
            if self._is_credential_key(key):
                scrubbed = CREDENTIAL_MARK if value and not _already_redacted(value) else value
            elif len(value) <= _CACHED_LENGTH:
                cached = self._text_cache.get(value)
                if cached is None:
                    cached = self._scan(value)
                    if len(self._text_cache) >= _CACHE_SIZE:
                        self._text_cache.clear()
                    self._text_cache[value] = cached
                scrubbed = cached
            else:
                scrubbed = self._scan(value)
        except Exception as exc:  # a bug of ours: fail closed
            log.debug(f"scrubbing {key or 'a value'} failed: {exc!r}")
            return ERROR_MARK
        if self.callback is not None:
            scrubbed = self._call_back(key, scrubbed)
        return scrubbed if scrubbed != value else value

    def value(self, key: str, value: object) -> object:
        """An attribute value scrubbed: strings, and strings inside sequences and mappings."""
        if isinstance(value, str):
            return self.text(value, key)
        if isinstance(value, (bool, int, float, bytes)) or value is None:
            return value
        try:
            if isinstance(value, (tuple, list)):
                items = [self.value(key, item) for item in value]
                if all(new is old for new, old in zip(items, value, strict=True)):
                    return value
                return tuple(items)
            if hasattr(value, "items"):
                scrubbed = self.attributes(value)  # type: ignore[arg-type]
                return value if scrubbed is None else scrubbed
        except Exception as exc:
            log.debug(f"scrubbing {key} failed: {exc!r}")
            return ERROR_MARK
        return value

    def attributes(self, attributes: Mapping[str, object] | None) -> dict[str, object] | None:
        """A scrubbed copy of ``attributes``, or None when nothing needed masking."""
        if not attributes:
            return None
        changed: dict[str, object] | None = None
        cache = self._text_cache if self.callback is None else {}
        clean_tuples = self._clean_tuples if self.callback is None else set()
        plain_keys = self._key_is_credential
        for key, value in _items(attributes):
            # Hot path: numbers, and short strings or tuples already seen clean under a known
            # plain key (the callback, when set, sees every value).
            kind = value.__class__
            if kind is str:
                if (
                    len(value) <= _CACHED_LENGTH  # type: ignore[arg-type]
                    and plain_keys.get(key) is False
                    and cache.get(value) == value  # type: ignore[call-overload]
                ):
                    continue
            elif (
                kind is int
                or kind is float
                or kind is bool
                or (kind is tuple and plain_keys.get(key) is False and _holds(clean_tuples, value))
            ):
                continue
            scrubbed = self.value(key, value)
            if scrubbed is not value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = scrubbed
            elif (
                kind is tuple
                and clean_tuples is self._clean_tuples
                and not self._is_credential_key(key)
            ):
                if len(clean_tuples) >= _CACHE_SIZE:
                    clean_tuples.clear()
                _hold(clean_tuples, value)
        return changed

    def _is_credential_key(self, key: str) -> bool:
        known = self._key_is_credential.get(key)
        if known is None:
            known = (
                key not in _SAFE_KEYS
                and not key.endswith(_IDENTIFIER_SUFFIX)
                and _KEY_NAME.search(key.lower()) is not None
            )
            if len(self._key_is_credential) < _CACHE_SIZE:
                self._key_is_credential[key] = known
        return known

    def _scan(self, value: str) -> str:
        value = scrub_text(value, self.pii)
        for pattern in self.patterns:
            value = pattern.sub(_mask_custom, value)
        return value

    def _call_back(self, key: str, value: str) -> str:
        try:
            result = self.callback(key, value)  # type: ignore[misc]
        except Exception as exc:
            result = exc
        if result is None:
            return value
        if isinstance(result, str):
            return result
        if not self._callback_failed:  # once: the same error would repeat for every value
            self._callback_failed = True
            log.warning(
                f"the scrub callback failed ({result!r}); values it failed on are exported "
                f"as {ERROR_MARK}"
            )
        return ERROR_MARK

    # --- spans, resources, metric points ------------------------------------------------------

    def span(self, span: ReadableSpan) -> ReadableSpan:
        """``span`` itself if nothing in it is secret, else a scrubbed copy."""
        # Hot path (every exported span): a name already seen clean is a dict look-up; the
        # SDK's own containers are read directly (its span.attributes, .events and .links
        # wrap or copy them, a third of the cost of a span without content).
        name = span.name
        if self.callback is not None or self._text_cache.get(name) != name:
            name = self.text(name, SPAN_NAME_KEY)
        attributes = self.attributes(getattr(span, "_attributes", None) or span.attributes)
        events = self._events(span.events) if _has_any(span, "_events") else None
        links = self._links(span.links) if _has_any(span, "_links") else None
        resource = self.resource(span.resource)
        status = span.status
        if status.description:
            description = self.text(status.description, SPAN_STATUS_KEY)
            if description is not status.description:
                status = Status(status.status_code, description)
        if (
            name is span.name
            and attributes is None
            and events is None
            and links is None
            and resource is span.resource
            and status is span.status
        ):
            return span
        return _ScrubbedSpan(
            span,
            name=name,
            attributes=span.attributes if attributes is None else attributes,
            events=span.events if events is None else events,
            links=span.links if links is None else links,
            resource=resource,
            status=status,
        )

    def _events(self, events: Sequence[object]) -> list[object] | None:
        if not events:
            return None
        changed: list[object] | None = None
        for index, event in enumerate(events):
            name = self.text(event.name)  # type: ignore[attr-defined]
            attributes = self.attributes(event.attributes)  # type: ignore[attr-defined]
            if attributes is None and name is event.name:  # type: ignore[attr-defined]
                continue
            if changed is None:
                changed = list(events)
            changed[index] = Event(
                name,
                event.attributes if attributes is None else attributes,  # type: ignore[attr-defined]
                event.timestamp,  # type: ignore[attr-defined]
                limit=None,
            )
        return changed

    def _links(self, links: Sequence[object]) -> list[object] | None:
        if not links:
            return None
        changed: list[object] | None = None
        for index, link in enumerate(links):
            attributes = self.attributes(link.attributes)  # type: ignore[attr-defined]
            if attributes is None:
                continue
            if changed is None:
                changed = list(links)
            changed[index] = Link(link.context, attributes)  # type: ignore[attr-defined]
        return changed

    def resource(self, resource: Resource) -> Resource:
        """The resource scrubbed; computed once per resource object (spans share one)."""
        cached = self._resources.get(id(resource))
        if cached is not None and cached[0] is resource:
            return cached[1]
        attributes = self.attributes(resource.attributes)
        scrubbed = resource if attributes is None else Resource(attributes, resource.schema_url)
        if len(self._resources) >= 64:  # resources are few; a process making many starts over
            self._resources.clear()
        self._resources[id(resource)] = (resource, scrubbed)
        return scrubbed

    def metrics(self, data: MetricsData) -> MetricsData:
        """``data`` with every data point's attributes (and resources) scrubbed."""
        resource_metrics = []
        changed = False
        for resource_metric in data.resource_metrics:
            resource = self.resource(resource_metric.resource)
            scopes = []
            for scope_metric in resource_metric.scope_metrics:
                metrics = []
                for metric in scope_metric.metrics:
                    points = []
                    for point in metric.data.data_points:
                        attributes = self.attributes(point.attributes)
                        if attributes is not None:
                            point = replace(point, attributes=attributes)
                            changed = True
                        points.append(point)
                    metrics.append(replace(metric, data=replace(metric.data, data_points=points)))
                scopes.append(replace(scope_metric, metrics=metrics))
            changed = changed or resource is not resource_metric.resource
            resource_metrics.append(
                replace(resource_metric, resource=resource, scope_metrics=scopes)
            )
        if not changed:
            return data
        return replace(data, resource_metrics=resource_metrics)


class _ScrubbedSpan(ReadableSpan):
    """A finished span's copy with scrubbed values; keeps the original's dropped counts."""

    def __init__(self, original: ReadableSpan, **changes: object) -> None:
        super().__init__(
            context=original.context,
            parent=original.parent,
            kind=original.kind,
            instrumentation_scope=original.instrumentation_scope,
            start_time=original.start_time,
            end_time=original.end_time,
            **changes,  # type: ignore[arg-type]
        )
        self._dropped = (
            original.dropped_attributes,
            original.dropped_events,
            original.dropped_links,
        )

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


# --- the exporters' wrappers ------------------------------------------------------------------


class ActiveScrubber:
    """The scrubber of the active config: built on first use (in the export thread, not at
    start-up), again only if the config is replaced; None while scrubbing is off."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._scrubber: Scrubber | None = None
        self._lock = threading.Lock()

    def get(self) -> Scrubber | None:
        config = agent_state.config
        if config is self._config:
            return self._scrubber
        with self._lock:
            if config is not self._config:
                self._scrubber = _build(config) if config.scrub else None
                self._config = config
            return self._scrubber


def _build(config: Config) -> Scrubber:
    try:
        callback = load_callback(config.scrub_callback)
    except Exception as exc:
        log.warning(
            f"LLMTRACE_SCRUB_CALLBACK={config.scrub_callback!r} cannot be loaded ({exc!r}); "
            "only the built-in scrubbing applies"
        )
        callback = None
    return Scrubber(
        pii=config.scrub_pii, patterns=compile_patterns(config.scrub_patterns), callback=callback
    )


class ScrubbingSpanExporter(SpanExporter):
    """Hands ``exporter`` scrubbed copies of the spans (the same span when nothing changed)."""

    def __init__(self, exporter: SpanExporter, scrubber: ActiveScrubber) -> None:
        self.exporter = exporter
        self._scrubber = scrubber

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        scrubber = self._scrubber.get()
        if scrubber is None:
            return self.exporter.export(spans)
        scrubbed = []
        for span in spans:
            try:
                scrubbed.append(scrubber.span(span))
            except Exception as exc:  # never export what could not be scrubbed
                log.debug(f"span {span.name!r} dropped: scrubbing failed ({exc!r})")
        if not scrubbed:
            return SpanExportResult.SUCCESS
        return self.exporter.export(scrubbed)

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class ScrubbingMetricExporter(MetricExporter):
    """Hands ``exporter`` metric data whose points' attributes are scrubbed."""

    def __init__(self, exporter: MetricExporter, scrubber: ActiveScrubber) -> None:
        super().__init__(
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self.exporter = exporter
        self._scrubber = scrubber

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        scrubber = self._scrubber.get()
        if scrubber is None:
            return self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)
        try:
            scrubbed = scrubber.metrics(metrics_data)
        except Exception as exc:  # never export what could not be scrubbed
            log.debug(f"metrics dropped: scrubbing failed ({exc!r})")
            return MetricExportResult.FAILURE
        return self.exporter.export(scrubbed, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)


def scrubbing(exporter: SpanExporter | MetricExporter) -> SpanExporter | MetricExporter:
    """``exporter`` behind the scrubber (which lets everything through while LLMTRACE_SCRUB is
    off)."""
    if isinstance(exporter, MetricExporter):
        return ScrubbingMetricExporter(exporter, ActiveScrubber())
    return ScrubbingSpanExporter(exporter, ActiveScrubber())
