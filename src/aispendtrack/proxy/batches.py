"""Batches: results metered as they pass, one ledger row per (batch, model), counted once.

Results downloads (`api` "batch": OpenAI `GET /v1/files/<id>/content`, Anthropic
`GET /v1/messages/batches/<id>/results`) pass through a `BatchObserver`: each chunk is
forwarded as it came while `meter.batch.BatchMeter` sums the usage of each line, so a
results file of any size is never held in memory. When the download completed, the flow's
row becomes one row per model the file names, priced at the batch rate
(`meter.batch_pricing`), with `batch_key` (which batch) and `batch_requests` (how many
requests it sums); the store counts a (batch, model) once whichever gateway writes it
first (`ledger_rows`). A download that did not complete counts nothing: its row is the
plain, unmetered one of an aborted call, and a later complete download counts the batch.

The batch key: Anthropic's is the batch id from the path (`anthropic:msgbatch_…`). An
OpenAI download names only the output file; each batch has one output file and a file one
batch, so the key is the file id (`openai:file-…`): every gateway derives the same key from
the download alone, with no state to share (a batch id learned from a batch object one
gateway saw would give two keys for one batch on two gateways).

`BatchObjects` fixes one thing in the batch objects that pass (`api` "batches"): an
Anthropic batch names its results by an absolute `results_url` at the provider, which the
SDK fetches as is — past a gateway reached as a reverse proxy. On a reverse listener the
URL is pointed back at the listener the client used, so the results pass (and are metered).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime

from mitmproxy import http
from mitmproxy.proxy.mode_specs import ReverseMode

from aispendtrack.families.batches import RESULTS_PATHS
from aispendtrack.meter.batch import BatchMeter, BatchResult
from aispendtrack.meter.batch_pricing import price_batch
from aispendtrack.meter.pricing import Pricer
from aispendtrack.proxy.state import FlowState, Runtime, state_of
from aispendtrack.store.ledger_schema import Outcome

log = logging.getLogger(__name__)

RESULTS = "batch"  # api of a results download
OBJECTS = "batches"  # api of batch creation, status, list, cancel
NOT_METERED = frozenset({RESULTS, OBJECTS, "files"})  # from their bodies: results are metered as they pass
_CREATE = re.compile(r"/batches/?(\?.*)?$")  # POST here creates a batch
NOT_COUNTED = ("batch results not counted: the download did not complete "
               "(they are counted when downloaded whole)")


class BatchObserver:
    """The `flow.response.stream` of a results download: meters, forwards byte for byte.

    With a Content-Length the client knows the body is whole at its last byte — before
    mitmproxy's `response` hook runs — so the rows are committed (`commit`) before that last
    chunk goes out, as a stream's row is before its terminal event (`observer.StreamObserver`);
    `pending` is what the `response` hook then waits for."""

    __slots__ = ("meter", "expected", "seen", "commit", "pending")

    def __init__(self, content_encoding: str | None, expected: int | None = None,
                 commit: Callable[[], concurrent.futures.Future | None] | None = None):
        self.meter = BatchMeter(content_encoding)
        self.expected, self.seen, self.commit = expected, 0, commit
        self.pending: concurrent.futures.Future | None = None

    def __call__(self, chunk: bytes):
        if self.meter.ended:
            return chunk or []  # finished at the Content-Length already
        out = self.meter.feed(chunk)
        self.seen += len(chunk)
        if chunk and self.expected is not None and self.seen >= self.expected:
            self.meter.feed(b"")  # the whole body: its last line is complete too
            if self.commit is not None:
                self.pending = self.commit()
        return out if out else []  # b"" would end an HTTP/1 chunked body early


def observe(flow: http.HTTPFlow, state: FlowState,
            commit: Callable[[], concurrent.futures.Future | None] | None = None) -> bool:
    """In `responseheaders`: meter a successful results download as it streams through."""
    resp = flow.response
    if state.api != RESULTS or resp is None or resp.status_code != 200:
        return False
    try:
        expected = int(resp.headers["content-length"]) if "transfer-encoding" not in resp.headers else None
    except (KeyError, ValueError):
        expected = None
    resp.stream = BatchObserver(resp.headers.get("content-encoding"), expected, commit)
    return True


def budget_exempt(flow: http.HTTPFlow, state: FlowState) -> bool:
    """Batch calls a spent budget never stops: the results (already billed: refusing them would
    hide the spend and save nothing), and a batch's status, list and cancel (which saves money).
    Only creating a batch, and uploading its input, are checked against the budget."""
    if state.api == RESULTS:
        return True
    return state.api == OBJECTS and not (flow.request.method == "POST" and _CREATE.search(flow.request.path))


def batch_key(provider: str | None, path: str) -> str | None:
    path = path.split("?", 1)[0]
    for pattern in RESULTS_PATHS:
        if m := pattern.search(path):
            return f"{provider}:{m.group(1)}"
    return None


def rows_of(flow: http.HTTPFlow, row: dict, pricer: Pricer) -> list[dict]:
    """The ledger rows of a flow whose row is `row`: a results download's are one per model
    when it came whole, else its own row, saying why nothing was counted."""
    observer = flow.response.stream if flow.response is not None else None
    if not isinstance(observer, BatchObserver):
        return [row]
    result = observer.meter.result
    if not observer.meter.ended or row["outcome"] != Outcome.FORWARDED or row["partial"]:
        row["error"] = "; ".join(filter(None, [row["error"], NOT_COUNTED]))
        return [row]
    if not result.models:
        row["error"] = "; ".join(filter(None, [row["error"], result.error,
                                               f"no billed results in this file ({result.lines} lines)"]))
        return [row]
    when = datetime.fromtimestamp(row["ts"], UTC)
    key = batch_key(row["provider"], flow.request.path)
    return [_model_row(row, model, s, result, key, pricer, when) for model, s in sorted(
        result.models.items(), key=lambda kv: kv[0] or "")]


def _model_row(row: dict, model, s, result: BatchResult, key, pricer: Pricer, when) -> dict:
    m = s.metered
    priced = price_batch(pricer, m, model, row["provider"], when=when)
    notes = [result.error]
    if result.unmetered:
        notes.append(f"{result.unmetered} of {result.lines} results carried no usage (errored, canceled, "
                     "expired or not a result): not billed, not counted")
    return {**row, "model": model, "input_tokens": m.input_tokens, "output_tokens": m.output_tokens,
            "cache_read_tokens": m.cache_read_tokens, "cache_write_tokens": m.cache_write_tokens,
            "reasoning_tokens": m.reasoning_tokens, "usage_json": dict(m.details) or None,
            "cost_usd": priced.cost_usd, "pricing": priced.pricing, "cost_source": priced.source,
            "error": "; ".join(filter(None, notes)) or None, "batch_key": key, "batch_requests": s.requests}


class BatchObjects:
    """Points an Anthropic batch's `results_url` back at the reverse listener it came through."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def response(self, flow: http.HTTPFlow) -> None:
        state = state_of(flow)
        resp = flow.response
        if (state is None or state.api != OBJECTS or resp is None or resp.status_code != 200 or not flow.live
                or not isinstance(flow.client_conn.proxy_mode, ReverseMode) or "json" not in
                resp.headers.get("content-type", "")):
            return
        try:
            obj = json.loads(resp.get_text(strict=True) or "null")
        except ValueError:
            return
        here = _listener_url(flow)
        changed = False
        for batch in obj.get("data", []) if isinstance(obj, dict) and isinstance(obj.get("data"), list) else [obj]:
            url = batch.get("results_url") if isinstance(batch, dict) else None
            if isinstance(url, str) and (m := re.match(r"https?://[^/]+(/.*)$", url)):
                batch["results_url"] = here + m.group(1)
                changed = True
        if changed:
            resp.text = json.dumps(obj)


def _listener_url(flow: http.HTTPFlow) -> str:
    host, port = flow.client_conn.sockname[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if flow.client_conn.tls_established else 'http'}://{host}:{port}"
