"""Strip mode of `StreamMeter` (`strip_usage_chunk`): forwards complete events only, minus
the usage chunk. Fail-safe design:
- identity: held bytes are released unchanged on any problem, then raw bytes pass through;
- content-encoded: the stream is decoded and re-encoded. Until the first encoded byte
  goes out, the raw upstream chunks are kept, so any problem falls back to forwarding
  them byte for byte (passthrough from then on). Once our encoding has started, the
  client's stream is ours to the end: a parse problem (oversized event, budget) only
  stops parsing and transcoding continues (decoded content unchanged); an upstream that
  can no longer be decoded (corrupt, or over MAX_DECODED) cannot be re-encoded, so the
  client's stream is ended cleanly (a valid encoding of everything decodable) and the
  undecodable rest is not forwarded (recorded in the meter's error).

The `Stripper` owns the bytes (hold buffer, encoder, raw fallback); the meter that created
it keeps the parsing (SSE parser, CPU budget, usage accounting, error) and offers it through
the small `Host` interface below, so neither side touches the other's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aispendtrack.meter.decode import Decoder, DecodeError, Encoder
from aispendtrack.meter.sse import Event

_TRANSCODE_PIECE = 1024 * 1024  # decoded bytes encoded at a time (bounded memory)


class Stop(Exception):
    """Raised from the decoder sink to stop decoding (parsing has stopped, nothing to transcode)."""


class Host(Protocol):
    """The parsing side a `Stripper` works for (`StreamMeter`)."""

    @property
    def parsing(self) -> bool:
        """False once parsing stopped (error, budget, oversized event)."""

    @property
    def lf_pending(self) -> bool:
        """The last event ended on "\\r": a "\\n" first in the next bytes belongs to it."""

    @property
    def wire(self) -> int:
        """Upstream bytes received so far."""

    def stop(self, msg: str | None = None, *, replace: bool = False) -> None:
        """Stop parsing; record `msg` as the error (if none yet, or `replace`)."""

    def budget_ok(self, n: int) -> bool:
        """Account `n` decoded bytes about to be parsed; False when the CPU budget is spent."""

    def parse(self, data: bytes, handle: Callable[[Event], None]) -> None:
        """Parse `data`, calling `handle` for each complete event; raises on a parse error."""

    def account(self, ev: Event) -> bool:
        """Meter one event; True if it is the usage-only chunk to drop."""

    def finish_events(self) -> None:
        """End of stream: meter an unterminated last event."""


class Stripper:
    """Forwards a streamed response's complete events, minus the usage-only chunk.

    `feed(chunk)` returns the bytes to forward (b"" = end of stream). The stripper becomes
    the sink of `decoder`, which must be the host's decoder of the same stream.
    """

    def __init__(self, host: Host, decoder: Decoder) -> None:
        self._host = host
        self._decoder = decoder
        self._identity = decoder.encoding == "identity"
        # decoded bytes since the last event boundary, at stream offset _base
        self._hold = bytearray()
        self._base = 0
        self._out: list[bytes] = []  # decoded bytes to forward
        self._out_size = 0
        self._dropped_last = False
        self._modified = False  # an event was dropped
        self._passthrough = False  # strip mode gave up: raw bytes pass from now on
        self._ended = False
        # encoded streams
        self._encoder: Encoder | None = None
        self._encoded: list[bytes] = []  # encoder output not yet returned
        self._raw: list[bytes] | None = []  # raw chunks fed while nothing has been returned
        self._cut = False  # our encoded stream was ended early (upstream undecodable)
        decoder.sink = self.on_decoded

    def feed(self, chunk: bytes) -> bytes:
        if self._passthrough:
            return chunk
        if self._cut:
            return b""
        if self._identity:
            return self._feed_identity(chunk)
        return self._feed_encoded(chunk)

    def on_decoded(self, data: bytes) -> None:
        """Decoder sink: hold `data` until its events are complete; never raises
        except `Stop` (give up before anything was sent: raw fallback)."""
        host = self._host
        if not host.parsing or self._passthrough:
            self._out_add(data)  # transcoding continues without parsing
            return
        if not host.budget_ok(len(data)):
            self._give_up(None)
            self._out_add(data)
            return
        if host.lf_pending and data[:1] == b"\n" and not self._hold:
            # the "\n" of a "\r\n" that ended the previous event belongs to it
            if not self._dropped_last:
                self._out_add(b"\n")
            self._hold += memoryview(data)[1:]
            self._base += 1
        else:
            self._hold += data  # held before parsing: a parse failure releases it
        try:
            host.parse(data, self._event)
        except Exception as e:
            self._give_up(f"{type(e).__name__}: {e}")

    def _event(self, ev: Event) -> None:
        hold = self._hold
        drop = self._host.account(ev)
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
        raise Stop so that the raw upstream bytes are forwarded instead."""
        self._host.stop(msg)
        if self._hold:
            self._out_add(bytes(self._hold))
            self._hold.clear()
        if fall_back and not self._identity and self._raw is not None:
            raise Stop  # nothing sent yet: forward the raw upstream bytes instead

    def _out_add(self, data: bytes) -> None:
        if not data:
            return
        self._out.append(data)
        if not self._identity:
            self._out_size += len(data)
            if self._out_size > _TRANSCODE_PIECE:
                self._compress_out()

    def _end(self, *, fall_back: bool = True) -> None:
        """End of stream: account an unterminated last event, then release what is held."""
        self._ended = True
        if self._host.parsing:
            self._host.finish_events()
        self._give_up(None, fall_back=fall_back)

    def _feed_identity(self, chunk: bytes) -> bytes:
        try:
            if chunk:
                self._decoder.feed(chunk)  # identity: `chunk` arrives whole in on_decoded
            else:
                self._end()  # an unterminated last event goes out as it came
        except Exception as e:
            self._give_up(f"internal error: {type(e).__name__}: {e}")
        if not self._host.parsing:
            self._passthrough = True
        out = self._out
        if len(out) == 1 and out[0] == chunk:
            out.clear()
            return chunk  # nothing held, nothing dropped: zero copy
        data = b"".join(out)
        out.clear()
        return data

    def _feed_encoded(self, chunk: bytes) -> bytes:
        if self._raw is not None:
            self._raw.append(chunk)
        try:
            if chunk:
                self._decoder.feed(chunk)
            else:
                self._end(fall_back=False)
                if self._raw is not None and not self._modified:
                    return self._fall_back()  # nothing changed: the stream as it came
            return self._emit_encoded()
        except Stop:
            return self._fall_back()
        except Exception as e:  # DecodeError (corrupt upstream, MAX_DECODED) or internal
            msg = f"{e}" if isinstance(e, DecodeError) else f"internal error: {type(e).__name__}: {e}"
            self._host.stop(msg)
            try:
                self._give_up(None)
            except Stop:
                return self._fall_back()
            # the client is inside our encoding: end it validly; the rest cannot be re-encoded
            wire = self._host.wire
            self._host.stop(f"{msg[:120]}; client stream ended early after {wire} upstream bytes", replace=True)
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
        self._host.stop()
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
