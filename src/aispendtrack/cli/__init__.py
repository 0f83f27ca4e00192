"""The `aispendtrack` command line: accounts, keys, reports, the runner and the demo."""

from aispendtrack.cli.main import main

__all__ = ["main"]
