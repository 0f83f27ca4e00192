"""Pure: a `Decision` → response headers and the human message of a 429.

Status headers (forwarded responses and 429s), our own prefix so the provider's
``x-ratelimit-*`` / ``anthropic-ratelimit-*`` headers pass through untouched::

    x-aispendtrack-ratelimit-limit-requests-hour      1000
    x-aispendtrack-ratelimit-remaining-requests-hour  999   (after this request)
    x-aispendtrack-ratelimit-reset-requests-hour      3600  (s until remaining goes up)
    x-aispendtrack-ratelimit-limit-requests-month     10000
    x-aispendtrack-ratelimit-remaining-requests-month 9999
    x-aispendtrack-ratelimit-reset-requests-month     431999 (s until the next UTC month)

All values are integers. An unlimited limit gets no headers at all (so integer parsers
never see a word); a blocked limit (0) shows limit 0, remaining 0, reset 0. Reset
seconds are ceil'd and 0 when there is nothing to reset.

429 headers add ``retry-after`` (whole seconds, ceil, >= 1), ``retry-after-ms`` (exact
ceil in ms; the OpenAI / Anthropic SDKs read it first; ``ceil(ms / 1000) ==
retry-after`` always) and ``x-should-retry: true|false``: true only for an hourly 429
whose wait is at most `SDK_RETRY_WAIT_MAX` seconds; false for the monthly limit, a
blocked key, and long hourly waits (the caller gets the error and its exact wait at once). A blocked key (limit 0) gets no ``retry-after``: no wait helps.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from aispendtrack.limits import budget as budget_rules
from aispendtrack.limits.window import Decision, millis_until, reset_seconds
from aispendtrack.views.formats import fmt_duration

OURS = "x-aispendtrack-"  # every status header we add starts so
PREFIX = OURS + "ratelimit-"
BUDGET_PREFIX = OURS + "budget-"
# Longest wait we invite SDKs to retry after; tools built on the SDKs give up above 60 s.
SDK_RETRY_WAIT_MAX = 60


def _status(prefix_suffix: str, limit: int | None, remaining: int | None, reset: int) -> dict:
    if limit is None:
        return {}
    return {
        f"{PREFIX}limit-requests-{prefix_suffix}": str(limit),
        f"{PREFIX}remaining-requests-{prefix_suffix}": str(remaining),
        f"{PREFIX}reset-requests-{prefix_suffix}": str(reset),
    }


def status_headers(d: Decision) -> dict[str, str]:
    """Rate-limit status headers to add to a forwarded response (or a 429)."""
    return {
        **_status("hour", d.hourly_limit, d.hourly_remaining, reset_seconds(d.now, d.hourly_reset)),
        **_status(
            "month", d.monthly_limit, d.monthly_remaining, reset_seconds(d.now, d.monthly_reset)
        ),
        **budget_headers(d),
    }


def _budget_in_question(d: Decision):
    """The refusing budget, else the one with the least left (key's or account's)."""
    r = d.budget
    return None if r is None else (r.refused_by or r.tightest)


def budget_headers(d: Decision) -> dict[str, str]:
    """``x-aispendtrack-budget-{limit,remaining}-usd`` (decimal USD, remaining after this
    call's hold) and ``-reset-seconds`` (absent for a ``total`` budget), for the tighter of
    the key's and the account's budget; none without a budget."""
    s = _budget_in_question(d)
    if s is None:
        return {}
    h = {f"{BUDGET_PREFIX}limit-usd": budget_rules.usd_text(s.budget.limit_nano),
         f"{BUDGET_PREFIX}remaining-usd": budget_rules.usd_text(s.remaining_nano)}
    if s.reset_at is not None:
        h[f"{BUDGET_PREFIX}reset-seconds"] = str(reset_seconds(d.now, s.reset_at))
    return h


def budget_message(d: Decision, amount_nano: int) -> str:
    """The 429 text of a budget refusal: which budget, spent and held, when it resets."""
    s = _budget_in_question(d)
    who = f"key {s.budget.subject}" if s.budget.scope == "key" else f"account {s.budget.subject}"
    period = budget_rules.period_label(s.budget.period, s.period_key)
    usd = budget_rules.usd_text
    msg = (f"AiSpendTrack budget exceeded: the {s.budget.period} budget of ${usd(s.budget.limit_nano)}"
           f" for {who} ({period}) has ${usd(s.spent_nano)} spent and ${usd(s.reserved_nano)} held by calls"
           f" in flight; this call may cost up to ${usd(amount_nano)}")
    if s.reset_at is None:
        return msg + "; a total budget never resets: raise it to admit more calls"
    return msg + f"; it resets at {_iso_second(s.reset_at)} (in {fmt_duration(reset_seconds(d.now, s.reset_at))})"


def rejection_headers(d: Decision) -> dict[str, str]:
    """Headers of the 429 answering a denied request: retry hints, then status."""
    if d.admitted:
        raise ValueError("rejection_headers() of an admitted request")
    h: dict[str, str] = {}
    if d.retry_after is not None:
        h["retry-after"] = str(d.retry_after)
        h["retry-after-ms"] = str(millis_until(d.now, d.retry_at))
    # Only a wait an SDK can sensibly sit out: anthropic 2.x sleeps any retry-after it is
    # allowed to retry, so "true" on an hour-long wait would block the caller for hours.
    short = d.retry_after is not None and d.retry_after <= SDK_RETRY_WAIT_MAX
    h["x-should-retry"] = "true" if d.should_retry and short else "false"
    h.update(status_headers(d))
    return h


def _iso_second(epoch: float) -> str:
    return datetime.fromtimestamp(math.ceil(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rejection_message(d: Decision, tier: str | None = None) -> str:
    """One sentence for the error body: which limit, its size, when it resets (and, on
    the free tier's monthly limit, that upgrading lifts it)."""
    if d.admitted:
        raise ValueError("rejection_message() of an admitted request")
    if d.limit == "monthly":
        what = (
            f"AiSpendTrack monthly limit of {d.monthly_limit} calls per calendar month (UTC)"
            f" for account {d.account} reached for {d.month}"
        )
        if d.monthly_limit == 0 or d.retry_at is None:
            return f"{what}; calls are not admitted for this account"
    else:
        what = (
            f"AiSpendTrack hourly rate limit of {d.hourly_limit} requests per hour"
            f" for key {d.key_id} reached"
        )
        if d.hourly_limit == 0 or d.retry_at is None:
            return f"{what}; requests are not admitted for this key"
    # ceil: a request at the shown (whole) second is admitted, as is one after retry_after s
    message = f"{what}; next request admitted in {fmt_duration(d.retry_after)} (at {_iso_second(d.retry_at)})"
    if d.limit == "monthly" and tier == "free":
        message += (f": the month resets at {_iso_second(d.monthly_reset)}; wait until then, or upgrade the account's"
                    " tier to lift this limit")
    return message
