"""Benchmark harness: ``python -m aispendtrack.bench`` (or ``scripts/bench``).

Measures, side by side and interleaved, a load generator talking to a local fake
provider directly, through bare ``mitmdump`` (reverse mode, no script) and through
``mitmdump`` with the AiSpendTrack addon (limits on and off), plus per-call micro-costs
of the addon's building blocks. Modules:

- ``run``   orchestration, processes, tables, JSON, ``--profile``
- ``load``  asyncio raw-socket HTTP/1.1 load generator (runs as its own process)
- ``fake``  the fake provider process, tallying what it received per configuration
- ``micro`` micro-costs: limiter, ledger writer, metering + pricing, report
"""
