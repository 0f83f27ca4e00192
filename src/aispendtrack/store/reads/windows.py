"""Usage windows as the views show them.

A key's sliding hour and an account's calendar month come from the limiter's own
counters (`rate_events`, `monthly_usage`) when the limiter keeps them — for accounts
with any limit. Unlimited accounts keep no counter (the limiter skips them), so their
usage is what the ledger metered: calls that reached the provider, the key's hour from
the ledger (an index seek on key and time), the account's month from the daily sums.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aispendtrack.limits.window import WINDOW, expiry, month_bounds, window_cut
from aispendtrack.store.conn import Conn
from aispendtrack.store.db import iso, parse_iso
from aispendtrack.store.ledger_schema import UPSTREAM, sql_in
from aispendtrack.store.reads.daily import upstream_calls
from aispendtrack.store.reads.rows import Counted

def key_hour(conn: Conn, key_id: str, now: float, *, limiter: bool) -> Counted:
    """The key's requests in the sliding hour `(now - 3600, now]` and when the oldest of
    them stops counting: the limiter's count when it keeps one (`limiter`), else the
    ledger's calls that reached the provider."""
    if limiter:
        used, oldest = conn.execute("SELECT COUNT(*), MIN(ts) FROM rate_events WHERE key_id = ? AND ts > ?",
                                    [key_id, window_cut(now)]).fetchone()
        return Counted(used, None if oldest is None else expiry(oldest), "limits")
    used, oldest = conn.execute(
        f"SELECT COUNT(*), MIN(ts) FROM calls WHERE key_id = ? AND ts > ? AND ts <= ? AND outcome IN {sql_in(UPSTREAM)}",
        [key_id, iso(now - WINDOW), iso(now)],
    ).fetchone()
    return Counted(used, None if oldest is None else parse_iso(oldest).timestamp() + WINDOW, "ledger")


def account_month(conn: Conn, account: str, now: float, *, limiter: bool) -> Counted:
    """The account's calls in the UTC calendar month of `now`: the limiter's counter when
    it keeps one (`limiter`), else the daily sums' calls that reached the provider (of
    every day of the month through `now`'s). `resets_at` is the view's: the month's end."""
    month, start, _ = month_bounds(now)
    if limiter:
        row = conn.execute("SELECT calls FROM monthly_usage WHERE account = ? AND month = ?",
                           [account, month]).fetchone()
        return Counted(row[0] if row else 0, None, "limits")
    today = datetime.fromtimestamp(now, UTC).date().isoformat()
    first = datetime.fromtimestamp(start, UTC).date().isoformat()
    return Counted(upstream_calls(conn, account, first, today), None, "ledger")

