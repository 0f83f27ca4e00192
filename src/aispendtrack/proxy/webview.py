"""How flows look in mitmweb and the console: a cost-first comment, markers, the comment column.

Markers are mitmproxy emoji names; these four are drawn by DejaVu Sans, which stock Linux
browsers fall back to, so they stay legible without an emoji font (⛔ 🛑 ❔ did not).
"""

from __future__ import annotations

from mitmproxy import ctx

from aispendtrack.store.ledger_schema import UPSTREAM, Outcome
from aispendtrack.views.render import fmt_usd

MARK_REJECTED = ":heavy_multiplication_x:"  # ✖ 401, 403
MARK_LIMITED = ":black_medium_square:"  # ◼ 429: stopped by a limit
MARK_UNAVAILABLE = ":warning:"  # ⚠ 503: limits could not be checked
MARK_UNPRICED = ":interrobang:"  # ⁉ tokens known, price not

# mitmweb's default flow list (mitmproxy 12.3.1), which has no comment column.
MITMWEB_COLUMNS = ["tls", "icon", "path", "method", "status", "size", "time"]
WITH_COMMENT = [*MITMWEB_COLUMNS, "comment"]


def comment_for(row: dict) -> str:
    """One line for the flow list, most telling first: `$0.00033 · gpt-4o-mini · 1,200 in …`."""
    if row["outcome"] not in UPSTREAM:
        return (row.get("error") or row["outcome"]).removeprefix("AiSpendTrack: ")
    local = row["pricing"] == "local"  # $0 because it ran on the user's machine, not by a price list
    parts = ["local $0" if local else fmt_usd(row["cost_usd"], none=row["pricing"])]
    if row["model"]:
        parts.append(row["model"])
    if row["input_tokens"] is not None:
        cached = f" ({row['cache_read_tokens']:,} cached)" if row["cache_read_tokens"] else ""
        parts.append(f"{row['input_tokens']:,} in{cached}")
    if row["output_tokens"] is not None:
        reasoning = f" ({row['reasoning_tokens']:,} reasoning)" if row["reasoning_tokens"] else ""
        parts.append(f"{row['output_tokens']:,} out{reasoning}")
    if row["partial"]:
        parts.append("partial")
    if row["outcome"] != Outcome.FORWARDED:
        parts.append(row["outcome"])
    return " · ".join(parts)


def annotate(flow, rows: list[dict]) -> None:
    """A metered flow's comment (one part per ledger row: a batch download has one per model),
    and the unpriced marker when its cost is not known."""
    flow.comment = " | ".join(comment_for(row) for row in rows)
    if rows[0]["pricing"] not in ("priced", "local") and rows[0]["outcome"] == Outcome.FORWARDED and not flow.marked:
        flow.marked = MARK_UNPRICED


class WebColumns:
    """In mitmweb, adds the comment column while the user has not chosen columns."""

    def running(self) -> None:
        if "web_columns" in ctx.options and list(ctx.options.web_columns) == MITMWEB_COLUMNS:
            ctx.options.update(web_columns=WITH_COMMENT)
