"""Every field of the `Metered` result of each usage parser, for real payloads and their variants."""

from decimal import Decimal

import pytest

from aispendtrack.meter import Metered
from aispendtrack.meter import usage
from support.meter_samples import GEM_AUDIO_USAGE

BAD = "invalid token counts (stored as unknown): "


def m(inp=None, out=None, read=None, write=None, reasoning=None, details=None, cost=None, invalid=None):
    """The expected result; `details` is written out in full, core keys included."""
    return Metered(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write,
                   reasoning_tokens=reasoning, details=details or {}, provider_cost=cost, has_usage=True,
                   invalid=invalid)


@pytest.mark.parametrize("v, expected", [
    (0, 0), (12, 12), (10**12, 10**12), (10**12 + 1, None), (-1, None),
    (0.0, 0), (12.0, 12), (1e12, 10**12), (1e12 + 1, None), (-1.0, None), (12.5, None),
    (Decimal("0"), 0), (Decimal("0.0"), 0), (Decimal("1E+12"), 10**12), (Decimal("1000000000001"), None),
    (Decimal("NaN"), None), (Decimal("Infinity"), None), (float("nan"), None), (float("inf"), None),
    (True, None), (False, None), ("5", None), (None, None), ([1], None),
])
def test_num(v, expected):
    assert usage.num(v) == expected


@pytest.mark.parametrize("v, expected", [
    (Decimal("0.0123"), Decimal("0.0123")), (0, Decimal(0)), (Decimal("0"), Decimal(0)), (0.5, Decimal("0.5")),
    ("0.25", Decimal("0.25")), (10**6, Decimal(10**6)), (Decimal("1000000.01"), None), (-1, None),
    (Decimal("-0.001"), None), ("NaN", None), ("Infinity", None), (Decimal("NaN"), None), ("abc", None),
    (True, None), (None, None), ([1], None), ({"usd": 1}, None),
])
def test_money(v, expected):
    assert usage.money(v) == expected


# How a garbage count is shown in `Metered.invalid` (stored in the ledger's error column).
@pytest.mark.parametrize("v, shown", [
    (None, "None"),
    ("12", "'12'"),
    (-1, "-1"),
    (10**12 + 1, "1000000000001"),
    (Decimal("1.5"), "1.5"),
    (12.5, "12.5"),
    (float("nan"), "nan"),
    (True, "True"),
    ([1], "list"),
    ({"n": 1}, "dict"),
    ("a" * 22, "'" + "a" * 22 + "'"),  # 24 characters: shown whole
    ("a" * 23, "'" + "a" * 20 + "..."),  # 25 characters: cut to 21 and an ellipsis
])
def test_garbage_shown(v, shown):
    assert usage.embeddings({"prompt_tokens": v}, "openai") == m(invalid=BAD + "prompt_tokens=" + shown)


def test_only_four_garbage_fields_are_listed():
    u = {"prompt_tokens": "12", "completion_tokens": -1, "prompt_tokens_details": {"cached_tokens": Decimal("1.5")},
         "completion_tokens_details": {"reasoning_tokens": True, "audio_tokens": [1]}}
    assert usage.openai_chat(u, "openai") == m(invalid=BAD + (
        "prompt_tokens='12', completion_tokens=-1, prompt_tokens_details.cached_tokens=1.5, "
        "completion_tokens_details.reasoning_tokens=True"))


CHAT = [
    # gpt-4o: zero audio counts are reported, so they are kept
    ("openai", {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}},
     m(1200, 300, 1024, None, 128, {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 1024,
                                    "output_reasoning_tokens": 128, "input_audio_tokens": 0,
                                    "output_audio_tokens": 0})),
    # gpt-4o-audio-preview
    ("openai", {"prompt_tokens": 50, "completion_tokens": 80, "total_tokens": 130,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 40},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 60}},
     m(50, 80, 0, None, 0, {"input_tokens": 50, "output_tokens": 80, "cache_read_tokens": 0,
                            "output_reasoning_tokens": 0, "input_audio_tokens": 40, "output_audio_tokens": 60})),
    # OpenRouter (Anthropic behind it): cache writes and the billed cost
    ("openrouter", {"prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100, "cost": Decimal("0.0123"),
                    "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 1800},
                    "completion_tokens_details": {"reasoning_tokens": 0}},
     m(2000, 100, 0, 1800, 0, {"input_tokens": 2000, "output_tokens": 100, "cache_read_tokens": 0,
                               "cache_write_tokens": 1800, "output_reasoning_tokens": 0}, cost=Decimal("0.0123"))),
    # a `cost` from anyone but OpenRouter is not a billed cost
    ("openai", {"prompt_tokens": 20, "completion_tokens": 10, "cost": Decimal("0.5")},
     m(20, 10, details={"input_tokens": 20, "output_tokens": 10})),
    # DeepSeek's native cache field
    ("deepseek", {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150, "prompt_cache_hit_tokens": 64,
                  "prompt_cache_miss_tokens": 36, "completion_tokens_details": {"reasoning_tokens": 20}},
     m(100, 50, 64, None, 20, {"input_tokens": 100, "output_tokens": 50, "cache_read_tokens": 64,
                               "output_reasoning_tokens": 20})),
    # Groq: timing fields beside the counts
    ("groq", {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40, "queue_time": Decimal("0.01"),
              "prompt_time": Decimal("0.002"), "completion_time": Decimal("0.03"), "total_time": Decimal("0.032")},
     m(30, 10, details={"input_tokens": 30, "output_tokens": 10})),
    # xAI: reasoning larger than completion can only be outside it
    ("x-ai", {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 330,
              "completion_tokens_details": {"reasoning_tokens": 300}},
     m(20, 310, None, None, 300, {"input_tokens": 20, "output_tokens": 310, "output_reasoning_tokens": 300})),
    # older xAI: top-level reasoning_tokens, no total: xAI counts reasoning outside completion
    ("x-ai", {"prompt_tokens": 20, "completion_tokens": 10, "reasoning_tokens": 7},
     m(20, 17, None, None, 7, {"input_tokens": 20, "output_tokens": 17, "output_reasoning_tokens": 7})),
    # no total from anyone else: reasoning is inside completion
    ("openai", {"prompt_tokens": 10, "completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 20}},
     m(10, 50, None, None, 20, {"input_tokens": 10, "output_tokens": 50, "output_reasoning_tokens": 20})),
    # grok via OpenRouter: total = prompt + completion + reasoning says reasoning is outside
    ("openrouter", {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 90,
                    "completion_tokens_details": {"reasoning_tokens": 30}},
     m(20, 70, None, None, 30, {"input_tokens": 20, "output_tokens": 70, "output_reasoning_tokens": 30})),
    # a total that fits neither convention: the provider's convention (inside)
    ("openai", {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 1000,
                "completion_tokens_details": {"reasoning_tokens": 30}},
     m(20, 40, None, None, 30, {"input_tokens": 20, "output_tokens": 40, "output_reasoning_tokens": 30})),
    # reasoning equal to completion fits inside it
    ("openai", {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                "completion_tokens_details": {"reasoning_tokens": 5}},
     m(10, 5, None, None, 5, {"input_tokens": 10, "output_tokens": 5, "output_reasoning_tokens": 5})),
    # a total without a prompt count decides nothing
    ("openai", {"completion_tokens": 40, "total_tokens": 90, "completion_tokens_details": {"reasoning_tokens": 30}},
     m(None, 40, None, None, 30, {"output_tokens": 40, "output_reasoning_tokens": 30})),
    # a null total is garbage
    ("openai", {"prompt_tokens": None, "completion_tokens": 5},
     m(None, 5, details={"output_tokens": 5}, invalid=BAD + "prompt_tokens=None")),
    ("openai", {"prompt_tokens": 5, "completion_tokens": None},
     m(5, None, details={"input_tokens": 5}, invalid=BAD + "completion_tokens=None")),
]


@pytest.mark.parametrize("provider, u, expected", CHAT)
def test_openai_chat(provider, u, expected):
    assert usage.openai_chat(u, provider) == expected


EMBEDDINGS = [
    ("openai", {"prompt_tokens": 8, "total_tokens": 8}, m(8, details={"input_tokens": 8})),
    ("voyage", {"input_tokens": 8}, m(8, details={"input_tokens": 8})),
    ("openai", {"prompt_tokens": 8, "total_tokens": 8, "cost": Decimal("0.1")}, m(8, details={"input_tokens": 8})),
    ("openrouter", {"prompt_tokens": 8, "total_tokens": 8, "cost": Decimal("0.00000016")},
     m(8, details={"input_tokens": 8}, cost=Decimal("0.00000016"))),
    # a garbage prompt_tokens is not replaced by input_tokens
    ("openai", {"prompt_tokens": None, "input_tokens": 5}, m(invalid=BAD + "prompt_tokens=None")),
    ("openai", {"input_tokens": None}, m(invalid=BAD + "input_tokens=None")),
]


@pytest.mark.parametrize("provider, u, expected", EMBEDDINGS)
def test_embeddings(provider, u, expected):
    assert usage.embeddings(u, provider) == expected


RESPONSES = [
    ("openai", {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 512}, "output_tokens": 400,
                "output_tokens_details": {"reasoning_tokens": 256}, "total_tokens": 1300},
     m(900, 400, 512, None, 256, {"input_tokens": 900, "output_tokens": 400, "cache_read_tokens": 512,
                                  "output_reasoning_tokens": 256})),
    ("openrouter", {"input_tokens": 3000, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 2500},
                    "output_tokens": 50, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 3050,
                    "cost": Decimal("0.0105")},
     m(3000, 50, 0, 2500, 0, {"input_tokens": 3000, "output_tokens": 50, "cache_read_tokens": 0,
                              "cache_write_tokens": 2500, "output_reasoning_tokens": 0}, cost=Decimal("0.0105"))),
    ("openai", {"input_tokens": 3000, "output_tokens": 50, "cost": Decimal("0.0105")},
     m(3000, 50, details={"input_tokens": 3000, "output_tokens": 50})),
    ("openai", {"input_tokens": None, "output_tokens": None},
     m(invalid=BAD + "input_tokens=None, output_tokens=None")),
]


@pytest.mark.parametrize("provider, u, expected", RESPONSES)
def test_responses(provider, u, expected):
    assert usage.responses(u, provider) == expected


ANTHROPIC = [
    ({"input_tokens": 25, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 10000,
      "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
      "output_tokens": 150, "service_tier": "standard"},
     m(12025, 150, 10000, 2000, None, {"input_tokens": 12025, "output_tokens": 150, "cache_read_tokens": 10000,
                                       "cache_write_tokens": 2000, "cache_write_5m_tokens": 2000,
                                       "cache_write_1h_tokens": 0})),
    # message_delta carries only the output count
    ({"output_tokens": 42}, m(None, 42, details={"output_tokens": 42})),
    # cache counts do not make an input total without the base count
    ({"input_tokens": None, "cache_read_input_tokens": 10, "output_tokens": 5},
     m(None, 5, 10, details={"output_tokens": 5, "cache_read_tokens": 10}, invalid=BAD + "input_tokens=None")),
    ({"input_tokens": 3, "output_tokens": None},
     m(3, details={"input_tokens": 3}, invalid=BAD + "output_tokens=None")),
]


@pytest.mark.parametrize("u, expected", ANTHROPIC)
def test_anthropic(u, expected):
    assert usage.anthropic(u) == expected


GEMINI = [
    # gemini-2.5-flash with an image and a PDF (DOCUMENT is priced as image), cached text, thoughts;
    # the cache's modalities cacheTokensDetails leaves out held none of it
    ({"promptTokenCount": 500, "candidatesTokenCount": 80, "totalTokenCount": 700, "cachedContentTokenCount": 256,
      "thoughtsTokenCount": 120,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 400}, {"modality": "IMAGE", "tokenCount": 60},
                              {"modality": "DOCUMENT", "tokenCount": 40}],
      "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 256}],
      "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 80}]},
     m(500, 200, 256, None, 120, {"input_tokens": 500, "output_tokens": 200, "cache_read_tokens": 256,
                                  "output_reasoning_tokens": 120, "input_text_tokens": 400, "input_image_tokens": 100,
                                  "cache_text_read_tokens": 256, "cache_audio_read_tokens": 0,
                                  "cache_image_read_tokens": 0, "cache_video_read_tokens": 0,
                                  "output_text_tokens": 80})),
    # audio in the prompt, a cache of text only: no cached audio (genai-prices needs that 0 to price it)
    (GEM_AUDIO_USAGE, m(1500, 100, 800, details={
        "input_tokens": 1500, "output_tokens": 100, "cache_read_tokens": 800, "input_text_tokens": 1000,
        "input_audio_tokens": 500, "cache_text_read_tokens": 800, "cache_audio_read_tokens": 0,
        "cache_image_read_tokens": 0, "cache_video_read_tokens": 0, "output_text_tokens": 100})),
    # no cacheTokensDetails: how the cache splits is unknown, not 0
    ({k: v for k, v in GEM_AUDIO_USAGE.items() if k != "cacheTokensDetails"}, m(1500, 100, 800, details={
        "input_tokens": 1500, "output_tokens": 100, "cache_read_tokens": 800, "input_text_tokens": 1000,
        "input_audio_tokens": 500, "output_text_tokens": 100})),
    # a cache of a PDF (priced as image) and audio; a listed modality whose count is null stays unknown
    ({"promptTokenCount": 90, "cachedContentTokenCount": 70, "candidatesTokenCount": 1,
      "cacheTokensDetails": [{"modality": "DOCUMENT", "tokenCount": 50}, {"modality": "AUDIO", "tokenCount": 20},
                             {"modality": "VIDEO", "tokenCount": None}]},
     m(90, 1, 70, details={"input_tokens": 90, "output_tokens": 1, "cache_read_tokens": 70,
                           "cache_image_read_tokens": 50, "cache_audio_read_tokens": 20, "cache_text_read_tokens": 0})),
    # an empty list names no modality: the cache held none of them
    ({"promptTokenCount": 10, "candidatesTokenCount": 1, "cacheTokensDetails": []},
     m(10, 1, details={"input_tokens": 10, "output_tokens": 1, "cache_text_read_tokens": 0,
                       "cache_audio_read_tokens": 0, "cache_image_read_tokens": 0, "cache_video_read_tokens": 0})),
    # no list, or an entry without a modality (it could be any): the modalities not counted stay unknown
    *[({"promptTokenCount": 10, "candidatesTokenCount": 1, "cachedContentTokenCount": 4, "cacheTokensDetails": d},
       m(10, 1, 4, details={"input_tokens": 10, "output_tokens": 1, "cache_read_tokens": 4, **counted}))
      for d, counted in ((None, {}), ("TEXT", {}), ({"modality": "TEXT", "tokenCount": 4}, {}),
                         ([{"modality": "TEXT", "tokenCount": 4}, "x"], {"cache_text_read_tokens": 4}),
                         ([{"modality": "TEXT", "tokenCount": 3}, {"tokenCount": 1}], {"cache_text_read_tokens": 3}),
                         ([{"modality": None, "tokenCount": 4}], {}))],
    # tool-use prompt (e.g. grounding): added to the input total and to the input modalities
    ({"promptTokenCount": 100, "toolUsePromptTokenCount": 30, "candidatesTokenCount": 20, "totalTokenCount": 150,
      "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
      "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 25}, {"modality": "IMAGE", "tokenCount": 5}],
      "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}]},
     m(130, 20, details={"input_tokens": 130, "output_tokens": 20, "input_tool_tokens": 30, "input_text_tokens": 125,
                         "input_image_tokens": 5, "input_text_tool_tokens": 25, "input_image_tool_tokens": 5,
                         "output_audio_tokens": 20})),
    # a modality genai-prices does not know is left out
    ({"promptTokenCount": 10, "candidatesTokenCount": 2,
      "promptTokensDetails": [{"modality": "MODALITY_UNSPECIFIED", "tokenCount": 3},
                              {"modality": "TEXT", "tokenCount": 7}]},
     m(10, 2, details={"input_tokens": 10, "output_tokens": 2, "input_text_tokens": 7})),
    # no output counts and no total: output unknown, not 0
    ({"promptTokenCount": 10}, m(10, details={"input_tokens": 10})),
    # an empty answer: output from the total
    ({"promptTokenCount": 10, "totalTokenCount": 10}, m(10, 0, details={"input_tokens": 10, "output_tokens": 0})),
    # a tool count alone is no input total
    ({"toolUsePromptTokenCount": 30, "candidatesTokenCount": 5},
     m(None, 5, details={"output_tokens": 5, "input_tool_tokens": 30})),
    ({"promptTokenCount": None, "candidatesTokenCount": 5},
     m(None, 5, details={"output_tokens": 5}, invalid=BAD + "promptTokenCount=None")),
]


@pytest.mark.parametrize("u, expected", GEMINI)
def test_gemini(u, expected):
    assert usage.gemini(u) == expected


@pytest.mark.parametrize("details", [None, "n/a", 7, ["x"]])
def test_a_details_object_that_is_not_an_object_counts_as_absent(details):
    """A nested count under a null or non-object parent is simply unknown, never an error."""
    c = usage.Counts()
    u = {"prompt_tokens": 10, "prompt_tokens_details": details}
    assert c(u, "prompt_tokens_details", "cached_tokens") is None
    assert c(u, "prompt_tokens_details", "audio", "tokens") is None
    assert c(u, "prompt_tokens", total=True) == 10 and c.bad == []
