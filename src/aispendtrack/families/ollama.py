"""Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, `/api/embeddings`, at the
root or under a path prefix) and its error format. Its OpenAI-compatible `/v1` paths are
OpenAI's families (OpenRouter's `/api/v1/chat/completions` is matched by them first)."""

from __future__ import annotations

import re

from aispendtrack.families.base import ErrorFormat, Family


def _error(status: int, message: str, code: str) -> dict:
    return {"error": message}  # what Ollama itself answers, and ollama-python reads


def _family(name: str, path: str, order: int, streams_by_default: bool) -> Family:
    # NDJSON, streamed unless the body says "stream": false (chat, generate); embeddings never stream
    return Family(name, (re.compile(path),), order, provider="ollama", shape="ollama", usage="ollama",
                  stream="ndjson", streams_by_default=streams_by_default)


FORMATS = (ErrorFormat("ollama", 40, _error),)
FAMILIES = (
    _family("ollama-chat", r"/api/chat/?$", 40, True),
    _family("ollama-generate", r"/api/generate/?$", 41, True),
    _family("ollama-embed", r"/api/embed/?$", 42, False),
    _family("ollama-embeddings", r"/api/embeddings/?$", 43, False),
)
HOSTS = {"localhost:11434": "ollama", "127.0.0.1:11434": "ollama"}
