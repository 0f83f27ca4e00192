"""One database, proxy, `serve` and fake provider with two accounts and their calls, for
the dashboard's tests: acme (pro, 30 days of synthetic history plus real calls, and a call
refused by each budget and permission rule) and penny (free, over its hourly limit); the
`plane` fixture that builds it is in tests/e2e/conftest.py. Plus logging in and reading
pages over plain HTTP."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import openai
import pytest

from aispendtrack.config import parse_config
from aispendtrack.store import db as dbmod
from aispendtrack.store import open_store
from aispendtrack.store.keytext import NewKey

from support.clock import utc_today
from support.harness import MITMDUMP, proxy_and_serve

CONFIG = '[tiers.free]\nrequests_per_hour = 3\n[tiers.pro]\nmax_keys = 20\n'
CLI = str(MITMDUMP.parent / "aispendtrack")


def _seed_history(store, key_ids: list[str], account: str = "acme") -> None:
    """30 days of synthetic calls for `account` (a chart worth looking at)."""
    from aispendtrack.store.reads import daily
    from aispendtrack_dev.synth import make_ledger

    make_ledger(store, 3000, seed=7, days=30, n_keys=4)
    with store.connection() as conn, conn.tx():
        conn.execute("DELETE FROM calls WHERE account NOT IN ('acct-0', 'acct-1')")
        conn.execute("UPDATE calls SET account = ?, key_id = CASE WHEN id % 3 THEN ? ELSE ? END, "
                     "key_hint = NULL", [account, *key_ids])
        daily.rebuild(conn)  # the daily sums follow the rows made over


def new_database(tmp: Path):
    """(db path, the config the keys are made under, the store on it: close it when done)."""
    db_path = tmp / "aispendtrack.db"
    return db_path, parse_config({"tiers": {"pro": {"max_keys": 20}}}), open_store(db_path)


@contextlib.contextmanager
def running(tmp: Path, db_path: Path, config_text: str, made: dict[str, NewKey]):
    """The proxy and `serve` on the database: yields the plane dict the helpers here take."""
    with proxy_and_serve(tmp, db_path, config_text) as (_, proxy, serve):
        yield {"db_path": db_path, "config_path": tmp / "mitm.toml", "proxy": proxy, "serve": serve,
               "keys": {n: k.key for n, k in made.items()}, "ids": {n: k.id for n, k in made.items()},
               "downloads": tmp / "downloads"}


def refused_keys(store, config, account: str) -> dict[str, NewKey]:
    """Keys of `account` that `refuse` uses: tight (a $0 budget), narrow (gpt-4o-mini only)
    and nocalls (no `calls` permission)."""
    made = {"tight": store.create_key(account, config, name="tight"),
            "narrow": store.create_key(account, config, name="narrow", models=("gpt-4o-mini",)),
            "nocalls": store.create_key(account, config, name="nocalls", permissions=("dashboard",))}
    store.set_budget("key", made["tight"].id, "0", "total", now=time.time())
    return made


def refuse(plane) -> None:
    """One refusal of each kind by a budget or a permission, with the keys of `refused_keys`."""
    k = plane["keys"]
    for key, model, error in ((k["tight"], "gpt-4o-mini", openai.RateLimitError),  # over its budget
                              (k["tight"], "my-private-model", openai.PermissionDeniedError),  # unpriced, budgeted
                              (k["narrow"], "gpt-4o", openai.PermissionDeniedError),  # outside its model list
                              (k["nocalls"], "gpt-4o-mini", openai.PermissionDeniedError)):  # no `calls`
        with pytest.raises(error):
            chat(plane, key, model)


def chat(plane, key: str, model: str = "gpt-4o-mini", stream: bool = False):
    client = openai.OpenAI(base_url=plane["proxy"].url("openai") + "/v1", api_key="sk-test", max_retries=0,
                           default_headers={"x-aispendtrack-key": key})
    if stream:
        return list(client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                                   stream=True, stream_options={"include_usage": True}))
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])


def settle(plane, before: int | None = None) -> int:
    """Wait until the proxy's ledger writer committed every call made so far; the row count."""
    database = dbmod.connect(plane["db_path"])
    try:
        last, same = -1, 0
        while same < 5:
            n = database.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
            same = same + 1 if n == last and (before is None or n > before) else 0
            last = n
            time.sleep(0.05)
        return last
    finally:
        database.conn.close()


def cli(plane, *args) -> str:
    return subprocess.run([CLI, "--config", str(plane["config_path"]), "--db", str(plane["db_path"]), *args],
                          check=True, capture_output=True, text=True).stdout


def month_report(plane, account: str, by: str = "model") -> dict:
    today = utc_today()
    return json.loads(cli(plane, "report", "--json", "--account", account, "--by", by,
                          "--since", today.replace(day=1).isoformat(), "--until", today.isoformat()))


def _post(url: str, fields: dict, origin: str | None, cookie: str | None = None) -> tuple[int, str, dict]:
    import urllib.error
    import urllib.parse
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    headers = {"content-type": "application/x-www-form-urlencoded"}
    if origin:
        headers["origin"] = origin
    if cookie:
        headers["cookie"] = f"aispendtrack_session={cookie}"
    req = urllib.request.Request(url, data=urllib.parse.urlencode(fields, doseq=True).encode(), headers=headers)
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=20) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def _session(plane, name: str) -> tuple[str, str]:
    """Log in over HTTP: (session cookie value, the page's CSRF token)."""
    import re
    import urllib.request

    base = plane["serve"].url
    status, _, headers = _post(base + "/login", {"key": plane["keys"][name]}, base)
    assert status == 303
    set_cookie = headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Max-Age=43200" in set_cookie
    cookie = re.search(r"aispendtrack_session=([^;]+)", set_cookie).group(1)
    req = urllib.request.Request(base + "/", headers={"cookie": f"aispendtrack_session={cookie}"})
    page = urllib.request.urlopen(req, timeout=20).read().decode()
    return cookie, re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def _get(plane, path: str, cookie: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(plane["serve"].url + path, headers={"cookie": f"aispendtrack_session={cookie}"})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@contextlib.contextmanager
def browser_for(plane):
    """A headless chromium that downloads into the plane's folder; quit after."""
    from support.browser import chrome

    plane["downloads"].mkdir(exist_ok=True)
    driver = chrome(plane["downloads"])
    try:
        yield driver
    finally:
        driver.quit()


def login(driver, plane, name: str) -> None:
    """Log in on the page with the plane's key `name`; back once the dashboard shows."""
    from selenium.webdriver.common.by import By

    from support.browser import wait_for

    driver.get(plane["serve"].url + "/")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=key-input]").send_keys(plane["keys"][name])
    driver.find_element(By.CSS_SELECTOR, "[data-testid=login]").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-testid=spend-month]"), what="the dashboard")
