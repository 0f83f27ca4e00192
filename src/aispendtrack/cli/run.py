"""`aispendtrack run` (what `scripts/run` execs) and `aispendtrack addon-path`.

`run` validates the config, binds `serve`'s address (an address in use stops it here),
prepares the database, starts `aispendtrack serve` on that socket (unless `[serve] enabled
= false`; it exits with the proxy, and the proxy's log says if it stops before), then
becomes mitmdump with the addon and the listeners from the config. On first use (no key
in the database) it creates a local account and key and prints the key once with a
copy-paste SDK snippet. Extra arguments go to mitmdump: a `--mode` among them replaces the
configured listeners, a `--set` the same option from the config.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console

from aispendtrack import config as configmod
from aispendtrack import launch
from aispendtrack.proxy import servewatch
from aispendtrack.serve import listen
from aispendtrack.store import open_store
from aispendtrack.store.records import KeyStoreError

LOCAL_ACCOUNT = "local"


def first_run(db_path: Path, config: configmod.Config, console: Console) -> None:
    with open_store(db_path) as store:
        if store.list_keys():
            return
        try:
            store.get_account(LOCAL_ACCOUNT)
        except KeyStoreError:
            store.create_account(LOCAL_ACCOUNT, "pro")
        new = store.create_key(LOCAL_ACCOUNT, config, name="first-run")
    console.print(f"[bold]AiSpendTrack first run[/]: created account '{LOCAL_ACCOUNT}' (pro tier) and key {new.id}.")
    console.print("Your key (shown only this once; stored only as a digest):\n")
    print(new.key, flush=True)
    console.print(
        "\n  export AISPENDTRACK_API_KEY=<the key above>\n"
        "  export OPENAI_API_KEY=sk-... ANTHROPIC_API_KEY=sk-ant-...   # your provider keys, as usual\n\n"
        "  import os\n"
        "  from anthropic import Anthropic\n"
        "  from openai import OpenAI\n\n"
        '  openai_client = OpenAI(base_url="http://127.0.0.1:8080/v1",\n'
        '                         default_headers={"x-aispendtrack-key": os.environ["AISPENDTRACK_API_KEY"]})\n'
        '  anthropic_client = Anthropic(base_url="http://127.0.0.1:8081",\n'
        '                               default_headers={"x-aispendtrack-key": os.environ["AISPENDTRACK_API_KEY"]})\n',
        highlight=False,
        markup=False,
    )


def start_serve(sock: socket.socket, config_path: Path | None, db_path: Path) -> subprocess.Popen:
    """`aispendtrack serve` on `sock` (bound here: see `serve.listen`) as a child that exits
    when its parent (mitmdump, after exec) does. The config is the one resolved here, or
    none (built-in defaults). Its own process group: a Ctrl-C in the terminal stops the
    proxy, which then stops it."""
    argv = [sys.executable, "-m", "aispendtrack.cli"]
    if config_path is not None:
        argv += ["--config", str(config_path)]
    argv += ["--db", str(db_path), "serve", "--exit-with-parent", "--fd", str(sock.fileno())]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, pass_fds=[sock.fileno()], process_group=0)


def run(args: list[str], config_arg: str | os.PathLike | None = None, db_arg: str | os.PathLike | None = None) -> int:
    """Prepare, then exec mitmdump (returns only on an error: the exit code)."""
    given = launch.options_in(args)  # `--set aispendtrack_config=…` beats --config and the environment
    config_path = configmod.config_path(given.get("aispendtrack_config") or config_arg)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        config = configmod.load_config(config_path)
    except configmod.ConfigError as e:
        print(f"AiSpendTrack config error: {e}", file=sys.stderr)
        return 2
    db_path = configmod.db_path(given.get("aispendtrack_db") or db_arg, config.database.url)
    try:
        sock = listen.bind(config.serve.host, config.serve.port, config_path) if config.serve.enabled else None
    except listen.ListenError as e:
        print(e, file=sys.stderr)
        return 2
    try:
        first_run(db_path, config, console)
    except Exception as e:
        print(f"AiSpendTrack database error: {db_path}: {e}", file=sys.stderr)
        return 2
    program = launch.find_mitmdump()
    if program is None:
        print("AiSpendTrack: mitmdump not found (it comes with mitmproxy: pip install aispendtrack)", file=sys.stderr)
        return 2
    options = {
        "aispendtrack_config": config_path, "aispendtrack_db": db_path,
        "listen_host": config.proxy.listen_host, "connection_strategy": config.proxy.connection_strategy,
    }  # fmt: skip
    argv = launch.mitmdump_argv(config.proxy.modes, options=options, args=args, program=program)
    sys.stdout.flush()
    env = dict(os.environ)
    if sock is not None:
        with sock:
            serve = start_serve(sock, config_path, db_path)
        url = f"http://{listen.shown(config.serve.host, config.serve.port)}"
        env |= {servewatch.PID_ENV: str(serve.pid), servewatch.URL_ENV: url}  # the proxy reports its end
    os.execve(program, argv, env)
    return 0  # pragma: no cover


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("mitmdump_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, mitmdump_args: tuple[str, ...]) -> None:
    """Start mitmdump with the addon and the listeners from the config.

    MITMDUMP_ARGS go to mitmdump (see `mitmdump --help`): a --mode replaces the configured
    listeners, a --set overrides the same option from the config. On first use it creates
    the database, a local account and a key, and prints the key once.
    """
    sys.exit(run(list(mitmdump_args), ctx.obj["config_path"], ctx.obj["db_path"]))


@click.command("addon-path")
def addon_path_command() -> None:
    """Print the addon's entry file, for `mitmdump -s "$(aispendtrack addon-path)"` (also mitmweb, mitmproxy)."""
    click.echo(str(launch.ENTRY))
