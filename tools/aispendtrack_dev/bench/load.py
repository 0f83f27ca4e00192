"""A lean load generator: asyncio raw-socket HTTP/1.1 keep-alive client.

Runs as its own process so it does not share the proxy's interpreter (on a 2-core box
it still shares the CPUs: the orchestrator reports that). ``serve()`` reads one JSON
command per stdin line and answers one JSON result per stdout line:

    {"port": 8080, "config": "addon", "stream": true, "concurrency": 8,
     "duration": 3.0, "warmup": 0.5, "key": "ask_…", "stream_delay": 0.02, "chunks": 2}

With ``"get": "/v1/me"`` it sends that GET instead of a chat completion (the account plane),
with ``"cookie"`` a ``Cookie`` header (a dashboard session). With ``"targets": [{"port": …,
"key": …, "config": …}, …]`` it drives several servers at once, ``concurrency`` connections
each (several gateways); the figures are over all of them, ``per_target`` counts each one's.

``concurrency`` keep-alive connections each send requests back to back (closed loop).
Per request it records the latency (request written → last byte of the response),
the TTFB (request written → first body byte; for SSE, the first event's bytes) and the
body's spread (first body byte → last). A request counts as ok only with status 200 and a
complete, well-framed body (for streams: ending in ``data: [DONE]``).

Streamed or buffered is told by the spread, not by the TTFB: the fake provider sends
``chunks + 4`` SSE events (role, the deltas, finish, usage, [DONE]) ``stream_delay``
apart, so a proxy that streams hands the client its first event at least
``(chunks + 3) × stream_delay`` before the last, whatever its own cost before the first
byte (auth, the limiter's commit, a loaded CPU: they delay both ends alike), while one that
buffers hands over the whole body at once (a spread of about 0).
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field

from aispendtrack_dev.bench.conn import Conn, ProtocolError

perf = time.perf_counter
REQUEST_TIMEOUT = 15.0


def get_headers(port: int, key: str | None, cookie: str | None = None) -> dict[str, str]:
    """The headers of the load generator's GETs (a probe sends the same)."""
    headers = {"Host": f"127.0.0.1:{port}", "User-Agent": "aispendtrack-bench/1", "Accept": "application/json"}
    if key:
        headers["x-aispendtrack-key"] = key
    if cookie:
        headers["Cookie"] = cookie
    return headers


def build_get(port: int, path: str, key: str | None, cookie: str | None = None) -> bytes:
    """The bytes of one GET (the account plane: ``/v1/me``, the dashboard)."""
    headers = [f"{k}: {v}" for k, v in get_headers(port, key, cookie).items()]
    return (f"GET {path} HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode()


def build_request(port: int, *, config: str, stream: bool, key: str | None = None,
                  stream_delay: float = 0.02, chunks: int = 2, model: str = "gpt-4o-mini") -> bytes:
    """The bytes of one small chat completion (streamed: SSE with include_usage)."""
    body: dict = {"model": model, "messages": [{"role": "user", "content": "Say hi to the benchmark"}]}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    data = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        f"Host: 127.0.0.1:{port}",
        "User-Agent: aispendtrack-bench/1",
        "Accept: application/json" if not stream else "Accept: text/event-stream",
        "Content-Type: application/json",
        "Authorization: Bearer sk-bench-provider-key",
        f"x-bench-config: {config}",
    ]
    if stream:
        headers += [f"x-fake-stream-delay: {stream_delay}", f"x-fake-chunks: {chunks}"]
    if key:
        headers.append(f"x-aispendtrack-key: {key}")
    headers.append(f"Content-Length: {len(data)}")
    return ("POST /v1/chat/completions HTTP/1.1\r\n" + "\r\n".join(headers) + "\r\n\r\n").encode() + data


@dataclass
class Tally:
    ok: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds
    ttfbs: list[float] = field(default_factory=list)
    spreads: list[float] = field(default_factory=list)  # first body byte → last
    last_done: float = 0.0

    def error(self, msg: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(msg)

    @classmethod
    def merged(cls, tallies: list[Tally]) -> Tally:
        out = cls()
        for t in tallies:
            out.ok += t.ok
            out.errors += t.errors
            out.error_samples += t.error_samples[:5 - len(out.error_samples)]
            out.latencies += t.latencies
            out.ttfbs += t.ttfbs
            out.spreads += t.spreads
            out.last_done = max(out.last_done, t.last_done)
        return out


async def _connect(port: int) -> Conn:
    loop = asyncio.get_running_loop()
    _, proto = await asyncio.wait_for(loop.create_connection(Conn, "127.0.0.1", port), 5)
    return proto


async def _worker(port: int, conn: Conn | None, data: bytes, stream: bool, phases: list[tuple[float, Tally]],
                  reconnects: list[int]) -> None:
    """Closed loop until the last phase ends; each result lands in the phase its request started in."""
    end = phases[-1][0]
    while True:
        t0 = perf()
        if t0 >= end:
            break
        tally = next(t for until, t in phases if t0 < until)
        try:
            if conn is None or conn.closed:
                if conn is not None:
                    reconnects[0] += 1
                conn = await _connect(port)
                t0 = perf()
            status, t_first, tail, close_after = await asyncio.wait_for(conn.request(data), REQUEST_TIMEOUT)
        except (OSError, ProtocolError, asyncio.TimeoutError, ValueError) as e:
            tally.error(f"{type(e).__name__}: {e}")
            if conn is not None and conn.transport is not None:
                conn.transport.close()
            conn = None
            await asyncio.sleep(0.01)  # no hot loop against a dead server
            continue
        t1 = perf()
        if close_after:
            conn.transport.close()  # type: ignore[union-attr]
            conn = None
        if status != 200:
            tally.error(f"HTTP {status}: {tail[-60:]!r}")
            continue
        if stream and not tail.rstrip().endswith(b"data: [DONE]"):
            tally.error(f"stream did not end with [DONE]: {tail[-60:]!r}")
            continue
        tally.ok += 1
        tally.latencies.append(t1 - t0)
        tally.ttfbs.append((t_first or t1) - t0)
        tally.spreads.append(t1 - (t_first or t1))
        tally.last_done = max(tally.last_done, t1)
    if conn is not None and conn.transport is not None:
        conn.transport.close()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


async def run_load(port: int | None = None, *, config: str, stream: bool, concurrency: int, duration: float,
                   warmup: float, key: str | None = None, stream_delay: float = 0.02, chunks: int = 2,
                   get: str | None = None, cookie: str | None = None, targets: list[dict] | None = None) -> dict:
    targets = targets or [{"port": port, "key": key, "config": config}]
    datas = [build_get(t["port"], get, t["key"], cookie) if get else
             build_request(t["port"], config=t["config"], stream=stream, key=t["key"], stream_delay=stream_delay,
                           chunks=chunks) for t in targets]
    conns = await asyncio.gather(*(_connect(t["port"]) for t in targets for _ in range(concurrency)))
    t_start = perf()
    t_measure = t_start + warmup
    # each target its own tallies (its requests counted apart for the harness checks)
    phases = [[(t_measure, Tally()), (t_measure + duration, Tally())] for _ in targets]
    reconnects = [0]
    await asyncio.wait_for(
        asyncio.gather(*(_worker(t["port"], conns[i * concurrency + j], datas[i], stream, phases[i], reconnects)
                         for i, t in enumerate(targets) for j in range(concurrency))),
        warmup + duration + REQUEST_TIMEOUT + 10,
    )
    warm, measured = Tally.merged([p[0][1] for p in phases]), Tally.merged([p[1][1] for p in phases])
    per_target = [{"config": t["config"], "port": t["port"], "sent_total": sum(x.ok + x.errors for _, x in p),
                   "ok_total": sum(x.ok for _, x in p)} for t, p in zip(targets, phases)]
    elapsed = max(measured.last_done - t_measure, 1e-9) if measured.ok else duration
    lat, ttfb, spreads = measured.latencies, measured.ttfbs, measured.spreads
    # how long the fake provider takes from a stream's first event to its last (see above)
    span = (chunks + 3) * stream_delay if stream and not get else 0.0
    streamed_first = sum(1 for s in spreads if s >= 0.5 * span)
    ms = 1000.0

    def p(values, q):
        v = percentile(values, q)
        return None if v is None else v * ms

    return {
        "config": config, "stream": stream, "concurrency": concurrency, "duration": duration,
        "ok": measured.ok, "errors": measured.errors + warm.errors,
        "error_samples": (warm.error_samples + measured.error_samples)[:5],
        "sent_total": warm.ok + warm.errors + measured.ok + measured.errors,
        "ok_total": warm.ok + measured.ok, "reconnects": reconnects[0],
        "rps": measured.ok / elapsed,
        "p50_ms": p(lat, 50), "p95_ms": p(lat, 95), "p99_ms": p(lat, 99), "ttfb_p50_ms": p(ttfb, 50), "ttfb_p99_ms": p(ttfb, 99),
        "spread_p50_ms": p(spreads, 50), "stream_span_ms": span * ms if span else None,
        # the share of streamed requests whose first event came at least half the stream's
        # own span before its end (1.0: streamed; about 0: buffered)
        "first_event_before_end": (streamed_first / len(spreads)) if spreads and span else None,
        "per_target": per_target,
    }


def serve() -> int:
    """JSON lines in, JSON lines out, until stdin closes (or SIGINT/SIGTERM from the bench)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return _serve()
    except KeyboardInterrupt:
        return 0


def _serve() -> int:
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            result = asyncio.run(run_load(**cmd))
        except Exception as e:
            result = {"fatal": f"{type(e).__name__}: {e}"}
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
