"""`python -m aispendtrack.demo.fake`: run the fake provider until interrupted,
printing its URL (used by `scripts/bench` and for trying the proxy by hand)."""

from __future__ import annotations

import argparse
import sys
import threading

from aispendtrack.demo.fake.server import FakeProvider, __doc__ as SERVER_DOC


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m aispendtrack.demo.fake", description=SERVER_DOC.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stream-delay", type=float, default=0.0, help="seconds between stream events")
    ap.add_argument("--chunks", type=int, default=4, help="text deltas per streamed reply")
    ap.add_argument("--model-override", default=None)
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--certfile")
    ap.add_argument("--keyfile")
    a = ap.parse_args(argv)
    fake = FakeProvider(a.host, a.port, tls=bool(a.certfile), certfile=a.certfile, keyfile=a.keyfile,
                        stream_delay=a.stream_delay, chunks=a.chunks, model_override=a.model_override, gzip=a.gzip)
    fake.record = False
    fake.start()
    print(fake.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
