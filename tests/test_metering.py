"""The metering step, loaded alone in mitmproxy's test context: flow in, ledger row out."""

import asyncio
import json
import time

from mitmproxy import http
from mitmproxy.test import taddons, tflow

from aispendtrack.proxy.metering import Metering
from aispendtrack.proxy.state import META, FlowState, Runtime, state_of
from aispendtrack.store import db as dbmod

BODY = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}


def chat_flow(status=200) -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    f.request.path = "/v1/chat/completions"
    f.request.content = json.dumps({"model": "gpt-4o-mini", "messages": []}).encode()
    f.response.status_code = status
    f.response.headers["content-type"] = "application/json"
    f.response.content = json.dumps(BODY).encode()
    state = FlowState("openai", "chat", "openai", time.time())
    state.key_id, state.account = "key_1", "acme"
    f.metadata[META] = state
    return f


def metered(db_path, config, *flows):
    rt = Runtime(config=config, db_path=db_path)
    metering = Metering(rt)

    async def main():
        with taddons.context(metering) as tctx:
            metering.start()
            try:
                for f in flows:
                    response, f.response = f.response, None
                    await tctx.cycle(metering, f)  # requestheaders, request
                    f.response = response
                    metering.responseheaders(f)
                    await metering.response(f)
            finally:
                metering.stop()

    asyncio.run(main())
    database = dbmod.connect(db_path)
    rows = list(database.query("SELECT * FROM calls ORDER BY id"))
    database.conn.close()
    return rt, rows


def test_a_forwarded_call_becomes_one_priced_row(db_path, config):
    f = chat_flow()
    rt, rows = metered(db_path, config, f)
    (row,) = rows
    assert (row["key_id"], row["account"], row["outcome"], row["status"]) == ("key_1", "acme", "forwarded", 200)
    assert (row["input_tokens"], row["output_tokens"], row["request_model"]) == (12, 3, "gpt-4o-mini")
    assert row["pricing"] == "priced" and row["cost_usd"]
    assert state_of(f).recorded and "12 in" in f.comment
    assert rt.session.totals.calls == 1 and rt.session.totals.input_tokens == 12


def test_an_upstream_error_is_recorded_unmetered(db_path, config):
    f = chat_flow(status=500)
    _, (row,) = metered(db_path, config, f)
    assert (row["outcome"], row["status"], row["pricing"], row["input_tokens"]) == ("upstream_error", 500, "unmetered", None)


def test_flows_not_ours_leave_no_row(db_path, config):
    _, rows = metered(db_path, config, tflow.tflow(resp=True))
    assert rows == []
