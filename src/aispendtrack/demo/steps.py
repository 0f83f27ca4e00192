"""The demo's printed steps: one line each, with a result the verdict counts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from aispendtrack.demo.checks import StepFailed, api_message, redact


@dataclass
class Result:
    name: str
    ok: bool
    detail: str


class Steps:
    """The printed steps and their results; `skip_reason()` can veto a step before it runs."""

    def __init__(self, console: Console):
        self.console = console
        self.results: list[Result] = []

    def skip_reason(self) -> str | None:
        return None

    def line(self, ok: bool, name: str, detail: str) -> None:
        self.results.append(Result(name, ok, detail))
        mark = "[green]✓[/]" if ok else "[bold red]✗[/]"
        # one line per step in pipes and logs (grep-able); wrapped on a terminal
        self.console.print(f"{mark} [bold]{escape(name)}[/] → {escape(redact(detail))}",
                           soft_wrap=not self.console.is_terminal)

    def step(self, name: str, fn: Callable[[], str]) -> None:
        skip = self.skip_reason()
        if skip is not None:
            self.line(False, name, skip)
            return
        try:
            detail = fn()
        except StepFailed as e:
            self.line(False, name, str(e))
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # an unexpected SDK error is a failed step, not a crash
            self.line(False, name, f"unexpected {type(e).__name__}: {api_message(e)}")
        else:
            self.line(True, name, detail)
