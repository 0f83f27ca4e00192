"""The registry's types: an API family, an error format, and the registry that orders them.

A family is one wire format at one kind of path (OpenAI chat, Anthropic messages, Bedrock
Converse, …): how its path looks, which provider defines it, how it spells errors, how a
request names its model and its output bound, how its usage is read and how it streams.
The machinery that uses this (the proxy's hooks, the stream meter, the decoder) stays in
`proxy` and `meter`; it asks the registry instead of keeping tables of its own. Nothing
here imports the rest of the package, so any module may consult the registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PathModel:
    model: str | None = None  # the model the path routes to
    problem: str | None = None  # why the path cannot be read as one model: answered 400


# (path without query, query) → the model the path routes to, or None when not this family's path
PathModelReader = Callable[[str, str], PathModel | None]
# a JSON request body → the max-output-token values it sets (any type; non-integers are ignored)
MaxTokensReader = Callable[[dict], Iterable[Any]]
# a parsed response object (a body, a stream event) and the provider id → a `meter.Metered`, or
# None when the object carries no usage; the call is complete once one is returned
UsageParser = Callable[[dict, str], Any]


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # the API id recorded in the ledger's `api` column
    paths: tuple[re.Pattern[str], ...]  # searched in the path (without the query)
    order: int  # precedence among all families' paths: lower is tried first
    provider: str = "openai"  # the provider a path of this shape belongs to when the host names none
    shape: str | None = None  # error format (see ErrorFormat); None: the provider's, else OpenAI's
    # usage dialect of `meter.state.Accumulator` (openai, embeddings, responses, anthropic, gemini,
    # ollama, converse), or a UsageParser of the family's own; None: guessed from each object
    usage: str | UsageParser | None = None
    stream: str = "sse"  # how a buffered stream of this family is framed: sse | ndjson | eventstream
    streams_by_default: bool = False  # a request streams unless its body says "stream": false
    always_streams: bool = False  # the path alone says the response streams
    # a path containing this streams (Gemini's `:streamGenerateContent`): as SSE when the response
    # says text/event-stream (`?alt=sse`), else as one JSON array sent element by element
    stream_marker: str | None = None
    include_usage: bool = False  # OpenAI's stream_options.include_usage applies (inject and strip)
    path_model: PathModelReader | None = None  # a model named by the path or query
    max_tokens: MaxTokensReader | None = None  # the request's output bound, for the budget


@dataclass(frozen=True, slots=True)
class ErrorFormat:
    name: str  # the flow's `shape`
    rank: int  # when a family's format and its provider's differ, the higher rank speaks
    body: Callable[[int, str, str], dict]  # (status, message, code) → the JSON error body
    providers: frozenset[str] = frozenset()  # provider ids that speak it whatever the path
    headers: Callable[[int], dict[str, str]] = field(default=lambda status: {})


@dataclass(frozen=True, slots=True)
class ProviderHint:
    """A path fragment that names the provider when the host names none (Anthropic's batches
    share their sub-paths with OpenAI's)."""

    fragment: str
    provider: str


class Registry:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}
        self._formats: dict[str, ErrorFormat] = {}
        self._hints: list[ProviderHint] = []
        self._hosts: dict[str, str] = {}
        # Derived from the above on every (un)register, so the per-request lookups only read them.
        self._ordered: tuple[Family, ...] = ()
        self._markers: tuple[str, ...] = ()
        self._path_models: tuple[PathModelReader, ...] = ()
        self._max_tokens: tuple[MaxTokensReader, ...] = ()
        self._shapes: dict[tuple[str, str], str] = {}

    def register(self, *items: Family | ErrorFormat | ProviderHint) -> None:
        for item in items:
            if isinstance(item, Family):
                if item.name in self._families:
                    raise ValueError(f"API family {item.name!r} is registered twice")
                self._families[item.name] = item
            elif isinstance(item, ErrorFormat):
                if item.name in self._formats:
                    raise ValueError(f"error format {item.name!r} is registered twice")
                self._formats[item.name] = item
            else:
                self._hints.append(item)
        self._derive()

    def unregister(self, *items: Family | ErrorFormat | ProviderHint) -> None:
        for item in items:
            if isinstance(item, Family):
                self._families.pop(item.name, None)
            elif isinstance(item, ErrorFormat):
                self._formats.pop(item.name, None)
            elif item in self._hints:
                self._hints.remove(item)
        self._derive()

    def _derive(self) -> None:
        ordered = tuple(sorted(self._families.values(), key=lambda f: (f.order, f.name)))
        self._ordered = ordered
        self._markers = tuple(f.stream_marker for f in ordered if f.stream_marker)
        # one call per reader, however many families share it
        self._path_models = tuple(dict.fromkeys(f.path_model for f in ordered if f.path_model))
        self._max_tokens = tuple(dict.fromkeys(f.max_tokens for f in ordered if f.max_tokens))
        self._shapes = {}

    @contextmanager
    def added(self, *items: Family | ErrorFormat | ProviderHint) -> Iterator[None]:
        """`items` registered for the block's duration (tests)."""
        self.register(*items)
        try:
            yield
        finally:
            self.unregister(*items)

    def add_hosts(self, hosts: dict[str, str]) -> None:
        """Default provider hosts (`[providers]` in mitm.toml: exact hosts or `hostpattern`s)."""
        for host, provider in hosts.items():
            if self._hosts.setdefault(host, provider) != provider:
                raise ValueError(f"default host {host!r} is declared for {self._hosts[host]!r} and {provider!r}")

    def hosts(self) -> dict[str, str]:
        return dict(self._hosts)

    # -- lookups -------------------------------------------------------------------

    def families(self) -> tuple[Family, ...]:
        """Every family, in path precedence order."""
        return self._ordered

    def get(self, api: str) -> Family | None:
        return self._families.get(api)

    def match(self, path: str) -> Family | None:
        """The first family (by `order`) one of whose patterns is found in `path`."""
        path = path.split("?", 1)[0]
        for family in self._ordered:
            if any(p.search(path) for p in family.paths):
                return family
        return None

    def provider_for(self, api: str, path: str) -> str:
        """The provider of a call no host names: a path hint's, else its family's."""
        for hint in self._hints:
            if hint.fragment in path:
                return hint.provider
        family = self._families.get(api)
        return family.provider if family else "openai"

    def shape(self, provider: str, api: str) -> str:
        """The error format of a call: its family's or its provider's, the higher ranked."""
        key = (provider, api)
        found = self._shapes.get(key)
        if found is None:
            found = self._shapes[key] = self._shape(provider, api)
        return found

    def _shape(self, provider: str, api: str) -> str:
        family = self._families.get(api)
        names = [family.shape] if family and family.shape else []
        names += [f.name for f in self._formats.values() if provider in f.providers]
        formats = [self._formats[n] for n in names if n in self._formats]
        return max(formats, key=lambda f: f.rank).name if formats else "openai"

    def error_format(self, shape: str) -> ErrorFormat:
        return self._formats.get(shape) or self._formats["openai"]

    def usage(self, api: str) -> str | UsageParser | None:
        family = self._families.get(api)
        return family.usage if family else None

    def _flag(self, api: str, name: str) -> Any:
        family = self._families.get(api)
        return getattr(family, name) if family else None

    def stream_kind(self, api: str) -> str:
        return self._flag(api, "stream") or "sse"

    def streams_by_default(self, api: str) -> bool:
        return bool(self._flag(api, "streams_by_default"))

    def always_streams(self, api: str) -> bool:
        return bool(self._flag(api, "always_streams"))

    def path_streams(self, path: str) -> bool:
        """Whether any family's stream marker is in `path`."""
        return any(marker in path for marker in self._markers)

    def json_array_stream(self, api: str, path: str) -> bool:
        """Whether a non-SSE response of `api` at `path` is a streamed JSON array."""
        marker = self._flag(api, "stream_marker")
        return bool(marker) and marker in path

    def include_usage(self, api: str) -> bool:
        return bool(self._flag(api, "include_usage"))

    def path_model(self, path: str, query: str) -> PathModel | None:
        """The model a family's path or query names, from the first family that reads one."""
        for reader in self._path_models:
            found = reader(path, query)
            if found is not None:
                return found
        return None

    def max_tokens(self, body: dict) -> list[Any]:
        """Every max-output-token value any family reads in `body`."""
        return [v for reader in self._max_tokens for v in reader(body)]
