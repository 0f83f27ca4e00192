"""`aispendtrack db`: check the database (reachable, schema version, clock skew), and copy
a SQLite store into PostgreSQL (`db migrate`). A PostgreSQL URL is only ever shown without
its password (`store.describe_target`)."""

from __future__ import annotations

from pathlib import Path

import click

from aispendtrack.cli.common import console, load_config
from aispendtrack.store import clock, describe_target, is_url, open_store
from aispendtrack.store.migrate import too_new
from aispendtrack.store.records import StoreError


@click.group("db")
def db_group() -> None:
    """The database: check it, or copy a SQLite store into PostgreSQL."""


@db_group.command("check")
@click.option("--max-skew-ms", type=click.IntRange(min=1), default=None,
              help="Clock skew allowed, in ms. Default: [database] max_clock_skew_ms (500).")
@click.pass_context
def db_check(ctx: click.Context, max_skew_ms: int | None) -> None:
    """Is the database reachable, is its schema this AiSpendTrack's, how far is this
    machine's clock from the database server's? Exits 1 when any is wrong."""
    target = ctx.obj["db_path"]
    bound = max_skew_ms or load_config(ctx).database.max_clock_skew_ms
    console.print(f"database: {describe_target(target)}", markup=False)
    if not is_url(target) and not Path(target).exists():
        _fail(f"reachable: no (no database file at {target}; any aispendtrack command creates it)")
    try:
        store = open_store(target, migrate_schema=False)
    except Exception as e:
        _fail(f"reachable: no ({_clean(e, target)})")
    ok = True
    with store:
        console.print(f"reachable: yes ({store.engine})", markup=False)
        try:
            have, known = store.schema_versions()
            skew = store.clock_skew()
        except Exception as e:
            _fail(f"reachable: no ({_clean(e, target)})")
        if have > known:
            ok = False
            console.print(f"schema: {too_new(have, known)}", markup=False)
        elif have < known:
            console.print(f"schema: version {have}; this AiSpendTrack's is {known} (applied when a gateway, "
                          "serve or any other command opens it)", markup=False)
        else:
            console.print(f"schema: version {have} (this AiSpendTrack's)", markup=False)
        if skew is None:
            console.print("clock: this machine's own (the database is a file here: nothing to compare)", markup=False)
        elif (why := clock.refusal(skew, bound)) is not None:
            ok = False
            console.print(f"clock: {why}", markup=False)
        else:
            console.print(f"clock: skew {skew.offset_ms:+.1f} ms ±{skew.round_trip_ms / 2:.1f} ms "
                          f"(this machine vs the database server; at most {bound} ms allowed)", markup=False)
    if not ok:
        ctx.exit(1)


@db_group.command("migrate")
@click.option("--from", "source", required=True, type=click.Path(dir_okay=False),
              help="The SQLite database file to copy.")
@click.option("--to", "target", required=True, help="The PostgreSQL database: postgresql://user@host:port/dbname")
@click.option("--force", is_flag=True, help="Replace everything the target database holds.")
def db_migrate(source: str, target: str, force: bool) -> None:
    """Copy a SQLite store into PostgreSQL exactly: every table, keys still valid, the
    current hour's and month's counters, budget counters and holds (the file's schema is
    brought up to date first, as any command does). Stop the gateways on the file first:
    what they write after the copy started is not copied."""
    from aispendtrack.store.postgres.from_sqlite import copy_store

    if is_url(source):
        raise click.BadParameter("must be a SQLite database file", param_hint="--from")
    if not Path(source).is_file():
        raise click.BadParameter(f"no database file at {source}", param_hint="--from")
    if not is_url(target):
        raise click.BadParameter("must be a postgresql:// URL", param_hint="--to")
    shown = describe_target(target)
    try:
        with open_store(source) as src, open_store(target) as dst:
            console.print(f"Copying {source} → {shown}", markup=False)
            copied = copy_store(src, dst, force=force,
                                progress=lambda table, n: console.print(f"  {table:<22} {n:>10}", markup=False))
    except StoreError as e:
        raise click.ClickException(_clean(e, target)) from None
    except Exception as e:
        raise click.ClickException(f"{shown}: {_clean(e, target)}") from None
    _summary(copied, shown)


def _summary(copied, shown: str) -> None:
    from aispendtrack.store import inventory

    t = copied.tables
    whole = inventory.grand_total(copied.totals)
    accounts = len({account for account, _ in copied.totals})
    if copied.replaced:
        console.print(f"Replaced what {shown} held: " + ", ".join(f"{k} {n}" for k, n in copied.replaced.items()),
                      markup=False)
    console.print(f"Copied {len(t)} tables, {sum(t.values())} rows.", markup=False)
    console.print(f"Ledger: {whole.calls} calls, {whole.priced} priced, ${whole.cost_usd} over {accounts} "
                  "account(s): equal on both sides, per account and model, to the last decimal.", markup=False)
    console.print(f"Keys: {t['keys']} with {t['key_secrets']} secrets (stored as digests: every key works as "
                  f"before). Limits: {t['rate_events']} hourly events, {t['monthly_usage']} monthly counters. "
                  f"Budgets: {t['budgets']}, {t['budget_spend']} counters, {t['budget_reservations']} holds.",
                  markup=False)
    if copied.skipped:
        console.print(f"Not copied (not AiSpendTrack's tables): {', '.join(copied.skipped)}", markup=False)


def _clean(error: BaseException, target: str) -> str:
    """An error's text with the URL's password (if the driver echoed it) taken out."""
    from aispendtrack.store.postgres.dsn import scrub

    return scrub(str(error), target) if is_url(target) else str(error)


def _fail(line: str) -> None:
    console.print(line, markup=False)
    raise SystemExit(1)
