"""`StreamMeter`: meters a streamed response chunk by chunk while it passes through.

Rule: metering may stop PARSING at any point, but never loses or alters a byte of what
it forwards, except the exact usage-only chunk that strip mode was asked to remove.

CPU is bounded per stream: at most PARSE_BUDGET decoded bytes, PARSE_RATIO times the wire
bytes (+ PARSE_SLACK: decompression bombs) and MAX_WORK Python-level steps (lines, JSON
steps, parses; also relative to the wire bytes) are parsed; beyond that parsing stops
with an error and bytes pass untouched (non-strip mode stops decoding too).
Blank lines, comments and bracket runs are skipped in C (see sse.py, jsonscan.py), and
event types that carry no usage are skipped before any JSON parse.

Strip mode (`strip_usage_chunk`) forwards complete events only, minus the usage chunk:
- identity: held bytes are released unchanged on any problem, then raw bytes pass through;
- content-encoded: the stream is decoded and re-encoded. Until the first encoded byte
  goes out, the raw upstream chunks are kept, so any problem falls back to forwarding
  them byte for byte (passthrough from then on). Once our encoding has started, the
  client's stream is ours to the end: a parse problem (oversized event, budget) only
  stops parsing and transcoding continues (decoded content unchanged); an upstream that
  can no longer be decoded (corrupt, or over MAX_DECODED) cannot be re-encoded, so the
  client's stream is ended cleanly (a valid encoding of everything decodable) and the
  undecodable rest is not forwarded (recorded in `error`).
"""

from __future__ import annotations

import json
import logging
import re
from decimal import Decimal

from aispendtrack.meter.decode import Decoder, DecodeError, Encoder
from aispendtrack.meter.jsonscan import JSONScanner, ScanError
from aispendtrack.meter.sse import Event, EventTooLarge, SSEParser
from aispendtrack.meter.state import Accumulator
from aispendtrack.meter.types import Metered

log = logging.getLogger(__name__)

MAX_EVENT = 4 * 1024 * 1024  # one SSE event / array element; real ones are a few KB
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
_TRANSCODE_PIECE = 1024 * 1024  # strip mode: decoded bytes encoded at a time (bounded memory)
_STRIP_APIS = frozenset({"chat", "completions"})
_SKIP_ANTHROPIC = frozenset({"content_block_delta", "content_block_start", "content_block_stop", "ping"})
# chat chunks worth a JSON parse once the model is known (usage object, or a finish_reason)
_CHAT_INTERESTING = re.compile(rb'"usage"\s*:\s*\{|"finish_reason"\s*:\s*"')
_SKIP_RESPONSES_PREFIX = ("response.output_", "response.content_part", "response.reasoning", "response.function_")


def loads(data: bytes) -> object:
    # Decimal keeps OpenRouter's cost exact
    return json.loads(data, parse_float=Decimal)


class _Stop(Exception):
    """Raised from the decoder sink to stop decoding (parsing has stopped, nothing to transcode)."""


class StreamMeter:
    """Observer of one streamed response (SSE, or a JSON array when `sse=False`).

    `feed` never raises: on an internal problem it records `error`, stops parsing and
    passes the bytes through unchanged (see the module docstring for strip mode).
    """

    def __init__(
        self,
        provider: str | None,
        api: str,
        *,
        content_encoding: str | None = None,
        strip_usage_chunk: bool = False,
        sse: bool = True,
    ) -> None:
        self._acc = Accumulator(provider, api)
        self._error: str | None = None
        self._parsing = True
        self._ended = False
        self._sse = SSEParser(MAX_EVENT) if sse else None
        self._json = None if sse else JSONScanner(MAX_EVENT)
        self._strip = strip_usage_chunk and sse and api in _STRIP_APIS
        self._chat = api in _STRIP_APIS
        self._wire = 0  # bytes fed
        self._parsed = 0  # decoded bytes handed to the parser
        self._objs = 0  # JSON parses
        # strip mode state: decoded bytes since the last event boundary, at stream offset _base
        self._hold = bytearray()
        self._base = 0
        self._out: list[bytes] = []  # decoded bytes to forward
        self._out_size = 0
        self._dropped_last = False
        self._modified = False  # an event was dropped
        self._passthrough = False  # strip mode gave up: raw bytes pass from now on
        # encoded strip mode
        self._encoder: Encoder | None = None
        self._encoded: list[bytes] = []  # encoder output not yet returned
        self._raw: list[bytes] | None = []  # raw chunks fed while nothing has been returned
        self._cut = False  # our encoded stream was ended early (upstream undecodable)
        self._decoder: Decoder | None = None
        try:
            self._decoder = Decoder(content_encoding, self._on_decoded, MAX_DECODED)
        except DecodeError as e:
            self._fail(str(e))
            self._strip = False
        self._identity = self._decoder is not None and self._decoder.encoding == "identity"

    # -- public -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> bytes:
        """Meter `chunk` (b"" = end of stream); returns the bytes to forward."""
        if self._strip:
            if self._passthrough:
                return chunk
            if self._cut:
                return b""
            if self._identity:
                return self._feed_strip_identity(chunk)
            return self._feed_strip_encoded(chunk)
        try:
            if self._parsing and not self._ended:
                self._wire += len(chunk)
                self._consume(chunk)
        except Exception as e:  # never break the connection
            self._fail(f"internal error: {type(e).__name__}: {e}")
        return chunk

    @property
    def terminal(self) -> bool:
        """The stream's terminal event ([DONE], message_stop, response.completed, …) was seen."""
        return self._acc.terminal

    def result(self) -> Metered:
        try:
            m = self._acc.result(streamed=True)
        except Exception as e:
            m = Metered(partial=True, error=f"internal error: {type(e).__name__}")
        m.error = m.error or self._error
        return m

    # -- parsing ------------------------------------------------------------------

    def _fail(self, msg: str) -> None:
        if self._error is None:
            self._error = msg[:200]
        self._parsing = False

    def _budget_ok(self, n: int) -> bool:
        """Account `n` decoded bytes about to be parsed; False (and parsing stops) when
        the per-stream CPU budget is spent."""
        limit = min(PARSE_BUDGET, PARSE_SLACK + PARSE_RATIO * self._wire)
        parser = self._sse if self._sse is not None else self._json
        work = parser.items + OBJ_WORK * self._objs
        if self._parsed + n > limit or work > min(MAX_WORK, WORK_SLACK + WORK_RATIO * self._wire):
            self._fail(
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
            self._finish_events()
        except _Stop:
            pass
        except DecodeError as e:
            self._fail(str(e))
        except Exception as e:
            self._fail(f"{type(e).__name__}: {e}")

    def _finish_events(self) -> None:
        if self._parsing and self._sse is not None:
            ev = self._sse.finish()
            if ev is not None:
                self._event(ev)

    def _on_decoded(self, data: bytes) -> None:
        if self._strip:
            self._on_decoded_strip(data)
            return
        if not self._parsing or not self._budget_ok(len(data)):
            raise _Stop  # nothing more to do with decoded bytes: stop decoding
        if self._sse is not None:
            try:
                events = self._sse.feed(data)
            except EventTooLarge as e:
                for ev in e.events:
                    self._event(ev)
                raise
            for ev in events:
                self._event(ev)
        else:
            assert self._json is not None
            try:
                elems = self._json.feed(data)
            except ScanError as e:
                for elem in e.elements:
                    self._obj(elem)
                raise
            for elem in elems:
                self._obj(elem)
            if self._json.closed:
                self._acc.terminal = True

    def _event(self, ev: Event) -> bool:
        """Account one SSE event; True if it is the usage-only chunk to strip."""
        data = ev.data
        if data is None:
            return False
        if ev.name in _SKIP_ANTHROPIC or (ev.name or "").startswith(_SKIP_RESPONSES_PREFIX):
            return False  # the bulk of the stream carries no usage: skip the JSON parse
        stripped = data.strip()
        if not stripped:
            return False
        if stripped == b"[DONE]":
            self._acc.done()
            return False
        if self._chat and self._acc.model is not None and not _CHAT_INTERESTING.search(stripped):
            return False  # a content delta: nothing to meter in it
        return self._obj(stripped)

    def _obj(self, data: bytes) -> bool:
        self._objs += 1
        try:
            obj = loads(data)
        except (ValueError, RecursionError) as e:
            if self._error is None:
                self._error = f"malformed JSON event skipped: {str(e)[:80]}"
            return False
        return self._acc.feed(obj) and self._strip

    # -- strip_usage_chunk ----------------------------------------------------------

    def _on_decoded_strip(self, data: bytes) -> None:
        """Strip mode sink: hold `data` until its events are complete; never raises
        except `_Stop` (give up before anything was sent: raw fallback)."""
        if not self._parsing or self._passthrough:
            self._out_add(data)  # transcoding continues without parsing
            return
        if not self._budget_ok(len(data)):
            self._give_up(None)
            self._out_add(data)
            return
        assert self._sse is not None
        if self._sse.lf_pending and data[:1] == b"\n" and not self._hold:
            # the "\n" of a "\r\n" that ended the previous event belongs to it
            if not self._dropped_last:
                self._out_add(b"\n")
            self._hold += memoryview(data)[1:]
            self._base += 1
        else:
            self._hold += data  # held before parsing: a parse failure releases it
        try:
            try:
                events = self._sse.feed(data)
            except EventTooLarge as e:
                self._strip_events(e.events)
                raise
            self._strip_events(events)
        except Exception as e:
            self._give_up(f"{type(e).__name__}: {e}")

    def _strip_events(self, events: list[Event]) -> None:
        hold = self._hold
        for ev in events:
            drop = self._event(ev)
            if drop:
                keep = ev.start - self._base  # bytes before the event's first line stay
                if keep > 0:
                    self._out_add(bytes(hold[:keep]))
                self._modified = True
            else:
                self._out_add(bytes(hold[: ev.end - self._base]))
            del hold[: ev.end - self._base]
            self._base = ev.end
            self._dropped_last = drop

    def _give_up(self, msg: str | None, *, fall_back: bool = True) -> None:
        """Stop parsing; release what was held, unchanged. Encoded and nothing sent yet:
        raise _Stop so that the raw upstream bytes are forwarded instead."""
        if msg is not None:
            self._fail(msg)
        self._parsing = False
        if self._hold:
            self._out_add(bytes(self._hold))
            self._hold.clear()
        if fall_back and not self._identity and self._raw is not None:
            raise _Stop  # nothing sent yet: forward the raw upstream bytes instead

    def _out_add(self, data: bytes) -> None:
        if not data:
            return
        self._out.append(data)
        if not self._identity:
            self._out_size += len(data)
            if self._out_size > _TRANSCODE_PIECE:
                self._compress_out()

    def _feed_strip_identity(self, chunk: bytes) -> bytes:
        try:
            self._wire += len(chunk)
            if chunk:
                self._decoder.feed(chunk)  # identity: `chunk` arrives whole in _on_decoded_strip
            else:
                self._ended = True
                if self._parsing:
                    self._finish_events()
                self._give_up(None)  # an unterminated last event goes out as it came
        except Exception as e:
            self._give_up(f"internal error: {type(e).__name__}: {e}")
        if not self._parsing:
            self._passthrough = True
        out = self._out
        if len(out) == 1 and out[0] == chunk:
            out.clear()
            return chunk  # nothing held, nothing dropped: zero copy
        data = b"".join(out)
        out.clear()
        return data

    def _feed_strip_encoded(self, chunk: bytes) -> bytes:
        if self._raw is not None:
            self._raw.append(chunk)
        try:
            self._wire += len(chunk)
            if chunk:
                self._decoder.feed(chunk)
            else:
                self._ended = True
                if self._parsing:
                    self._finish_events()
                self._give_up(None, fall_back=False)
                if self._raw is not None and not self._modified:
                    return self._fall_back()  # nothing changed: the stream as it came
            return self._emit_encoded()
        except _Stop:
            return self._fall_back()
        except Exception as e:  # DecodeError (corrupt upstream, MAX_DECODED) or internal
            msg = f"{e}" if isinstance(e, DecodeError) else f"internal error: {type(e).__name__}: {e}"
            self._fail(msg)
            try:
                self._give_up(None)
            except _Stop:
                return self._fall_back()
            # the client is inside our encoding: end it validly; the rest cannot be re-encoded
            self._error = f"{msg[:120]}; client stream ended early after {self._wire} upstream bytes"
            self._ended = True
            self._cut = True
            try:
                return self._emit_encoded()
            except Exception:
                return b""

    def _fall_back(self) -> bytes:
        """Nothing was sent yet: forward the raw upstream bytes, passthrough from now on."""
        raw = b"".join(self._raw or ())
        self._raw = None
        self._passthrough = True
        self._parsing = False
        self._out.clear()
        self._encoded.clear()
        self._hold.clear()
        self._encoder = None
        return raw

    def _compress_out(self) -> None:
        data = b"".join(self._out)
        self._out.clear()
        self._out_size = 0
        if self._encoder is None:
            assert self._decoder is not None
            self._encoder = Encoder(self._decoder.encoding, self._decoder.zlib_raw)
        if data:
            self._encoded.append(self._encoder.compress(data))

    def _emit_encoded(self) -> bytes:
        if self._out or (self._ended and self._encoder is None):
            self._compress_out()
        enc = self._encoder
        if enc is None:
            return b""
        parts = self._encoded
        if self._ended:
            parts.append(enc.finish())
            self._encoder = None
        elif parts:
            parts.append(enc.flush())
        res = b"".join(parts)
        parts.clear()
        if res:
            self._raw = None  # the client now decodes our encoding
        return res
