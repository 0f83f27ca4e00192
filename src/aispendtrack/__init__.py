"""AiSpendTrack: a mitmproxy addon that authenticates, limits and meters LLM API calls."""

__version__ = "0.1.0"
