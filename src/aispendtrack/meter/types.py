"""Result types of the metering layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass
class Metered:
    """Usage of one call. Unknown values are None, never 0."""

    model: str | None = None  # from the response; the caller falls back to the request model
    input_tokens: int | None = None  # TOTAL input, cache reads and writes included
    output_tokens: int | None = None  # reasoning / thinking included
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    # genai-prices `Usage` keyword arguments (core fields included), ready for pricing
    details: dict[str, int] = field(default_factory=dict)
    provider_cost: Decimal | None = None  # billed cost reported by the provider (OpenRouter)
    has_usage: bool = False
    partial: bool = False  # stream ended before its terminal event / usage
    invalid: str | None = None  # which token counts were garbage (then never priced)
    error: str | None = None  # short description of the first parse problem


@dataclass
class RequestInfo:
    """What the metering layer needs to know about a request body."""

    model: str | None = None
    stream: bool = False
    include_usage: bool | None = None  # OpenAI chat `stream_options.include_usage`, None if absent
    error: str | None = None
