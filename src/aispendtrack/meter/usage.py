"""Usage objects of each API shape → `Metered` (pure, never raises on odd input).

Field names in `Metered.details` are genai-prices `Usage` keys, mapped the way its own
extractors map them (see `genai_prices/data.py`), so pricing can pass them through.

A token count is an integer from 0 to MAX_TOKENS (a float like 12.0 is accepted). Anything
else that is present — negative, too large, a string, a fraction, a boolean, or null for
an input/output total — is garbage: the count is stored as unknown and `Metered.invalid`
says which field held what, so the call is never priced on partial usage.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aispendtrack.meter.types import Metered

# Gemini modality names → genai-prices modality (genai-prices prices DOCUMENT as image)
_MODALITIES = {"TEXT": "text", "AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}
MAX_TOKENS = 10**12  # per call and field; real calls stay below 10**7, SQLite holds below 2**63
MAX_COST_USD = Decimal(10**6)  # a provider-reported cost above this per call is garbage


def num(v: Any) -> int | None:
    """A token count, or None for anything that is not an integer in 0..MAX_TOKENS."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if 0 <= v <= MAX_TOKENS else None
    if isinstance(v, (float, Decimal)):
        try:
            if 0 <= v <= MAX_TOKENS and v == int(v):
                return int(v)
        except (ValueError, OverflowError, InvalidOperation):
            return None
    return None


_MISSING = object()


class Counts:
    """Reads token counts from one usage object and remembers the garbage it met."""

    __slots__ = ("bad",)

    def __init__(self) -> None:
        self.bad: list[str] = []

    def __call__(self, u: Any, *path: str, total: bool = False) -> int | None:
        """The count at `path`; a null there is garbage too when `total` (an input/output total)."""
        parent = u
        for p in path[:-1]:
            parent = parent.get(p) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            return None
        v = parent.get(path[-1], _MISSING)
        if v.__class__ is int and 0 <= v <= MAX_TOKENS:
            return v  # the common case, first
        if v is _MISSING:
            return None
        n = num(v)
        if n is None and (v is not None or total):
            self.bad.append(f"{'.'.join(path)}={_show(v)}")
        return n

    def apply(self, m: Metered) -> Metered:
        if self.bad:
            m.invalid = "invalid token counts (stored as unknown): " + ", ".join(self.bad[:4])
            m.has_usage = True  # usage was reported, garbage or not: the row says so
        return m


def _show(v: Any) -> str:
    text = repr(v) if isinstance(v, str) else str(v) if isinstance(v, (int, float, Decimal, bool)) or v is None \
        else type(v).__name__
    return text if len(text) <= 24 else text[:21] + "..."


def dig(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _add(*vals: int | None) -> int | None:
    known = [v for v in vals if v is not None]
    return sum(known) if known else None


def build(
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None = None,
    cache_write: int | None = None,
    reasoning: int | None = None,
    extra: dict[str, int | None] | None = None,
) -> Metered:
    details = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "output_reasoning_tokens": reasoning,
        **(extra or {}),
    }
    return Metered(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        reasoning_tokens=reasoning,
        details={k: v for k, v in details.items() if v is not None},
        has_usage=input_tokens is not None or output_tokens is not None,
    )


def _reasoning_excluded(u: dict, prompt: int | None, completion: int, reasoning: int, provider: str) -> bool:
    # Most providers count reasoning inside completion_tokens; xAI does not (genai-prices
    # adds them for x-ai). total_tokens, when present, tells which convention was used.
    if reasoning > completion:
        return True
    total = num(u.get("total_tokens"))
    if total is not None and prompt is not None:
        if total == prompt + completion:
            return False
        if total == prompt + completion + reasoning:
            return True
    return provider == "x-ai"


def openai_chat(u: dict, provider: str) -> Metered:
    """Chat Completions / legacy Completions `usage` (also Groq, Mistral, DeepSeek, OpenRouter, xAI)."""
    c = Counts()
    prompt = c(u, "prompt_tokens", total=True)
    completion = c(u, "completion_tokens", total=True)
    cached = c(u, "prompt_tokens_details", "cached_tokens")
    if cached is None:
        cached = c(u, "prompt_cache_hit_tokens")  # DeepSeek's native field
    reasoning = c(u, "completion_tokens_details", "reasoning_tokens")
    if reasoning is None:
        reasoning = c(u, "reasoning_tokens")  # older xAI responses
    output = completion
    if completion is not None and reasoning and _reasoning_excluded(u, prompt, completion, reasoning, provider):
        output = completion + reasoning
    m = build(
        prompt,
        output,
        cached,
        c(u, "prompt_tokens_details", "cache_write_tokens"),
        reasoning,
        {
            "input_audio_tokens": c(u, "prompt_tokens_details", "audio_tokens"),
            "output_audio_tokens": c(u, "completion_tokens_details", "audio_tokens"),
        },
    )
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return c.apply(m)


def embeddings(u: dict, provider: str) -> Metered:
    # no output tokens exist; the provider reports none, so output stays unknown (None)
    c = Counts()
    inp = c(u, "prompt_tokens", total=True)
    if inp is None and "prompt_tokens" not in u:
        inp = c(u, "input_tokens", total=True)
    m = build(inp, None)
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return c.apply(m)


def responses(u: dict, provider: str) -> Metered:
    """OpenAI Responses API `usage` (top level, or `response.usage` of a terminal event)."""
    c = Counts()
    m = build(
        c(u, "input_tokens", total=True),
        c(u, "output_tokens", total=True),
        c(u, "input_tokens_details", "cached_tokens"),
        c(u, "input_tokens_details", "cache_write_tokens"),
        c(u, "output_tokens_details", "reasoning_tokens"),
    )
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return c.apply(m)


def input_with_cache(c: Counts, u: dict, base: str, read: str, write: str) -> tuple[int | None, int | None, int | None]:
    """(total input, cache reads, cache writes) where `base` counts the input outside the
    cache (Anthropic, Bedrock): the total adds the cached parts; unknown when `base` is."""
    uncached = c(u, base, total=True)
    w, r = c(u, write), c(u, read)
    return (_add(uncached, w, r) if uncached is not None else None), r, w


def anthropic(u: dict) -> Metered:
    """Anthropic Messages `usage`: its input_tokens excludes cache reads and writes."""
    c = Counts()
    total_in, read, write = input_with_cache(c, u, "input_tokens", "cache_read_input_tokens",
                                             "cache_creation_input_tokens")
    return c.apply(build(
        total_in,
        c(u, "output_tokens", total=True),
        read,
        write,
        None,  # thinking tokens are inside output_tokens and not reported apart
        {
            "cache_write_5m_tokens": c(u, "cache_creation", "ephemeral_5m_input_tokens"),
            "cache_write_1h_tokens": c(u, "cache_creation", "ephemeral_1h_input_tokens"),
        },
    ))


def _modalities(c: Counts, items: Any, template: str, extra: dict[str, int | None]) -> None:
    if not isinstance(items, list):
        return
    for item in items:
        mod = _MODALITIES.get(str(dig(item, "modality")))
        count = c(item, "tokenCount")
        if mod and count is not None:
            key = template.format(mod)
            extra[key] = (extra.get(key) or 0) + count


def _cache_modalities(c: Counts, items: Any, extra: dict[str, int | None]) -> None:
    """`cacheTokensDetails`: the cache's count per modality; a modality it leaves out held none.

    The zeros matter: with cache reads and audio input both reported, genai-prices will not
    guess how much of the cache was audio. Without the list, the split stays unknown.
    """
    _modalities(c, items, "cache_{}_read_tokens", extra)
    if not isinstance(items, list) or not all(isinstance(dig(item, "modality"), str) for item in items):
        return  # an entry without a modality could be any of them
    named = {_MODALITIES.get(item["modality"]) for item in items}
    for mod in _MODALITIES.values():
        if mod not in named:
            extra.setdefault(f"cache_{mod}_read_tokens", 0)


def gemini(u: dict) -> Metered:
    """Gemini `usageMetadata`: thoughts are NOT inside candidates; cached is inside prompt."""
    c = Counts()
    prompt = c(u, "promptTokenCount", total=True)
    tool = c(u, "toolUsePromptTokenCount")  # genai-prices adds it to input
    total_in = _add(prompt, tool) if prompt is not None else None
    thoughts = c(u, "thoughtsTokenCount")
    output = _add(c(u, "candidatesTokenCount"), thoughts)
    total = c(u, "totalTokenCount")
    if output is None and total is not None and total_in is not None and total >= total_in:
        output = total - total_in  # e.g. an empty answer reports no candidatesTokenCount
    extra: dict[str, int | None] = {"input_tool_tokens": tool}
    _modalities(c, u.get("promptTokensDetails"), "input_{}_tokens", extra)
    _modalities(c, u.get("toolUsePromptTokensDetails"), "input_{}_tokens", extra)
    _modalities(c, u.get("toolUsePromptTokensDetails"), "input_{}_tool_tokens", extra)
    _cache_modalities(c, u.get("cacheTokensDetails"), extra)
    _modalities(c, u.get("candidatesTokensDetails"), "output_{}_tokens", extra)
    return c.apply(build(total_in, output, c(u, "cachedContentTokenCount"), None, thoughts, extra))


def money(v: Any) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal, str)):
        return None
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() and 0 <= d <= MAX_COST_USD else None


def ollama(u: dict) -> Metered:
    """Ollama's native counts (the `done` object of /api/chat and /api/generate, the /api/embed
    body): `prompt_eval_count` is the whole prompt — older servers leave it out when the
    prompt came from their cache, so a missing one stays unknown — and
    `prompt_eval_cached_count`, when sent, the cached part of it; `eval_count` is the output
    (thinking included). Embeddings have no output."""
    c = Counts()
    return c.apply(build(
        c(u, "prompt_eval_count", total=True),
        c(u, "eval_count", total=True),
        c(u, "prompt_eval_cached_count"),
    ))
