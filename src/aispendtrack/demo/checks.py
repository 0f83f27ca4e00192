"""What the demo checks: the ledger as the demo process reads it, and the expected rows."""

from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation
from aispendtrack.store.base import SqlStore
from aispendtrack.store.keytext import hint
from aispendtrack.store.ledger_schema import Outcome
from aispendtrack.views.formats import fmt_int, fmt_usd

ROW_WAIT = 5.0  # a ledger row is committed before the client sees the end of the response

_KEY_RE = re.compile(r"ask_[A-Za-z0-9]{32}")


def redact(text: str) -> str:
    """Never print a plaintext key, whatever a message echoes."""
    return _KEY_RE.sub(lambda m: hint(m.group(0)), text)


class StepFailed(Exception):
    """A scenario did not behave as documented; the message says how."""


class Ledger:
    """The ledger rows the demo's calls add (the demo's database holds only those)."""

    def __init__(self, store: SqlStore):
        self.store = store
        self.last_id = max((r["id"] for r in self._rows()), default=0)

    def _rows(self) -> list[dict]:
        return sorted((r._asdict() for r in self.store.export_rows()), key=lambda r: r["id"])

    def new_rows(self, n: int = 1, wait: float = ROW_WAIT) -> list[dict]:
        """The rows written since the last call; waits (bounded) for at least `n`."""
        deadline = time.monotonic() + wait
        while True:
            rows = [r for r in self._rows() if r["id"] > self.last_id]
            if len(rows) >= n or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if rows:
            self.last_id = rows[-1]["id"]
        return rows

    def one(self) -> dict:
        rows = self.new_rows(1)
        if not rows:
            raise StepFailed(f"no ledger row within {ROW_WAIT:g} s")
        return rows[-1]


def _cost(row: dict) -> Decimal | None:
    if row.get("cost_usd") is None:
        return None
    try:
        return Decimal(str(row["cost_usd"]))
    except InvalidOperation:
        return None


def describe(row: dict) -> str:
    """`200 · gpt-4o-mini · 1,200 in (400 cached) / 300 out (50 reasoning) · $0.000468`."""
    i = fmt_int
    inp = f"{i(row['input_tokens'])} in"
    extras = []
    if row.get("cache_read_tokens"):
        extras.append(f"{i(row['cache_read_tokens'])} cached")
    if row.get("cache_write_tokens"):
        extras.append(f"{i(row['cache_write_tokens'])} cache write")
    if extras:
        inp += f" ({', '.join(extras)})"
    out = f"{i(row['output_tokens'])} out"
    if row.get("reasoning_tokens"):
        out += f" ({i(row['reasoning_tokens'])} reasoning)"
    cost = fmt_usd(_cost(row)) if row.get("cost_usd") is not None else str(row.get("pricing") or "—")
    return f"{row['status']} · {row['model'] or '—'} · {inp} / {out} · {cost}"


def check_metered(row: dict, *, provider: str, api: str, streamed: bool, output: bool = True,
                  cache_write: bool = False) -> None:  # fmt: skip
    """A forwarded call: the documented ledger row with tokens and a cost."""
    problems = []
    expect = {"status": 200, "outcome": Outcome.FORWARDED.value, "provider": provider, "api": api, "streamed": int(streamed)}
    for col, want in expect.items():
        if row.get(col) != want:
            problems.append(f"{col} {row.get(col)!r}, expected {want!r}")
    if not row.get("input_tokens"):
        problems.append(f"input_tokens {row.get('input_tokens')!r}")
    if output and not row.get("output_tokens"):
        problems.append(f"output_tokens {row.get('output_tokens')!r}")
    if cache_write and not (row.get("cache_read_tokens") and row.get("cache_write_tokens")):
        problems.append(f"cache read/write {row.get('cache_read_tokens')!r}/{row.get('cache_write_tokens')!r}")
    cost = _cost(row)
    if row.get("pricing") != "priced" or cost is None or cost <= 0:
        problems.append(f"pricing {row.get('pricing')!r}, cost {row.get('cost_usd')!r}")
    if problems:
        raise StepFailed("ledger row: " + "; ".join(problems))


def check_refused(row: dict, status: int, outcome: Outcome) -> None:
    if row.get("status") != status or row.get("outcome") != outcome:
        raise StepFailed(f"ledger row: status {row.get('status')!r} outcome {row.get('outcome')!r}, "
                         f"expected {status} {outcome}")  # fmt: skip


def api_message(e: Exception) -> str:
    """The error message inside an SDK exception's body, else the exception text."""
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        if isinstance(inner.get("message"), str):
            return redact(inner["message"])
    return redact(str(e))
