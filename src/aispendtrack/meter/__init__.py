"""Pure usage metering: response bodies and streams → tokens (no mitmproxy, no I/O)."""

from aispendtrack.meter.body import meter_body
from aispendtrack.meter.request import inject_stream_usage, request_info
from aispendtrack.meter.stream import MAX_EVENT, StreamMeter
from aispendtrack.meter.types import Metered, RequestInfo

__all__ = ["MAX_EVENT", "Metered", "RequestInfo", "StreamMeter", "inject_stream_usage", "meter_body", "request_info"]
