"""`aispendtrack backup PATH [--force]`: a consistent copy of the database while everything runs."""

from __future__ import annotations

import click

from aispendtrack.store import backup as store


@click.command("backup")
@click.argument("path", type=click.Path(path_type=str))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@click.pass_context
def backup_command(ctx: click.Context, path: str, force: bool) -> None:
    """Copy the database to PATH, safe while the proxy and serve run: the copy holds every
    call, key and counter committed before the command started. Restore: stop the proxy and
    serve, copy the backup over the database file, start them again. (A PostgreSQL database
    is backed up with pg_dump instead.)"""
    try:
        made = store.backup(ctx.obj["db_path"], path, force=force)
    except store.BackupError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"Backed up {ctx.obj['db_path']} to {made.path} ({made.size:,} bytes), "
               f"as of {made.started:%Y-%m-%d %H:%M:%S} UTC.")
