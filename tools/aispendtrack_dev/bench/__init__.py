"""Benchmark harness: ``python -m aispendtrack_dev.bench`` (or ``scripts/bench``).

Measures, side by side and interleaved, a load generator talking to a local fake
provider directly, through bare ``mitmdump`` (reverse mode, no script) and through
``mitmdump`` with the AiSpendTrack addon (limits on and off), plus per-call micro-costs
of the addon's building blocks. Modules:

- ``run``       flags and orchestration, JSON
- ``procs``     child processes: spawn, wait for a port, read a line, stop
- ``scenarios`` configurations, their processes, one measured cell, the round-robin schedule
- ``stats``     medians, min–max spread, paired ratios and targets
- ``checks``    harness checks: fake tallies and ledger rows per configuration
- ``profiling`` ``--profile``: py-spy on the addon process, busy stacks per request
- ``table``     the rich tables
- ``load``      asyncio load generator (runs as its own process)
- ``conn``      its raw-socket HTTP/1.1 keep-alive connection and response parser
- ``fake``      the fake provider process, tallying what it received per configuration
- ``micro``     micro-costs: limiter, ledger writer, metering + pricing, report
"""
