"""`StreamMeter`: meters a streamed response chunk by chunk while it passes through.

Rule: metering may stop PARSING at any point, but never loses or alters a byte of what
it forwards, except the exact usage-only chunk that strip mode was asked to remove.

CPU is bounded per stream: at most PARSE_BUDGET decoded bytes, PARSE_RATIO times the wire
bytes (+ PARSE_SLACK: decompression bombs) and MAX_WORK Python-level steps (lines, JSON
steps, parses; also relative to the wire bytes) are parsed; beyond that parsing stops
with an error and bytes pass untouched (non-strip mode stops decoding too).
Blank lines, comments and bracket runs are skipped in C (see sse.py, jsonscan.py), and
event types that carry no usage are skipped before any JSON parse.

Strip mode (`strip_usage_chunk`, see strip.py) forwards complete events only, minus the
usage chunk, and is fail-safe: on any problem the bytes go out as they came.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal

from aispendtrack.families import registry
from aispendtrack.meter import bedrock
from aispendtrack.meter.decode import Decoder, DecodeError
from aispendtrack.meter.jsonscan import JSONScanner, ScanError
from aispendtrack.meter.ndjson import NDJSONParser
from aispendtrack.meter import cut
from aispendtrack.meter.sse import Event, EventTooLarge, SSEParser
from aispendtrack.meter.state import Accumulator
from aispendtrack.meter.strip import Stop, Stripper
from aispendtrack.meter.types import Metered

log = logging.getLogger(__name__)

MAX_EVENT = 4 * 1024 * 1024  # memory per SSE event / array element (larger SSE events are kept as
# head and tail, see sse.py); real ones are a few KB, a long answer's terminal event several MB
MAX_DECODED = 512 * 1024 * 1024  # whole stream after content decoding (bomb guard, strip-mode transcoding)
PARSE_BUDGET = 32 * 1024 * 1024  # decoded bytes parsed per stream; real streams: tens of KB to a few MB
PARSE_RATIO = 200  # ... and at most this many times the wire bytes received so far
PARSE_SLACK = 1024 * 1024  # ... plus this (a stream's first chunks)
MAX_WORK = 1_000_000  # Python-level steps per stream, ~1 us each: SSE lines, JSON bracket runs
# and strings, plus OBJ_WORK per JSON parse. Real streams: 2-3 per event (a 100k-event stream
# is ~300k); a flood of tiny events/elements stops at ~1 s of CPU instead of MAX_DECODED.
OBJ_WORK = 4
WORK_RATIO, WORK_SLACK = 2, 100_000  # ... and at most WORK_SLACK + WORK_RATIO per wire byte
# (real gzip SSE: ~0.1 step per wire byte; a gzip bomb of tiny events gets ~0.3 s per 64 KB)
_SKIP_ANTHROPIC = frozenset({"content_block_delta", "content_block_start", "content_block_stop", "ping"})
# chat chunks worth a JSON parse once the model is known (usage object, or a finish_reason)
_CHAT_INTERESTING = re.compile(rb'"usage"\s*:\s*\{|"finish_reason"\s*:\s*"')
# Ollama lines worth a JSON parse once the model is known: the `done` object (with the counts)
_OLLAMA_INTERESTING = re.compile(rb'"done"\s*:\s*true|"prompt_eval_count"|"eval_count"')
_SKIP_RESPONSES_PREFIX = ("response.output_", "response.content_part", "response.reasoning", "response.function_")


def loads(data: bytes) -> object:
    # Decimal keeps OpenRouter's cost exact
    return json.loads(data, parse_float=Decimal)


class StreamMeter:
    """Observer of one streamed response: SSE, a JSON array when `sse=False`, NDJSON
    (Ollama) when `ndjson=True`, AWS event-stream frames (Bedrock) when `eventstream=True`:
    one that cannot be read (bad CRC, truncated, an exception) is unmetered, never guessed.

    `feed` never raises: on an internal problem it records `error`, stops parsing and
    passes the bytes through unchanged. In strip mode a `Stripper` decides what is
    forwarded; this meter parses for it (its `strip.Host` side: the public methods below).
    """

    def __init__(
        self,
        provider: str | None,
        api: str,
        *,
        content_encoding: str | None = None,
        strip_usage_chunk: bool = False,
        sse: bool = True,
        ndjson: bool = False,
        eventstream: bool = False,
        max_event: int | None = None,
    ) -> None:
        self._acc = Accumulator(provider, api)
        self._error: str | None = None
        self._parsing = True
        self._ended = False
        max_event = max_event or MAX_EVENT
        sse = sse and not ndjson and not eventstream
        self._events = bedrock.Frames(self._acc.feed) if eventstream else None
        include_usage = registry.include_usage(api)  # the family speaks stream_options.include_usage
        self._strip = strip_usage_chunk and sse and include_usage
        # strip mode holds a pending event's bytes, so it keeps the hard limit (and fails safe)
        self._sse = SSEParser(max_event, cut=not self._strip) if sse else None
        self._ndjson = NDJSONParser(max_event) if ndjson else None
        self._json = None if sse or ndjson or eventstream else JSONScanner(max_event)
        # the one parser in use, picked once (budget_ok asks for it on every decoded chunk)
        self._parser: SSEParser | JSONScanner | NDJSONParser | bedrock.Frames = next(
            p for p in (self._sse, self._ndjson, self._json, self._events) if p is not None)
        self._chat = include_usage
        self._wire = 0  # bytes fed
        self._parsed = 0  # decoded bytes handed to the parser
        self._objs = 0  # JSON parses
        self._decoder: Decoder | None = None
        self._stripper: Stripper | None = None
        try:
            self._decoder = Decoder(content_encoding, self._on_decoded, MAX_DECODED)
        except DecodeError as e:
            self.stop(str(e))
        if self._strip and self._decoder is not None:
            self._stripper = Stripper(self, self._decoder)  # becomes the decoder's sink

    # -- public -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        """Meter `chunk` (b"" = end of stream); returns the bytes to forward."""
        if self._stripper is not None:
            self._wire += len(chunk)
            return self._stripper.feed(chunk)
        try:
            if self._parsing and not self._ended:
                self._wire += len(chunk)
                self._consume(chunk)
        except Exception as e:  # never break the connection
            self.stop(f"internal error: {type(e).__name__}: {e}")
        return chunk

    @property
    def awaiting_usage(self) -> bool:
        """A chat stream's choices finished; its usage chunk has not come yet."""
        acc = self._acc
        return acc._finished and acc.usage is None and not acc.terminal and self._parsing

    @property
    def terminal(self) -> bool:
        """The stream's terminal event ([DONE], message_stop, response.completed, …) was seen."""
        return self._acc.terminal

    def result(self) -> Metered:
        if self._events is not None and self._events.failed:  # no usage at all, only the reason
            return Metered(partial=True, error=self._events.failed)
        try:
            m = self._acc.result(streamed=True)
        except Exception as e:
            m = Metered(partial=True, error=f"internal error: {type(e).__name__}")
        m.error = m.error or self._error
        return m

    # -- parsing (also the stripper's strip.Host) ------------------------------------

    @property
    def parsing(self) -> bool:
        return self._parsing

    @property
    def lf_pending(self) -> bool:
        return self._sse is not None and self._sse.lf_pending

    @property
    def wire(self) -> int:
        return self._wire

    def stop(self, msg: str | None = None, *, replace: bool = False) -> None:
        """Stop parsing; record `msg` as the error (the first one, unless `replace`)."""
        if msg is not None and (self._error is None or replace):
            self._error = msg[:200]
        self._parsing = False

    def budget_ok(self, n: int) -> bool:
        """Account `n` decoded bytes about to be parsed; False (and parsing stops) when
        the per-stream CPU budget is spent."""
        parser = self._parser
        work = parser.items + OBJ_WORK * self._objs
        dropped = getattr(parser, "dropped", 0)  # skipped in C, never parsed: not in the budget
        if (
            self._parsed + n > PARSE_SLACK + PARSE_RATIO * self._wire
            or self._parsed - dropped + n > PARSE_BUDGET
            or work > min(MAX_WORK, WORK_SLACK + WORK_RATIO * self._wire)
        ):
            self.stop(
                f"parse budget exceeded after {self._parsed} decoded bytes ({self._wire} on the wire, "
                f"{work} steps): metering stopped, bytes pass untouched"
            )
            return False
        self._parsed += n
        return True

    def _consume(self, chunk: bytes) -> None:
        """Decode and parse, stopping parsing (not forwarding) on any problem."""
        assert self._decoder is not None
        try:
            if chunk:
                self._decoder.feed(chunk)
                return
            self._ended = True
            self.finish_events()
        except Stop:
            pass
        except DecodeError as e:
            self.stop(str(e))
        except Exception as e:
            self.stop(f"{type(e).__name__}: {e}")

    def finish_events(self) -> None:
        """End of stream: meter an unterminated last SSE event or NDJSON line."""
        if self._parsing and self._sse is not None:
            ev = self._sse.finish()
            if ev is not None:
                self.account(ev)
        elif self._parsing and self._ndjson is not None:
            line = self._ndjson.finish()
            if line is not None:
                self._line(line)
        elif self._parsing and self._events is not None:
            try:
                self._events.finish()
            except bedrock.Unreadable as e:
                self.stop(str(e), replace=True)

    def _on_decoded(self, data: bytes) -> None:
        if not self._parsing or not self.budget_ok(len(data)):
            raise Stop  # nothing more to do with decoded bytes: stop decoding
        if self._sse is not None:
            self.parse(data, self.account)
        elif self._ndjson is not None:
            for line in self._ndjson.feed(data):
                self._line(line)
            if self._ndjson.too_long and self._error is None:
                self._error = f"NDJSON line over {self._ndjson.max_line} bytes skipped"
        elif self._events is not None:
            try:
                self._events.feed(data)
            except bedrock.Unreadable as e:
                self.stop(str(e), replace=True)
                raise Stop from None
        else:
            assert self._json is not None
            self.parse(data, self._obj)
            if self._json.closed:
                self._acc.terminal = True

    def parse(self, data: bytes, handle: Callable[[object], object]) -> None:
        """Feed `data` to the parser and `handle` each event/element it completes, also
        those completed before an oversized one (the parser's error is then re-raised)."""
        parser = self._parser
        error: Exception | None = None
        try:
            items = parser.feed(data)
        except EventTooLarge as e:
            items, error = e.events, e
        except ScanError as e:
            items, error = e.elements, e
        for item in items:
            handle(item)
        if error is not None:
            raise error

    def account(self, ev: Event) -> bool:
        """Account one SSE event; True if it is the usage-only chunk to strip."""
        data = ev.data
        if data is None:
            return False
        if ev.name in _SKIP_ANTHROPIC or (ev.name or "").startswith(_SKIP_RESPONSES_PREFIX):
            return False  # the bulk of the stream carries no usage: skip the JSON parse
        if ev.cut:
            self._objs += 1
            obj = cut.summary(ev.name, data, self._sse.head)
            if obj is not None:
                self._acc.feed(obj)
            return False
        stripped = data.strip()
        if not stripped:
            return False
        if stripped == b"[DONE]":
            self._acc.done()
            return False
        if self._chat and self._acc.model is not None and not _CHAT_INTERESTING.search(stripped):
            return False  # a content delta: nothing to meter in it
        return self._obj(stripped)

    def _line(self, line: bytes) -> None:
        """Account one NDJSON line; content lines are skipped unparsed once the model is known."""
        if self._acc.model is not None and not _OLLAMA_INTERESTING.search(line):
            return
        self._obj(line)

    def _obj(self, data: bytes) -> bool:
        self._objs += 1
        try:
            obj = loads(data)
        except (ValueError, RecursionError) as e:
            if self._error is None:
                self._error = f"malformed JSON event skipped: {str(e)[:80]}"
            return False
        return self._acc.feed(obj) and self._strip
