"""The `serve` that `aispendtrack run` started next to the proxy: said in the proxy's log
when it stops.

`run` starts `serve` as its child and then becomes mitmdump (exec), so the child is this
process's own; `run` names it in the environment. Without a report, a `serve` that died
(killed, out of memory, a crash) would leave the API, the dashboard and webhook delivery
down while the proxy looks fine.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

PID_ENV = "AISPENDTRACK_SERVE_PID"
URL_ENV = "AISPENDTRACK_SERVE_URL"


def how_it_ended(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code >= 0:
        return f"exit code {code}"
    try:
        return f"killed by {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


class ServeWatch:
    """Waits for the `serve` child named by `$AISPENDTRACK_SERVE_PID` (none: nothing to do)."""

    def running(self) -> None:
        pid = os.environ.pop(PID_ENV, "")
        url = os.environ.pop(URL_ENV, "")
        if pid.isdigit():
            threading.Thread(target=self._wait, args=(int(pid), url), name="aispendtrack-serve-watch",
                             daemon=True).start()

    @staticmethod
    def _wait(pid: int, url: str) -> None:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # not our child (the variable came from elsewhere)
            return
        # A warning, as the ledger's own problems are: mitmdump exits on an error logged
        # while it starts, and the proxy must go on.
        log.warning(
            "AiSpendTrack serve (%s) stopped (%s): the HTTP API, the dashboard and webhook delivery are down "
            "while the proxy goes on; its output above says why. Restart aispendtrack run to start it again.",
            url or f"pid {pid}", how_it_ended(status),
        )
