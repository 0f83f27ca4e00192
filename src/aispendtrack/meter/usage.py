"""Usage objects of each API shape → `Metered` (pure, never raises on odd input).

Field names in `Metered.details` are genai-prices `Usage` keys, mapped the way its own
extractors map them (see `genai_prices/data.py`), so pricing can pass them through.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aispendtrack.meter.types import Metered

# Gemini modality names → genai-prices modality (genai-prices prices DOCUMENT as image)
_MODALITIES = {"TEXT": "text", "AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}


def num(v: Any) -> int | None:
    """A token count, or None for anything that is not a non-negative integer."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if v >= 0 else None
    if isinstance(v, (float, Decimal)):
        try:
            if v >= 0 and v == int(v):
                return int(v)
        except (ValueError, OverflowError, InvalidOperation):
            return None
    return None


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
    prompt = num(u.get("prompt_tokens"))
    completion = num(u.get("completion_tokens"))
    cached = num(dig(u, "prompt_tokens_details", "cached_tokens"))
    if cached is None:
        cached = num(u.get("prompt_cache_hit_tokens"))  # DeepSeek's native field
    reasoning = num(dig(u, "completion_tokens_details", "reasoning_tokens"))
    if reasoning is None:
        reasoning = num(u.get("reasoning_tokens"))  # older xAI responses
    output = completion
    if completion is not None and reasoning and _reasoning_excluded(u, prompt, completion, reasoning, provider):
        output = completion + reasoning
    m = build(
        prompt,
        output,
        cached,
        num(dig(u, "prompt_tokens_details", "cache_write_tokens")),
        reasoning,
        {
            "input_audio_tokens": num(dig(u, "prompt_tokens_details", "audio_tokens")),
            "output_audio_tokens": num(dig(u, "completion_tokens_details", "audio_tokens")),
        },
    )
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return m


def embeddings(u: dict, provider: str) -> Metered:
    # no output tokens exist; the provider reports none, so output stays unknown (None)
    inp = num(u.get("prompt_tokens"))
    if inp is None:
        inp = num(u.get("input_tokens"))
    m = build(inp, None)
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return m


def responses(u: dict, provider: str) -> Metered:
    """OpenAI Responses API `usage` (top level, or `response.usage` of a terminal event)."""
    m = build(
        num(u.get("input_tokens")),
        num(u.get("output_tokens")),
        num(dig(u, "input_tokens_details", "cached_tokens")),
        num(dig(u, "input_tokens_details", "cache_write_tokens")),
        num(dig(u, "output_tokens_details", "reasoning_tokens")),
    )
    if provider == "openrouter":
        m.provider_cost = money(u.get("cost"))
    return m


def anthropic(u: dict) -> Metered:
    """Anthropic Messages `usage`: its input_tokens excludes cache reads and writes."""
    base = num(u.get("input_tokens"))
    write = num(u.get("cache_creation_input_tokens"))
    read = num(u.get("cache_read_input_tokens"))
    total_in = _add(base, write, read) if base is not None else None
    return build(
        total_in,
        num(u.get("output_tokens")),
        read,
        write,
        None,  # thinking tokens are inside output_tokens and not reported apart
        {
            "cache_write_5m_tokens": num(dig(u, "cache_creation", "ephemeral_5m_input_tokens")),
            "cache_write_1h_tokens": num(dig(u, "cache_creation", "ephemeral_1h_input_tokens")),
        },
    )


def _modalities(items: Any, template: str, extra: dict[str, int | None]) -> None:
    if not isinstance(items, list):
        return
    for item in items:
        mod = _MODALITIES.get(str(dig(item, "modality")))
        count = num(dig(item, "tokenCount"))
        if mod and count is not None:
            key = template.format(mod)
            extra[key] = (extra.get(key) or 0) + count


def gemini(u: dict) -> Metered:
    """Gemini `usageMetadata`: thoughts are NOT inside candidates; cached is inside prompt."""
    prompt = num(u.get("promptTokenCount"))
    tool = num(u.get("toolUsePromptTokenCount"))  # genai-prices adds it to input
    total_in = _add(prompt, tool) if prompt is not None else None
    thoughts = num(u.get("thoughtsTokenCount"))
    output = _add(num(u.get("candidatesTokenCount")), thoughts)
    total = num(u.get("totalTokenCount"))
    if output is None and total is not None and total_in is not None and total >= total_in:
        output = total - total_in  # e.g. an empty answer reports no candidatesTokenCount
    extra: dict[str, int | None] = {"input_tool_tokens": tool}
    _modalities(u.get("promptTokensDetails"), "input_{}_tokens", extra)
    _modalities(u.get("toolUsePromptTokensDetails"), "input_{}_tokens", extra)
    _modalities(u.get("toolUsePromptTokensDetails"), "input_{}_tool_tokens", extra)
    _modalities(u.get("cacheTokensDetails"), "cache_{}_read_tokens", extra)
    _modalities(u.get("candidatesTokensDetails"), "output_{}_tokens", extra)
    return build(total_in, output, num(u.get("cachedContentTokenCount")), None, thoughts, extra)


def money(v: Any) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal, str)):
        return None
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() and d >= 0 else None
