import csv
import io
import itertools
import json
import sqlite3
import tracemalloc
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from aispendtrack.store import open_store
from aispendtrack.store.ledger_schema import to_db_row
from aispendtrack.views.export import EXPORT_FIELDS, csv_cell, export_command, export_rows, parse_bound, write_csv
from support.store_reads import insert, open_engine

CONTRACT = [
    "ts", "key_id", "account", "provider", "api", "model", "status", "outcome", "streamed",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_usd", "pricing", "latency_ms",
]  # fmt: skip


def row(ts, **over):
    r = {
        "ts": ts, "key_id": "key_a", "key_hint": "ask_…abcd", "account": "acme",
        "provider": "openai", "api": "chat", "model": "gpt-4o-mini", "status": 200,
        "outcome": "forwarded", "streamed": False, "partial": False, "input_tokens": 100,
        "output_tokens": 20, "cost_usd": Decimal("0.000123"), "pricing": "priced",
        "cost_source": "genai-prices", "latency_ms": 812.5, "usage_json": {"prompt_tokens": 100},
        "path": "/v1/chat/completions", "method": "POST",
    }  # fmt: skip
    r.update(over)
    return to_db_row(r)


LEDGER = [
    row("2026-10-31T23:59:59.999999Z", account="other", key_id="key_b"),
    row("2026-11-01T00:00:00.000000Z", streamed=True, cost_usd=Decimal("1.5E-7")),
    row("2026-11-15T12:00:00.000000Z", key_id="key_b", cost_usd=None, pricing="unpriced",
        cache_read_tokens=None, input_tokens=0, output_tokens=None, latency_ms=None),
    row("2026-11-30T23:59:59.999999Z", account="other", outcome="rate_limited", status=429,
        cost_usd=None, pricing="unmetered", input_tokens=None, output_tokens=None,
        streamed=None, usage_json=None),
    row("2026-12-01T00:00:00.000000Z"),
]  # fmt: skip


@pytest.fixture
def ledger(tmp_path):
    with open_store(tmp_path / "ledger.db") as store:
        insert(store, LEDGER, validate=False)
        return store.target


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_store_streams_rows_in_order_on_every_engine(tmp_path, engine):
    """The rows and their order, filters and types are the store's, whatever the engine."""
    with open_engine(engine, tmp_path) as store:
        insert(store, reversed(LEDGER), validate=False)
        got = [r["ts"][5:10] for r in export_rows(store, account="other")]
        assert got == ["10-31", "11-30"]
        rows = list(export_rows(store, since=datetime(2026, 11, 1, tzinfo=UTC), key="key_b"))
        assert [r["ts"] for r in rows] == ["2026-11-15T12:00:00.000000Z"]
        assert rows[0]["input_tokens"] == 0 and rows[0]["output_tokens"] is None and rows[0]["cost_usd"] is None
        first = next(r for r in export_rows(store) if r["streamed"])
        assert first["cost_usd"] == "0.00000015" and first["usage_json"] == {"prompt_tokens": 100}


def run(ledger, *args):
    result = CliRunner().invoke(
        export_command, list(args), obj={"db_path": ledger, "config_path": "mitm.toml"}
    )
    return result


def jsonl(ledger, *args):
    result = run(ledger, *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_jsonl_fields_order_and_types(ledger):
    rows = jsonl(ledger)
    assert [r["ts"] for r in rows] == sorted(r["ts"] for r in rows)
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert list(rows[0])[: len(CONTRACT)] == CONTRACT
    first = rows[1]
    assert first["ts"] == "2026-11-01T00:00:00.000000Z"
    assert first["streamed"] is True and rows[0]["streamed"] is False
    assert first["cost_usd"] == "0.00000015"
    assert rows[0]["cost_usd"] == "0.000123"
    assert first["usage_json"] == {"prompt_tokens": 100}
    assert first["status"] == 200 and first["latency_ms"] == 812.5


def test_nulls_stay_null_never_zero(ledger):
    rows = {r["ts"][:10]: r for r in jsonl(ledger)}
    unpriced = rows["2026-11-15"]
    assert unpriced["cost_usd"] is None and unpriced["pricing"] == "unpriced"
    assert unpriced["cache_read_tokens"] is None and unpriced["output_tokens"] is None
    assert unpriced["input_tokens"] == 0  # a real zero stays zero
    assert unpriced["latency_ms"] is None
    rejected = rows["2026-11-30"]
    assert rejected["streamed"] is None and rejected["usage_json"] is None
    assert rejected["input_tokens"] is None


@pytest.mark.parametrize(
    "args, expected",
    [
        ((), ["10-31", "11-01", "11-15", "11-30", "12-01"]),
        (("--since", "2026-11-01"), ["11-01", "11-15", "11-30", "12-01"]),
        (("--until", "2026-11-30"), ["10-31", "11-01", "11-15", "11-30"]),
        (("--until", "2026-12-01T00:00:00Z"), ["10-31", "11-01", "11-15", "11-30"]),
        (("--since", "2026-11-01", "--until", "2026-11-30"), ["11-01", "11-15", "11-30"]),
        (("--since", "2026-11-15", "--until", "2026-11-15"), ["11-15"]),
        (("--since", "2026-11-01T01:00:00+01:00"), ["11-01", "11-15", "11-30", "12-01"]),
        (("--since", "2026-11-01T00:00:00.000001"), ["11-15", "11-30", "12-01"]),
        (("--until", "2026-11-30T23:59:59.999999Z"), ["10-31", "11-01", "11-15"]),
        (("--account", "other"), ["10-31", "11-30"]),
        (("--key", "key_b"), ["10-31", "11-15"]),
        (("--account", "acme", "--key", "key_b"), ["11-15"]),
        (("--account", "nobody"), []),
    ],
)
def test_filters(ledger, args, expected):
    assert [r["ts"][5:10] for r in jsonl(ledger, *args)] == expected


def test_csv(ledger):
    result = run(ledger, "--format", "csv", "--since", "2026-11-01", "--until", "2026-11-30")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.output)))
    assert table[0] == list(EXPORT_FIELDS)
    rows = [dict(zip(table[0], r)) for r in table[1:]]
    assert [r["streamed"] for r in rows] == ["true", "false", ""]
    assert [r["cost_usd"] for r in rows] == ["0.00000015", "", ""]
    assert rows[1]["cache_read_tokens"] == "" and rows[1]["input_tokens"] == "0"
    assert rows[0]["usage_json"] == '{"prompt_tokens":100}'
    assert rows[0]["key_hint"] == "ask_…abcd"


# Cells a spreadsheet would run as a formula (OWASP's list), and look-alikes it would not.
FORMULAS = ['=HYPERLINK("http://evil.example/x","click")', "@SUM(1+1)", "+1+1", "-2+3", "\tx", "\rx"]
HARMLESS = ["gpt-4o-mini", " =1", "'=1", "a=b", "x\r=1,y"]  # a CR inside a cell is quoted, not a new row


@pytest.fixture
def hostile(tmp_path):
    with open_store(tmp_path / "hostile.db") as store:
        insert(store, [row(f"2026-11-01T00:00:{i:02}.000000Z", model=m, path=f"/v1/{m}", error=m)
                       for i, m in enumerate(FORMULAS + HARMLESS)], validate=False)
        return store.target


def test_csv_cells_that_start_a_formula_are_quoted(hostile):
    result = run(hostile, "--format", "csv")
    assert result.exit_code == 0, result.output
    table = list(csv.reader(io.StringIO(result.output)))
    rows = [dict(zip(table[0], r)) for r in table[1:]]
    expected = ["'" + m for m in FORMULAS] + HARMLESS
    assert [r["model"] for r in rows] == expected
    assert [r["error"] for r in rows] == expected  # every column, not just the model
    assert all(r["path"].startswith("/v1/") for r in rows)
    assert [r["model"] for r in jsonl(hostile)] == FORMULAS + HARMLESS, "JSONL keeps the values as they are"


@pytest.mark.parametrize("value, cell", [
    (None, ""), (True, "true"), (False, "false"), (0, "0"), (-5, "'-5"), (812.5, "812.5"),
    ({"a": "=1"}, '{"a":"=1"}'), (["-x"], '["-x"]'), ("-", "'-"), ("", ""),
])  # fmt: skip
def test_csv_cell(value, cell):
    assert csv_cell(value) == cell


def test_csv_header_even_when_empty(ledger):
    result = run(ledger, "--format", "csv", "--account", "nobody")
    assert result.output == ",".join(EXPORT_FIELDS) + "\n"


def test_output_file(ledger, tmp_path):
    out = tmp_path / "out.jsonl"
    result = run(ledger, "-o", str(out))
    assert result.exit_code == 0 and result.output == ""
    assert len(out.read_text().splitlines()) == 5


@pytest.mark.parametrize("option", ["--since", "--until"])
def test_bad_date_names_option(ledger, option):
    result = run(ledger, option, "last tuesday")
    assert result.exit_code == 2
    assert option in result.output and "last tuesday" in result.output


def test_until_before_since_is_an_error(ledger):
    result = run(ledger, "--since", "2026-12-01", "--until", "2026-11-01")
    assert result.exit_code == 2 and "--until" in result.output


def test_missing_db_is_not_created(tmp_path):
    missing = tmp_path / "nope.db"
    result = run(str(missing))
    assert result.exit_code == 1
    assert str(missing) in result.output
    assert not missing.exists()


def test_db_without_calls_table_is_empty_ledger(tmp_path):
    path = tmp_path / "keys-only.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x)").connection.close()  # a database, not ours yet
    assert run(str(path)).output == ""


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T09:30", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        ("2026-11-01T09:30:00Z", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
        ("2026-11-01T10:30:00+01:00", datetime(2026, 11, 1, 9, 30, tzinfo=UTC)),
    ],
)
def test_parse_bound(text, expected):
    assert parse_bound(text) == expected


def test_until_means_the_same_in_report_and_export(ledger):
    from aispendtrack.views.periods import resolve_period
    from aispendtrack.views.report import report

    exported = jsonl(ledger, "--since", "2026-11-01", "--until", "2026-11-30")
    since, until = resolve_period(since="2026-11-01", until="2026-11-30")
    with open_store(ledger) as store:
        assert report(store, since=since, until=until).totals.calls == len(exported) == 3
    assert parse_bound("2026-11-30", end=True) == until == datetime(2026, 12, 1, tzinfo=UTC)


def test_export_rows_accepts_date_and_is_lazy(ledger):
    with open_store(ledger) as store:
        it = export_rows(store, since=date(2026, 11, 1), until=None, account=None, key=None)
        assert next(it)["ts"] == "2026-11-01T00:00:00.000000Z"
        it.close()


class Sink(io.TextIOBase):
    def __init__(self):
        self.chars = 0

    def write(self, s):
        self.chars += len(s)
        return len(s)


def test_large_ledger_streams_with_bounded_memory(tmp_path):
    store = open_store(tmp_path / "big.db")
    n = 100_000
    template = row("2026-11-01T00:00:00.000000Z")
    cols = list(template)
    ts_i = cols.index("ts")
    values = list(template.values())

    def gen():
        for i in range(n):
            values[ts_i] = f"2026-11-01T00:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:06d}Z"
            yield tuple(values)

    with store.connection() as conn, conn.tx():
        conn.executemany(f"INSERT INTO calls ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", gen())

    # Trace allocations while the first rows come out (a fetchall would peak at the first
    # row, at tens of MB), then count the rest untraced (tracemalloc is slow).
    rows = export_rows(store, since=None, until=None, account=None, key=None)
    sink = Sink()
    tracemalloc.start()
    try:
        first = write_csv(itertools.islice(rows, 5_000), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rest = write_csv(rows, sink)
    store.close()
    assert first + rest == n
    assert sink.chars > 20_000_000  # ~250 bytes a row went through
    assert peak < 2_000_000, f"peak {peak} bytes: export is not streaming"
