"""The session summary: what this mitmdump run metered, on exit and on demand.

`aispendtrack.summary` is a mitmproxy command (console, mitmweb's command bar,
`mitmdump` scripts); the same text goes to the event log. On exit the summary is printed
to the terminal with rich.
"""

from __future__ import annotations

import logging
import sys

from mitmproxy import command
from rich.console import Console

from aispendtrack.proxy.state import Runtime
from aispendtrack.views.stats import render_summary, summary_text

log = logging.getLogger(__name__)


class Summary:
    """Shows the runtime's session totals (kept O(1) per flow by metering)."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def done(self) -> None:
        stats = self._named()
        # stderr: mitmdump's own flow output owns stdout, and pipes stay parseable.
        console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 120)
        console.print(render_summary(stats))
        sys.stderr.flush()

    @command.command("aispendtrack.summary")
    def summary(self) -> str:
        """Calls, tokens and cost metered in this session, per model and per key."""
        text = summary_text(self._named())
        log.info("%s", text)
        return text

    def _named(self):
        """The session with its keys' names (rows carry ids; the key cache knows the names)."""
        stats, cache = self.rt.session, self.rt.keycache
        for key_id in stats.by_key:
            record = cache.by_id.get(key_id) if cache is not None and key_id else None
            if record is not None and record.name:
                stats.key_names[key_id] = record.name
        return stats
