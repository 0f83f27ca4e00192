"""`aispendtrack demo`: the whole product, offline, in one command.

A temporary directory (or `--keep DIR`) gets its own config and database; the built-in
fake provider answers in the real OpenAI and Anthropic wire formats; a real `mitmdump`
with the addon sits in front of it; the official `openai` and `anthropic` SDKs drive it
through good calls, a missing key, a rotated key, a revoked key, a hit rate limit and an
unknown model. Each step prints what happened and what the ledger recorded. Then the
proxy is stopped (SIGINT: its session summary) and the report is shown.

Exit code 0 when every step behaved as documented, 1 otherwise. Everything binds to
127.0.0.1; plaintext keys are never printed (hints `ask_…last4` only).
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aispendtrack import config as configmod
from aispendtrack import db as dbmod
from aispendtrack import keys, ledger_schema, render
from aispendtrack.auth import HEADER
from aispendtrack.fakeprovider import FakeProvider
from aispendtrack.proc import Mitmdump

FREE_LIMIT = 3  # requests per hour for the free tier in the demo config
GRACE = 60  # rotation grace, seconds
SDK_TIMEOUT = 15.0  # seconds per SDK request
KEYCACHE_WAIT = 0.75  # the proxy's key cache polls the store every 0.25 s
KEYCACHE_DEADLINE = 5.0
ROW_WAIT = 5.0  # a ledger row is committed before the client sees the end of the response
UNKNOWN_MODEL = "acme-private-llm-7b"

CONFIG_TOML = f"""\
# AiSpendTrack demo config (written by `aispendtrack demo`).
# Both reverse listeners forward to the local fake provider; the provider is told by
# the path shape (/v1/chat/completions → openai, /v1/messages → anthropic).

[keys]
rotation_grace_seconds = {GRACE}

[tiers.free]
requests_per_hour = {FREE_LIMIT}
"""

_KEY_RE = re.compile(r"ask_[A-Za-z0-9]{32}")


def redact(text: str) -> str:
    """Never print a plaintext key, whatever a message echoes."""
    return _KEY_RE.sub(lambda m: keys.hint(m.group(0)), text)


class StepFailed(Exception):
    """A scenario did not behave as documented; the message says how."""


@dataclass
class Result:
    name: str
    ok: bool
    detail: str


# ---------------------------------------------------------------------------------------
# the ledger, read from the demo process


class Ledger:
    def __init__(self, db_path: Path):
        self.db = dbmod.connect(db_path)
        self.last_id = self._max_id()

    def _max_id(self) -> int:
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM calls").fetchone()[0]

    def new_rows(self, n: int = 1, wait: float = ROW_WAIT) -> list[dict]:
        """The rows written since the last call; waits (bounded) for at least `n`."""
        deadline = time.monotonic() + wait
        while True:
            rows = list(self.db.query("SELECT * FROM calls WHERE id > ? ORDER BY id", [self.last_id]))
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

    def close(self) -> None:
        self.db.conn.close()


def _cost(row: dict) -> Decimal | None:
    if row.get("cost_usd") is None:
        return None
    try:
        return Decimal(str(row["cost_usd"]))
    except InvalidOperation:
        return None


def describe(row: dict) -> str:
    """`200 · gpt-4o-mini · 1,200 in (400 cached) / 300 out (50 reasoning) · $0.000468`."""
    i = render.fmt_int
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
    cost = render.fmt_usd(_cost(row)) if row.get("cost_usd") is not None else str(row.get("pricing") or "—")
    return f"{row['status']} · {row['model'] or '—'} · {inp} / {out} · {cost}"


def check_metered(row: dict, *, provider: str, api: str, streamed: bool, output: bool = True,
                  cache_write: bool = False) -> None:  # fmt: skip
    """A forwarded call: the documented ledger row with tokens and a cost."""
    problems = []
    expect = {"status": 200, "outcome": "forwarded", "provider": provider, "api": api, "streamed": int(streamed)}
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


def check_refused(row: dict, status: int, outcome: str) -> None:
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


# ---------------------------------------------------------------------------------------
# the demo


class Demo:
    def __init__(self, workdir: Path, console: Console):
        self.openai: Any = None
        self.anthropic: Any = None
        self.workdir = workdir
        self.console = console
        self.config_path = workdir / "mitm.toml"
        self.db_path = workdir / "aispendtrack.db"
        self.results: list[Result] = []
        self.stack = ExitStack()
        self.clients = ExitStack()  # closed before the proxy stops: no open keep-alive connections
        self.fake: FakeProvider | None = None
        self.proxy: Mitmdump | None = None
        self.ledger: Ledger | None = None
        self.proxy_output = ""

    # ---- output
    def line(self, ok: bool, name: str, detail: str) -> None:
        self.results.append(Result(name, ok, detail))
        mark = "[green]✓[/]" if ok else "[bold red]✗[/]"
        # one line per step in pipes and logs (grep-able); wrapped on a terminal
        self.console.print(f"{mark} [bold]{escape(name)}[/] → {escape(redact(detail))}",
                           soft_wrap=not self.console.is_terminal)

    def step(self, name: str, fn: Callable[[], str]) -> None:
        if self.proxy is not None and not self.proxy.running:
            self.line(False, name, f"skipped: mitmdump exited with {self.proxy.proc.returncode}")
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

    # ---- set-up
    def setup(self) -> None:
        import anthropic  # the SDKs take a few seconds to import: after the banner
        import openai

        self.openai, self.anthropic = openai, anthropic
        self.config_path.write_text(CONFIG_TOML, encoding="utf-8")
        self.config = configmod.load_config(self.config_path)
        database = dbmod.connect(self.db_path)
        try:
            keys.ensure_schema(database)
            ledger_schema.ensure_schema(database)
            from aispendtrack.limits import store

            store.ensure_schema(database)
            keys.create_account(database, "demo-team", "pro")
            keys.create_account(database, "demo-free", "free")
            self.key_main = keys.create_key(database, "demo-team", self.config, name="main")
            self.key_rotating = keys.create_key(database, "demo-team", self.config, name="rotating")
            self.key_revoked = keys.create_key(database, "demo-team", self.config, name="to-revoke")
            self.key_free = keys.create_key(database, "demo-free", self.config, name="free")
        finally:
            database.conn.close()
        hints = ", ".join(f"{k.name} {k.hint}" for k in (self.key_main, self.key_rotating, self.key_revoked))
        self.line(True, "accounts and keys",
                  f"demo-team (pro tier): {hints}; demo-free (free tier, {FREE_LIMIT} requests/hour): {self.key_free.hint}")  # fmt: skip

        self.fake = FakeProvider(stream_delay=0.005)
        self.fake.record = True
        self.fake.start()
        self.stack.callback(self.fake.stop)
        self.line(True, "fake provider", f"OpenAI and Anthropic wire formats on {self.fake.url}")

        target = self.fake.url
        self.proxy = Mitmdump(
            modes=[f"reverse:{target}@{{port}}", f"reverse:{target}@{{port}}"],
            config_path=self.config_path, db_path=self.db_path, workdir=self.workdir,
            # no -q: it would hide an info-level session summary; flow lines are off instead
            extra_args=["--set", "flow_detail=0"],
        )  # fmt: skip
        self.stack.callback(self.proxy.stop)
        self.proxy.start()
        self.line(True, "proxy", f"mitmdump with the addon: OpenAI at {self.proxy.url(0)}/v1, Anthropic at {self.proxy.url(1)}")
        self.ledger = Ledger(self.db_path)
        self.stack.callback(self.ledger.close)

    # ---- clients
    def oa(self, key: str | None):
        headers = {HEADER: key} if key else {}
        client = self.openai.OpenAI(
            base_url=self.proxy.url(0) + "/v1", api_key="sk-demo-provider-key", default_headers=headers,
            max_retries=0, timeout=SDK_TIMEOUT, http_client=self.openai.DefaultHttpxClient(trust_env=False),
        )  # fmt: skip
        self.clients.callback(client.close)
        return client

    def an(self, key: str | None):
        headers = {HEADER: key} if key else {}
        client = self.anthropic.Anthropic(
            base_url=self.proxy.url(1), api_key="sk-ant-demo-provider-key", default_headers=headers,
            max_retries=0, timeout=SDK_TIMEOUT, http_client=self.anthropic.DefaultHttpxClient(trust_env=False),
        )  # fmt: skip
        self.clients.callback(client.close)
        return client

    def _chat(self, client, model: str = "gpt-4o-mini") -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}])

    def _received(self) -> int:
        return len(self.fake.received)

    # ---- scenarios
    def scenarios(self) -> None:
        oa, an = self.oa(self.key_main.key), self.an(self.key_main.key)

        def chat() -> str:
            r = self._chat(oa)
            if not r.choices[0].message.content:
                raise StepFailed("empty reply")
            row = self.ledger.one()
            check_metered(row, provider="openai", api="chat", streamed=False)
            return describe(row)

        def chat_stream() -> str:
            stream = oa.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "Count to three"}], stream=True)
            text, usage_seen = "", False
            for chunk in stream:
                usage_seen |= chunk.usage is not None
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            if not text:
                raise StepFailed("no text streamed")
            row = self.ledger.one()
            check_metered(row, provider="openai", api="chat", streamed=True)
            note = " (usage requested by the proxy, hidden from the client)" if not usage_seen else ""
            return describe(row) + note

        def responses() -> str:
            r = oa.responses.create(model="gpt-4o-mini", input="Write a haiku about invoices")
            if not r.output_text:
                raise StepFailed("empty reply")
            row = self.ledger.one()
            check_metered(row, provider="openai", api="responses", streamed=False)
            return describe(row)

        def embeddings() -> str:
            r = oa.embeddings.create(model="text-embedding-3-small", input="the quick brown fox")
            if not r.data or not r.data[0].embedding:
                raise StepFailed("no embedding")
            row = self.ledger.one()
            check_metered(row, provider="openai", api="embeddings", streamed=False, output=False)
            return describe(row)

        def messages() -> str:
            msg = an.messages.create(model="claude-sonnet-4-5", max_tokens=200,
                                     messages=[{"role": "user", "content": "Say hi"}])  # fmt: skip
            if not msg.content or not msg.content[0].text:
                raise StepFailed("empty reply")
            row = self.ledger.one()
            check_metered(row, provider="anthropic", api="messages", streamed=False, cache_write=True)
            return describe(row)

        def messages_stream() -> str:
            with an.messages.stream(model="claude-sonnet-4-5", max_tokens=200,
                                    messages=[{"role": "user", "content": "Count to three"}]) as s:  # fmt: skip
                text = "".join(s.text_stream)
                s.get_final_message()
            if not text:
                raise StepFailed("no text streamed")
            row = self.ledger.one()
            check_metered(row, provider="anthropic", api="messages", streamed=True, cache_write=True)
            return describe(row)

        self.step("OpenAI chat (non-streamed)", chat)
        self.step("OpenAI chat (streamed)", chat_stream)
        self.step("OpenAI Responses API", responses)
        self.step("OpenAI embeddings", embeddings)
        self.step("Anthropic messages (non-streamed, prompt cache)", messages)
        self.step("Anthropic messages (streamed, prompt cache)", messages_stream)
        self.step("missing key → 401", self.missing_key)
        self.step("rotated key: old and new both work during grace", self.rotated_key)
        self.step("revoked key → 401", self.revoked_key)
        self.step(f"rate limit: free tier, {FREE_LIMIT} requests/hour → 429", self.rate_limit)
        self.step("unknown model → unpriced", self.unknown_model)

    def missing_key(self) -> str:
        before = self._received()
        try:
            self._chat(self.oa(None))
        except self.openai.AuthenticationError as e:
            msg, status = api_message(e), e.status_code
        else:
            raise StepFailed("the call without a key succeeded; expected AuthenticationError (401)")
        row = self.ledger.one()
        check_refused(row, 401, "rejected")
        if self._received() != before:
            raise StepFailed("the refused call reached the provider")
        return f"{status} AuthenticationError: {msg}"

    def _until_accepted(self, client) -> None:
        """New secrets reach the proxy's key cache within a poll; wait (bounded) for it."""
        time.sleep(KEYCACHE_WAIT)
        deadline = time.monotonic() + KEYCACHE_DEADLINE
        while True:
            try:
                self._chat(client)
                return
            except self.openai.AuthenticationError:
                self.ledger.new_rows(1)
                if time.monotonic() >= deadline:
                    raise StepFailed(f"the new secret was still refused after {KEYCACHE_WAIT + KEYCACHE_DEADLINE:g} s")
                time.sleep(0.25)

    def rotated_key(self) -> str:
        old = self.key_rotating
        self._chat(self.oa(old.key))
        self.ledger.one()
        database = dbmod.connect(self.db_path)
        try:
            new = keys.rotate_key(database, old.id, self.config)
        finally:
            database.conn.close()
        self._until_accepted(self.oa(new.key))
        new_row = self.ledger.one()
        self._chat(self.oa(old.key))
        old_row = self.ledger.one()
        for row, k in ((new_row, new), (old_row, old)):
            check_metered(row, provider="openai", api="chat", streamed=False)
            if row["key_id"] != old.id or row["key_hint"] != k.hint:
                raise StepFailed(f"ledger row key {row['key_id']} {row['key_hint']}, expected {old.id} {k.hint}")
        return (f"rotated {old.id}: new {new.hint} → {new_row['status']}, old {old.hint} → {old_row['status']} "
                f"(old secret valid {GRACE} s more; one key id in the ledger)")  # fmt: skip

    def revoked_key(self) -> str:
        k = self.key_revoked
        client = self.oa(k.key)
        self._chat(client)
        self.ledger.one()
        database = dbmod.connect(self.db_path)
        try:
            keys.revoke_key(database, k.id)
        finally:
            database.conn.close()
        time.sleep(KEYCACHE_WAIT)
        deadline = time.monotonic() + KEYCACHE_DEADLINE
        while True:
            before = self._received()
            try:
                self._chat(client)
            except self.openai.AuthenticationError as e:
                msg, status = api_message(e), e.status_code
                break
            self.ledger.one()  # still accepted: the cache has not seen the revocation yet
            if time.monotonic() >= deadline:
                raise StepFailed(f"key {k.hint} still accepted {KEYCACHE_WAIT + KEYCACHE_DEADLINE:g} s after revocation")
            time.sleep(0.25)
        check_refused(self.ledger.one(), 401, "rejected")
        if self._received() != before:
            raise StepFailed("the refused call reached the provider")
        return f"{k.hint} worked, then revoked: {status} AuthenticationError: {msg}"

    def rate_limit(self) -> str:
        client = self.oa(self.key_free.key)
        admitted = 0
        for _ in range(FREE_LIMIT + 5):
            before = self._received()
            try:
                self._chat(client)
            except self.openai.RateLimitError as e:
                retry_after = e.response.headers.get("retry-after")
                msg = api_message(e)
                break
            admitted += 1
            self.ledger.one()
        else:
            raise StepFailed(f"no 429 after {admitted} requests (limit {FREE_LIMIT}/hour)")
        row = self.ledger.one()
        check_refused(row, 429, "rate_limited")
        problems = []
        if admitted != FREE_LIMIT:
            problems.append(f"{admitted} requests admitted before the 429, expected {FREE_LIMIT}")
        if not (retry_after or "").isdigit() or int(retry_after) < 1:
            problems.append(f"retry-after {retry_after!r}, expected whole seconds >= 1")
        if self._received() != before:
            problems.append("the refused call reached the provider")
        if problems:
            raise StepFailed("; ".join(problems))
        return f"{admitted} calls admitted, call {admitted + 1} → 429 RateLimitError, retry-after {retry_after} s: {msg}"

    def unknown_model(self) -> str:
        r = self._chat(self.oa(self.key_main.key), model=UNKNOWN_MODEL)
        if not r.choices[0].message.content:
            raise StepFailed("empty reply")
        row = self.ledger.one()
        problems = []
        if row.get("status") != 200 or row.get("outcome") != "forwarded":
            problems.append(f"status {row.get('status')!r} outcome {row.get('outcome')!r}")
        if row.get("pricing") != "unpriced" or row.get("cost_usd") is not None:
            problems.append(f"pricing {row.get('pricing')!r} cost {row.get('cost_usd')!r}, expected unpriced, NULL")
        if not row.get("input_tokens"):
            problems.append(f"input_tokens {row.get('input_tokens')!r}")
        if problems:
            raise StepFailed("ledger row: " + "; ".join(problems))
        return describe(row) + " (cost unknown, not $0; tokens still counted)"

    # ---- shutdown, summary, report
    def stop_proxy(self) -> None:
        self.clients.close()
        code = self.proxy.stop()
        self.proxy_output = redact(self.proxy.output())
        summary = session_summary(self.proxy_output)
        self.console.rule("proxy stopped (SIGINT): its session summary")
        if summary:
            self.console.print(escape(summary), soft_wrap=True)
        else:
            self.console.print("[dim](mitmdump printed no session summary)[/]")
        if code not in (0, None, -signal.SIGINT, 130):
            self.line(False, "proxy shutdown", f"mitmdump exited with {code}")

    def show_report(self) -> None:
        self.console.rule("aispendtrack report (demo database)")
        database = dbmod.connect(self.db_path)
        try:
            try:
                from aispendtrack import report as reportmod

                rep = reportmod.report(database, by="model")
            except Exception as e:  # the report module is being finished elsewhere
                self.console.print(f"[yellow]report module unavailable ({escape(str(e))}); a plain ledger table:[/]")
                self.console.print(ledger_table(database))
                totals = None
            else:
                # the same rendering as `aispendtrack report`, by model and by key
                renderer = getattr(render, "render_report", None) or getattr(reportmod, "render_report", None)
                by_key = reportmod.report(database, by="key")
                hints = {k["id"]: k["hint"] for k in keys.list_keys(database)}
                key_rows = [(f"{render.label(g.key)} {hints.get(g.key, '')}".rstrip(), g.stats) for g in by_key.groups]
                try:
                    if renderer is None:
                        raise LookupError("no render_report")
                    self.console.print(renderer(rep))
                    self.console.print()
                    self.console.print(render.stats_table(key_rows, "key", title="by key"))
                except Exception as e:  # rendering is being finished elsewhere
                    self.console.print(f"[yellow](report rendering unavailable: {escape(str(e))}; plain tables)[/]")
                    self.console.print(render.totals_panel(rep.totals, "all demo calls"))
                    rows = [(render.label(g.key), g.stats) for g in rep.groups]
                    self.console.print(render.stats_table(rows, "model", title="by model"))
                    self.console.print(render.stats_table(key_rows, "key", title="by key"))
                totals = rep.totals
        finally:
            database.conn.close()
        if totals is not None:
            self.check_totals(totals)

    def check_totals(self, t) -> None:
        text = (f"{render.plural(t.calls, 'call')}, {render.fmt_cost(t)} for {render.plural(t.priced_calls, 'priced call')}, "
                f"{t.unpriced_calls} unpriced, {t.rejected} rejected (401), {t.rate_limited} rate-limited (429)")  # fmt: skip
        ok = t.cost_usd > 0 and t.unpriced_calls >= 1 and t.rejected >= 2 and t.rate_limited >= 1
        self.line(ok, "report totals", text)

    def close(self) -> None:
        try:
            self.clients.close()
        finally:
            self.stack.close()


def session_summary(output: str) -> str:
    """The session summary in mitmdump's output (rich panel or log lines), up to any traceback."""
    lines = output.splitlines()
    for i, ln in enumerate(lines):
        if "aispendtrack: this session" in ln or re.search(r"(^|\]\s*|:\s)session: \d", ln):
            start = i - 1 if "this session" in ln and i and lines[i - 1].lstrip().startswith("╭") else i
            end = next((j for j in range(start, len(lines)) if _NOISE.match(lines[j])), len(lines))
            return "\n".join(lines[start:end]).rstrip()
    return ""


_NOISE = re.compile(r"(Traceback \(most recent|Exception in callback|Task exception was never retrieved)")


def ledger_table(database) -> Table:
    table = Table("id", "provider", "api", "model", "status", "outcome", "in", "out", "cost", "pricing")
    for r in database.query("SELECT * FROM calls ORDER BY id"):
        table.add_row(str(r["id"]), r["provider"] or "", r["api"] or "", r["model"] or "", str(r["status"]),
                      r["outcome"], render.fmt_int(r["input_tokens"]), render.fmt_int(r["output_tokens"]),
                      render.fmt_usd(r["cost_usd"]) if r["cost_usd"] is not None else (r["pricing"] or ""),
                      r["pricing"] or "")  # fmt: skip
    return table


def _console() -> Console:
    console = render.make_console()
    if not console.is_terminal:  # pipes and CI logs: no colour (rich), no narrow wrapping
        console = Console(file=sys.stdout, width=120, no_color=True, highlight=False, emoji=False)
    return console


def run_demo(keep: Path | None, console: Console) -> int:
    """The whole demo; returns the exit code. Cleans up on any exception or Ctrl-C."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        if (keep / "aispendtrack.db").exists():
            raise click.ClickException(f"{keep} already holds a demo database; choose a new directory")
        workdir = keep
    else:
        workdir = Path(tempfile.mkdtemp(prefix="aispendtrack-demo-"))
    try:
        return _run(workdir, keep, console)
    finally:
        if keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(workdir: Path, keep: Path | None, console: Console) -> int:
    console.print("[bold]AiSpendTrack demo[/]: a fake provider, the real proxy and the official SDKs, all on 127.0.0.1.")
    console.print(f"Working directory: {workdir}" + (" (kept)" if keep else " (removed at the end)"))
    console.print("Your own database and config are not touched. Keys are shown as hints only.\n")
    demo = Demo(workdir, console)
    interrupted = False
    try:  # from here on every exit path stops the proxy and the fake provider
        try:
            demo.setup()
            demo.scenarios()
        finally:
            if demo.proxy is not None and demo.proxy.proc is not None:
                demo.stop_proxy()
        demo.show_report()
    except KeyboardInterrupt:
        interrupted = True
        console.print("\n[yellow]interrupted[/]")
    except click.ClickException:
        raise
    except Exception as e:
        demo.line(False, "demo", f"{type(e).__name__}: {redact(str(e))}")
    finally:
        demo.close()
    failed = [r for r in demo.results if not r.ok]
    if interrupted:
        return 130
    console.print()
    if failed:
        console.print(f"[bold red]{len(failed)} of {len(demo.results)} steps did not behave as expected:[/] "
                      + escape(", ".join(r.name for r in failed)))  # fmt: skip
        if demo.proxy_output:
            tail = "\n".join(demo.proxy_output.splitlines()[-25:])
            console.rule("mitmdump output (last lines)")
            console.print(escape(tail), soft_wrap=True)
        return 1
    console.print(f"[bold green]All {len(demo.results)} steps behaved as expected.[/]"
                  + (f" Database and config kept in {workdir}." if keep else ""))  # fmt: skip
    return 0


@click.command("demo")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the demo's database, config and proxy log in DIR (created if missing).")  # fmt: skip
def demo_command(keep: Path | None) -> None:
    """Run the whole product offline: fake provider, real proxy, official SDKs, report.

    Uses its own temporary database and config; exits 1 if any step misbehaves.
    """
    console = _console()
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
