"""The session summary names keys: the rows carry ids, the proxy's key cache the names."""

from types import SimpleNamespace

from aispendtrack.proxy.summary import Summary
from aispendtrack.views.stats import build_summary


def test_summary_text_names_each_key_known_to_the_cache():
    stats = build_summary([
        {"model": "gpt-4o-mini", "key_id": "key_0123456789ab", "key_hint": "ask_…x9Yz", "outcome": "forwarded",
         "cost_usd": "0.0042"},
        {"model": "gpt-4o-mini", "key_id": "key_unnamed00000", "outcome": "forwarded", "cost_usd": "0.001"},
        {"model": None, "key_id": None, "outcome": "rejected"},
    ])  # fmt: skip
    cache = SimpleNamespace(by_id={"key_0123456789ab": SimpleNamespace(name="build-server-eu-west"),
                                   "key_unnamed00000": SimpleNamespace(name=None)})
    text = Summary(SimpleNamespace(session=stats, keycache=cache)).summary()
    assert "key_0123456789ab build-server-eu-west (ask_…x9Yz): 1 call, $0.0042" in text
    assert "  key_unnamed00000: 1 call, $0.001" in text  # no name: its id alone
    assert "  (none): 1 call" in text
    assert Summary(SimpleNamespace(session=build_summary([]), keycache=None)).summary().startswith("session: 0 calls")
