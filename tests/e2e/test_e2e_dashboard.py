"""The dashboard in a real browser (headless chromium), on a real `serve`, a real proxy and
the fake provider: numbers equal to `report --json`, live refresh, export, key actions in
force on the proxy's next call, and the key never in a page, a cookie or storage."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import openai
import pytest
from selenium.webdriver.common.by import By

from aispendtrack.store import keys

from support.browser import chrome, wait_for
from support.clock import month, utc_today, within_one
from support.dashboard_plane import chat, cli, month_report, settle
from support.harness import REPO

SCREENSHOTS = Path(os.environ.get("AISPENDTRACK_SCREENSHOTS", REPO / "var" / "screenshots"))


@pytest.fixture
def browser(plane):
    plane["downloads"].mkdir(exist_ok=True)
    driver = chrome(plane["downloads"])
    try:
        yield driver
    finally:
        driver.quit()


def login(driver, plane, name: str) -> None:
    driver.get(plane["serve"].url + "/")
    driver.find_element(By.CSS_SELECTOR, "[data-testid=key-input]").send_keys(plane["keys"][name])
    driver.find_element(By.CSS_SELECTOR, "[data-testid=login]").click()
    _dashboard_shown(driver)


def reload(driver, plane) -> None:
    """The dashboard rendered afresh, for the session already logged in."""
    driver.get(plane["serve"].url + "/")
    _dashboard_shown(driver)


def _dashboard_shown(driver) -> None:
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-testid=spend-month]"), what="the dashboard")


def text(driver, testid: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f"[data-testid={testid}]").text


def table(driver, testid: str) -> list[list[str]]:
    """The table's cells, read in one script run (the page may replace the rows meanwhile)."""
    return driver.execute_script(
        "return [...document.querySelectorAll(`[data-testid=${arguments[0]}] tbody tr`)]"
        ".map(r => [...r.cells].map(c => c.textContent.trim()))", testid)


def assert_no_key(driver, *keys_: str) -> None:
    storage = driver.execute_script("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    cookies = driver.get_cookies()
    for key in keys_:
        assert key not in driver.page_source and key[4:] not in driver.page_source
        assert key not in storage
        assert all(key not in c["value"] for c in cookies)
    [cookie] = cookies
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("aispendtrack_session", True, "Strict")


def spend(group: dict) -> str:
    """How the page shows a report group's spend: a set with no priced call is "not priced", not $0."""
    if not group["priced_calls"] and (group["unpriced_calls"] or group["unmetered_calls"]):
        return "not priced"
    return "$" + group["cost_usd"]


NO_CALLS = [["No calls in this period."]]  # a table of the month with nothing in it

# the page's counters and the report's totals they add up
COUNTS = {"calls": ("calls",), "unpriced": ("unpriced_calls",), "rejected": ("rejected",),
          "unmetered": ("unmetered_calls",), "limited": ("rate_limited", "quota_exceeded"),
          "budget_exceeded": ("budget_exceeded",), "forbidden": ("forbidden",)}


def note(totals: dict) -> str:
    """The spend note for a report's totals: which calls the sum leaves out, by kind.

    How many unmetered calls fall in "this month" depends on the date (the synthetic history
    spreads over the last 30 days), so the expectation comes from the report itself."""
    parts = [f"{n:,} {what}" for n, what in ((totals["unpriced_calls"], "unpriced"),
                                            (totals["unmetered_calls"], "unmetered")) if n]
    plural = "s" if totals["unpriced_calls"] + totals["unmetered_calls"] > 1 else ""
    return f"+ {' and '.join(parts)} call{plural} not in this sum" if parts else ""


@pytest.mark.period
def test_numbers_equal_report_and_no_key_anywhere(plane, browser):
    login(browser, plane, "owner")

    def read():
        """The page and `report` for its month, its day and its last 30 days."""
        reload(browser, plane)
        shown = {testid: text(browser, testid) for testid in
                 ("spend-month", "spend-today", "spend-30d", "spend-note", *(f"count-{n}" for n in COUNTS))}
        shown |= {testid: table(browser, testid) for testid in ("by-model", "by-key")}
        first = (utc_today() - timedelta(days=29)).isoformat()
        return shown, {"month": month_report(plane, "acme"), "by_key": month_report(plane, "acme", "key"),
                       "today": json.loads(cli(plane, "report", "--json", "--today", "--account", "acme")),
                       "last30": json.loads(cli(plane, "report", "--json", "--account", "acme", "--since", first,
                                                "--by", "day"))}

    (shown, rep), day = within_one(read)
    assert_no_key(browser, plane["keys"]["owner"])
    t = rep["month"]["totals"]
    assert shown["spend-month"] == "$" + t["cost_usd"]
    assert shown["spend-today"] == "$" + rep["today"]["totals"]["cost_usd"]
    for name, fields in COUNTS.items():
        assert shown[f"count-{name}"] == f"{sum(t[f] for f in fields):,}", name
    if plane["calls_month"] == month(day):  # the plane's own calls are in the month shown
        assert t["unpriced_calls"] >= 1  # my-private-model: counted, not folded into $0
        assert t["budget_exceeded"] >= 2 and t["forbidden"] >= 2  # the plane's refusals, each counted
        assert ("my-private-model", "not priced") in [(r[0], r[1]) for r in shown["by-model"]]
        assert any(r[0].startswith("owner (ask_…") for r in shown["by-key"])
    assert [r[:3] for r in shown["by-model"]] == ([
        [g["key"] or "(unknown model)", spend(g), f"{g['calls']:,}"] for g in rep["month"]["groups"]] or NO_CALLS)
    assert shown["spend-note"] == note(t)
    if rep["by_key"]["groups"]:
        assert [r[1] for r in shown["by-key"]] == [spend(g) for g in rep["by_key"]["groups"]]
    else:  # a month that began after the plane's calls (and the synthetic history)
        assert shown["by-key"] == NO_CALLS
    assert shown["spend-30d"] == "$" + rep["last30"]["totals"]["cost_usd"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(1280, 1500)
    browser.save_screenshot(str(SCREENSHOTS / "dashboard.png"))


@pytest.mark.period
def test_latest_calls_refresh_without_reload(plane, browser):
    login(browser, plane, "owner")
    browser.execute_script("window.__stay = 42")
    before = settle(plane)
    chat(plane, plane["keys"]["owner"], "gpt-4.1-nano")
    settle(plane, before)
    wait_for(lambda: (table(browser, "latest") or [[""] * 3])[0][2] == "gpt-4.1-nano", timeout=20,
             what="the new call in the latest calls")
    assert browser.execute_script("return window.__stay") == 42  # the page was not reloaded
    # the report is made again at each look: after a month's end the page's next refresh shows the new month
    wait_for(lambda: text(browser, "spend-month") == "$" + month_report(plane, "acme")["totals"]["cost_usd"],
             what="the month's spend")


@pytest.mark.period
def test_export_download_equals_cli_export(plane, browser):
    login(browser, plane, "owner")

    def download() -> tuple[Path, str]:
        """The dashboard's CSV of this month and `export` of the same month."""
        for old in plane["downloads"].glob("*"):
            old.unlink()
        browser.find_element(By.CSS_SELECTOR, "[data-testid=export-csv]").click()
        done = wait_for(lambda: [p for p in plane["downloads"].glob("*.csv")], what="the CSV download")
        since = month(utc_today()).isoformat()
        return done[0], cli(plane, "export", "--format", "csv", "--account", "acme", "--since", since)

    (done, expected), day = within_one(download)
    assert done.name.startswith("aispendtrack-acme-")
    assert done.read_text().splitlines() == expected.splitlines()
    if plane["calls_month"] == month(day):  # the plane's own calls are in the month exported
        assert len(expected.splitlines()) > 5


@pytest.mark.period
def test_a_preset_puts_the_period_in_the_url_and_the_numbers_follow(plane, browser):
    login(browser, plane, "owner")

    def pick(preset: str, first) -> tuple[tuple[str, str, str], dict]:
        """Click a preset: (the URL, the period's spend and calls shown) and `report` of its days."""
        browser.find_element(By.CSS_SELECTOR, f"[data-testid=preset-{preset}]").click()
        wait_for(lambda: browser.current_url.endswith(f"/?period={preset}"), what=f"the URL of {preset}")
        _dashboard_shown(browser)
        shown = browser.current_url, text(browser, "spend-month"), text(browser, "count-calls")
        return shown, json.loads(cli(plane, "report", "--json", "--account", "acme", "--since", first.isoformat()))

    def both():
        today = utc_today()
        return pick("7d", today - timedelta(days=6)), pick("today", today)

    ((week_shown, week), (day_shown, day)), _ = within_one(both)
    for (url, spend_, calls), rep in ((week_shown, week), (day_shown, day)):
        assert (spend_, calls) == ("$" + rep["totals"]["cost_usd"], f"{rep['totals']['calls']:,}"), url
    assert text(browser, "period-label").startswith("Today")
    # the synthetic history spreads over the last 30 days: the week holds more calls than today
    assert week["totals"]["calls"] > day["totals"]["calls"] and week_shown[2] != day_shown[2]
    assert "period=today" in browser.find_element(By.CSS_SELECTOR, "[data-testid=export-csv]").get_attribute("href")


def test_revoke_in_ui_and_the_proxy_refuses_the_next_call(plane, browser):
    chat(plane, plane["keys"]["ci"])
    login(browser, plane, "owner")
    key_id = plane["ids"]["ci"]
    browser.find_element(By.CSS_SELECTOR, f"[data-testid=revoke-{key_id}]").click()
    browser.switch_to.alert.accept()
    wait_for(lambda: "revoked" in (browser.find_elements(By.CSS_SELECTOR, "[data-testid=notice]") or [None])[0].text
             if browser.find_elements(By.CSS_SELECTOR, "[data-testid=notice]") else False, what="the notice")
    with pytest.raises(openai.AuthenticationError):
        chat(plane, plane["keys"]["ci"])
    row = [r for r in table(browser, "keys") if r[0].startswith(key_id)][0]
    assert row[2] == "revoked"


def test_create_key_shown_once_then_usable(plane, browser):
    login(browser, plane, "owner")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=new-key-name]").send_keys("from the dashboard")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=create]").click()
    box = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-testid=new-key]"), what="the new key")
    new = box[0].get_attribute("value")
    assert keys.KEY_RE.fullmatch(new)
    assert chat(plane, new).choices
    browser.get(plane["serve"].url + "/")
    assert new not in browser.page_source and new[-4:] in browser.page_source  # its hint only


@pytest.mark.period
def test_free_account_sees_needs_pro_and_its_hit_limit(plane, browser):
    login(browser, plane, "penny")
    limited, day = within_one(lambda: (reload(browser, plane), text(browser, "count-limited"))[1])
    assert "needs Pro" in text(browser, "export-unavailable")
    assert "needs Pro" in text(browser, "keys-unavailable")
    assert limited == ("1" if plane["calls_month"] == month(day) else "0")  # its 429 counts in its month only
    hit = [r for r in table(browser, "limits") if r[4].startswith("limit reached")]
    assert hit and "penny" in hit[0][0] and hit[0][1] == "3" and hit[0][2] == "3"
    browser.set_window_size(390, 844)
    browser.get(plane["serve"].url + "/")
    overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, "the page scrolls sideways at phone width"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "dashboard-phone.png"))


def test_logout_ends_the_session(plane, browser):
    import urllib.error
    import urllib.request

    login(browser, plane, "owner")
    cookie = browser.get_cookie("aispendtrack_session")["value"]
    browser.find_element(By.CSS_SELECTOR, "[data-testid=logout]").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "[data-testid=key-input]"), what="the login form")
    req = urllib.request.Request(plane["serve"].url + "/dashboard/live.json",
                                 headers={"cookie": f"aispendtrack_session={cookie}"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401
