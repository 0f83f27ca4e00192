"""`aispendtrack demo`: the whole product, offline, in one command.

A temporary directory (or `--keep DIR`) gets its own config and database; the built-in
fake provider answers in the real OpenAI and Anthropic wire formats; a real `mitmdump`
with the addon sits in front of it; the official `openai` and `anthropic` SDKs drive it
through good calls, a missing key, a rotated key, a revoked key, a hit rate limit and an
unknown model. Each step prints what happened and what the ledger recorded. Then the
proxy is stopped (SIGINT: its session summary) and the report is shown.

Exit code 0 when every step behaved as documented, 1 otherwise. Everything binds to
127.0.0.1; plaintext keys are never printed (hints `ask_…last4` only).

Modules: `env` (working directory, config, keys, fake provider, proxy, clients),
`scenarios` (the SDK scenarios), `checks` (ledger rows expected), `steps` (printed steps and
their results), `show` (output, report).
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import threading
from pathlib import Path

import click
from rich.console import Console

from aispendtrack.demo.checks import redact
from aispendtrack.demo.env import Demo, workdir_for
from aispendtrack.demo.scenarios import run_scenarios
from aispendtrack.demo.show import make_console, session_summary, show_report, stop_proxy, verdict

__all__ = ["demo_command", "redact", "run_demo", "session_summary"]

SDKS = ("openai", "anthropic")


def missing_sdks() -> list[str]:
    """The official SDKs the demo drives the proxy with that are not installed (the `demo` extra)."""
    return [name for name in SDKS if importlib.util.find_spec(name) is None]


def run_demo(keep: Path | None, console: Console) -> int:
    """The whole demo; returns the exit code. Cleans up on any exception or Ctrl-C."""
    with workdir_for(keep) as workdir:
        return _run(workdir, keep, console)


def _run(workdir: Path, keep: Path | None, console: Console) -> int:
    console.print("[bold]AiSpendTrack demo[/]: a fake provider, the real proxy and the official SDKs, all on 127.0.0.1.")
    console.print(f"Working directory: {workdir}" + (" (kept)" if keep else " (removed at the end)"))
    console.print("Your own database and config are not touched. Keys are shown as hints only.\n")
    demo = Demo(workdir, console)
    try:  # from here on every exit path stops the proxy and the fake provider
        try:
            demo.setup()
            run_scenarios(demo)
        finally:
            if demo.proxy is not None and demo.proxy.proc is not None:
                stop_proxy(demo)
        show_report(demo)
    except KeyboardInterrupt:
        console.print("\n[yellow]interrupted[/]")
        return 130
    except click.ClickException:
        raise
    except Exception as e:
        demo.line(False, "demo", f"{type(e).__name__}: {redact(str(e))}")
    finally:
        demo.close()
    return verdict(demo, workdir, kept=keep is not None)


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's database, config and proxy log in DIR (created if missing).")  # fmt: skip
def demo_command(keep: Path | None) -> None:
    """Run the whole product offline: fake provider, real proxy, official SDKs, report.

    Uses its own temporary database and config; exits 1 if any step misbehaves.
    """
    if missing := missing_sdks():
        raise click.ClickException(
            f"the demo drives the proxy with the official {' and '.join(SDKS)} SDKs; not installed: "
            f"{', '.join(missing)}. Install them with: pip install 'aispendtrack[demo]'"
        )
    console = make_console()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C: the proxy and threads are stopped.
        def on_term(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_term)
    try:
        code = run_demo(keep, console)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    sys.exit(code)
