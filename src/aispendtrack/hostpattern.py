"""Provider hosts by glob pattern (`[providers]` keys such as `"*.openai.azure.com"`): pure.

Rules, chosen so a pattern can never reach past the suffix it names:
- `*` stands for one or more letters, digits or hyphens inside ONE DNS label: it never
  matches a dot, a slash, `@`, a colon or anything outside ASCII. `*.openai.azure.com`
  matches `myres.openai.azure.com`, not `a.b.openai.azure.com`, `openai.azure.com`,
  `openai.azure.com.evil.com` or `evil.com/x.openai.azure.com`.
- A pattern is a host name (labels of `a-z`, `0-9`, `-`, with `*` inside labels) and an
  optional `:port`. A wildcard label must be followed by at least two plain labels, so no
  pattern covers a whole top-level domain (`*.com`, `foo.*`).
- Matching is on the host alone (the port only when the pattern names one), case-
  insensitive, one trailing dot ignored; a host that is not ASCII never matches.
"""

from __future__ import annotations

import re
from functools import lru_cache

WILDCARD = "*"
_LABEL = re.compile(r"[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?")
_ONE_LABEL = "[a-z0-9-]+"  # what `*` stands for


def is_pattern(key: str) -> bool:
    return WILDCARD in key


def _split(pattern: str) -> tuple[str, str | None]:
    name, sep, port = pattern.rpartition(":")
    if sep and port.isdigit():
        return name, port
    return pattern, None


def check_pattern(pattern: str) -> str:
    """The pattern in canonical form (lower case, no trailing dot); ValueError saying what is wrong."""
    text = pattern.strip().lower()
    name, port = _split(text)
    name = name.rstrip(".")
    problem = None
    if port is not None and not 0 < int(port) < 65536:
        problem = "the port must be 1 to 65535"
    elif WILDCARD not in name:
        problem = "no * in it (an exact host is written as it is)"
    elif "**" in name:
        problem = "write one * per label"
    elif not name.isascii() or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        problem = "use host-name labels (a-z, 0-9, -) with * inside a label, e.g. *.openai.azure.com"
    else:
        labels = name.split(".")
        last_wild = max(i for i, label in enumerate(labels) if WILDCARD in label)
        if len(labels) - last_wild - 1 < 2:
            problem = "a * must be followed by at least two plain labels (e.g. *.example.com, not *.com)"
    if problem:
        raise ValueError(f"host pattern {pattern!r}: {problem}")
    return f"{name}:{port}" if port else name


@lru_cache(maxsize=256)
def _name_regex(name: str) -> re.Pattern[str]:
    return re.compile("".join(_ONE_LABEL if part == WILDCARD else re.escape(part)
                              for part in re.split(r"(\*)", name)))


def matches(pattern: str, host: str, port: int | None = None) -> bool:
    """Whether `host` (no port; `port` separately) is covered by the canonical `pattern`."""
    name, want_port = _split(pattern)
    if want_port is not None and (port is None or int(want_port) != port):
        return False
    host = host[:-1] if host.endswith(".") else host
    if not host.isascii():
        return False  # before lower(): "\u212a".lower() is "k"
    return _name_regex(name).fullmatch(host.lower()) is not None


def allow_hosts_regex(pattern: str) -> str:
    """The mitmproxy `allow_hosts` regex for a canonical pattern: matched (case-insensitively,
    by mitmproxy) against "host:port"; `(?a)` keeps that case folding to ASCII."""
    name, port = _split(pattern)
    return f"(?a)^{_name_regex(name).pattern}\\.?:{port or r'\d+'}$"


def lookup(table: dict[str, str], host: str, port: int) -> str | None:
    """The value of the first pattern key of `table` that covers host:port, patterns with a
    port first, then the longest (most specific) first."""
    for pattern in ordered_patterns(tuple(table)):
        if matches(pattern, host, port):
            return table[pattern]
    return None


@lru_cache(maxsize=64)
def ordered_patterns(keys: tuple[str, ...]) -> tuple[str, ...]:
    found = [k for k in keys if is_pattern(k)]
    return tuple(sorted(found, key=lambda k: (_split(k)[1] is None, -len(k), k)))
