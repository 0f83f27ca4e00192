"""Per-flow state: one `FlowState`, kept when mitmproxy saves, loads or copies a flow."""

import copy
import io

from mitmproxy import io as mio
from mitmproxy.test import tflow

from aispendtrack.proxy.providers import Target
from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.store.ledger_schema import Outcome


def started_flow() -> tuple:
    f = tflow.tflow(resp=True)
    state = Runtime().start_flow(f, Target("openai", "chat", "openai"))
    state.key_id, state.key_hint, state.account, state.account_id = "key_1", "ask_…abcd", "acme", 7
    state.outcome = Outcome.RATE_LIMITED
    state.limit_headers = {"x-aispendtrack-ratelimit-limit-requests-hour": "2"}
    return f, state


def test_start_flow_creates_the_state_in_one_place():
    f, state = started_flow()
    assert state_of(f) is state and f.metadata[META] is state
    assert (state.provider, state.api, state.shape) == ("openai", "chat", "openai")


def test_a_flow_file_round_trip_keeps_the_state():
    f, state = started_flow()
    buf = io.BytesIO()
    mio.FlowWriter(buf).add(f)  # what `-w` and mitmweb's save do
    buf.seek(0)
    (loaded,) = list(mio.FlowReader(buf).stream())
    assert type(loaded.metadata[META]) is dict  # plain data on disk
    again = state_of(loaded)
    assert again == state and again.outcome is Outcome.RATE_LIMITED


def test_copy_and_replay_keep_only_the_identity():
    f, state = started_flow()
    replay = f.copy()
    assert state_of(replay) == state and state_of(replay) is not state
    fresh = Runtime().start_flow(replay, Target("openai", "embeddings", "openai"))
    assert (fresh.key_id, fresh.key_hint, fresh.account, fresh.account_id) == ("key_1", "ask_…abcd", "acme", 7)
    assert fresh.api == "embeddings" and fresh.outcome is Outcome.FORWARDED and fresh.limit_headers is None


def test_deepcopy_is_plain_data():
    _, state = started_flow()
    plain = copy.deepcopy({"s": state})["s"]
    assert type(plain) is dict and plain["key_id"] == "key_1" and plain["outcome"] == "rate_limited"


def test_foreign_or_broken_metadata_is_not_ours():
    f = tflow.tflow()
    assert state_of(f) is None
    f.metadata[META] = {"provider": "openai"}  # no api, shape, start
    assert state_of(f) is None
    f.metadata[META] = {"provider": "openai", "api": "chat", "shape": "openai", "start": 1.0, "outcome": "nope"}
    assert state_of(f) is None
    f.metadata[META] = "something else"
    assert state_of(f) is None


def test_presence_counts_flows_in_flight():
    class Count:
        count = 0

    rt = Runtime(presence=Count())
    rt.start_flow(tflow.tflow(), Target("openai", "chat", "openai"))
    assert rt.presence.count == 1


def test_flows_saved_by_the_dict_era_still_load():
    f = tflow.tflow()
    f.metadata[META] = {"provider": "anthropic", "api": "messages", "shape": "anthropic", "start": 5.0,
                        "outcome": "forwarded", "key_id": "key_2", "key_hint": "ask_…wxyz", "account": "beta",
                        "account_id": 3, "requests_per_hour": 10, "monthly_calls": None, "recorded": True,
                        "limit_headers": {"x-aispendtrack-ratelimit-limit-requests-hour": "10"}}
    state = state_of(f)
    assert (state.api, state.key_id, state.account, state.recorded) == ("messages", "key_2", "beta", True)
    assert state_of(f) is state  # converted once, in place
