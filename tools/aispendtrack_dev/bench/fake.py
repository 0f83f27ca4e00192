"""The fake provider as its own process, tallying requests per bench configuration.

    python -m aispendtrack_dev.bench.fake [--port N]

Prints its URL on one line, then serves until stdin closes or SIGINT/SIGTERM. Every
request is counted under its ``x-bench-config`` header value, with how many of them
still carried an ``x-aispendtrack-key`` header (the addon must strip it). ``GET
/__bench/stats`` (sent straight to the fake, never through a proxy) answers the tallies
as JSON. Bodies are not recorded (``record = False``), so long runs keep flat memory.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections import defaultdict

from aispendtrack.demo.fake.server import FakeProvider

STATS_PATH = "/__bench/stats"
CONFIG_HEADER = "x-bench-config"
KEY_HEADER = "x-aispendtrack-key"


class TallyingFake(FakeProvider):
    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.record = False
        self.tally: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "with_key_header": 0})

    async def _respond(self, method, target, h, body, rid, keep, writer, reader) -> None:  # type: ignore[override]
        if target == STATS_PATH:
            data = json.dumps(self.tally).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: %s\r\n\r\n%s" % (len(data), b"keep-alive" if keep else b"close", data))
            await writer.drain()
            return
        t = self.tally[h.get(CONFIG_HEADER, "-")]
        t["requests"] += 1
        if KEY_HEADER in h:
            t["with_key_header"] += 1
        await super()._respond(method, target, h, body, rid, keep, writer, reader)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m aispendtrack_dev.bench.fake")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stream-delay", type=float, default=0.0)
    ap.add_argument("--chunks", type=int, default=4)
    a = ap.parse_args(argv)
    fake = TallyingFake("127.0.0.1", a.port, stream_delay=a.stream_delay, chunks=a.chunks)
    fake.start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    def watch_stdin() -> None:  # the parent went away: stop too
        try:
            sys.stdin.read()
        finally:
            stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(fake.url, flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
