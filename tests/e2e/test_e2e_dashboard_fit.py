"""The dashboard fits the screen (headless chromium at 1280×900 and 390×844): no element
wider than its card, no sideways scroll, every action button reachable — with the long
account, key, member and model names teams really use, a budget and a limit hit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import openai
import pytest
from selenium.webdriver.common.by import By

from support.browser import wait_for
from support.dashboard_plane import _seed_history, browser_for, chat, login, new_database, running, settle
from support.harness import REPO

SCREENSHOTS = Path(os.environ.get("AISPENDTRACK_SCREENSHOTS", REPO / "var" / "screenshots"))
ACCOUNT = "northwind-analytics-emea-production"
FREE = "penny-lane-consulting-group"
MEMBER = "maria.gonzalez-lopez"
BUILD = "build-server-eu-west-2-nightly-batch"
NOTEBOOK = "notebook-of-maria-gonzalez-lopez"
LONG_MODEL = "my-private-finetune-2026-q4-customer-support-experimental"  # unpriced: shown "not priced"
CONFIG = "[tiers.free]\nrequests_per_hour = 3\n[tiers.pro]\nmax_keys = 20\n[budgets]\nunpriced = \"allow\"\n"
SIZES = [(1280, 900), (390, 844)]

# every element of a card inside it; the page not wider than the window
OVERFLOW = """
const problems = [];
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth) problems.push(`page ${doc.scrollWidth} px wide in ${doc.clientWidth}`);
for (const card of document.querySelectorAll(".card")) {
  const c = card.getBoundingClientRect();
  for (const el of card.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.left < c.left - 1 || r.right > c.right + 1) {
      problems.push(`${el.tagName}.${el.getAttribute("class") || ""} [${Math.round(r.left)}, ${Math.round(r.right)}]`
                    + ` outside its card [${Math.round(c.left)}, ${Math.round(c.right)}]: `
                    + (el.textContent || "").trim().slice(0, 60));
    }
  }
}
return problems;
"""

# each button scrolled into view: in the window, of some size, on top, not clipped by a scrolling ancestor
HIDDEN_BUTTONS = """
const hidden = [];
for (const b of document.querySelectorAll("button")) {
  b.scrollIntoView({block: "center", inline: "center"});
  const r = b.getBoundingClientRect();
  let ok = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
  const hit = ok && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  ok = ok && hit && hit.closest("button") === b;
  for (let a = b.parentElement; a && ok; a = a.parentElement) {
    const s = getComputedStyle(a);
    if (s.overflowX !== "visible" || s.overflowY !== "visible") {
      const p = a.getBoundingClientRect();
      ok = r.left >= p.left - 1 && r.right <= p.right + 1 && r.top >= p.top - 1 && r.bottom <= p.bottom + 1;
    }
  }
  if (!ok) hidden.push(b.dataset.testid || b.textContent.trim());
}
window.scrollTo(0, 0);
return hidden;
"""


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dashboard-fit")
    db_path, config, store = new_database(tmp)
    with store:
        store.create_account(ACCOUNT, "pro")
        store.create_account(FREE, "free")
        store.add_member(ACCOUNT, MEMBER, "admin", config)
        made = {"owner": store.create_key(ACCOUNT, config, name="owner-laptop-of-the-platform-team"),
                "build": store.create_key(ACCOUNT, config, name=BUILD, models=("gpt-4o-mini", "gpt-4o", "claude-3-5-*")),
                "notebook": store.create_key(ACCOUNT, config, name=NOTEBOOK, member=MEMBER),
                "free": store.create_key(FREE, config, name="penny-lane-shared-laptop")}
        store.set_budget("key", made["build"].id, "5", "day", now=time.time())
        _seed_history(store, [made["build"].id, made["owner"].id], ACCOUNT)  # a month worth a screenshot
    with running(tmp, db_path, CONFIG, made) as plane:
        for key, model in (("build", "gpt-4o-mini"), ("build", "gpt-4o"), ("notebook", "gpt-4o-mini"),
                           ("owner", LONG_MODEL), ("owner", "gpt-4o-mini")):
            chat(plane, plane["keys"][key], model)
        for _ in range(3):
            chat(plane, plane["keys"]["free"])
        with pytest.raises(openai.RateLimitError):  # its hourly limit hit: a long "limit reached" state
            chat(plane, plane["keys"]["free"])
        settle(plane)
        yield plane


@pytest.fixture
def browser(plane):
    with browser_for(plane) as driver:
        yield driver


def at_size(driver, width: int, height: int) -> None:
    """The window's inner size exactly `width`×`height` (the window's frame differs by platform)."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [innerWidth, innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
    assert driver.execute_script("return [innerWidth, innerHeight]") == [width, height]


def open_at(driver, plane, name: str, width: int, height: int) -> None:
    """The dashboard of key `name` rendered afresh in a `width`×`height` window."""
    login(driver, plane, name)
    at_size(driver, width, height)
    driver.refresh()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "[data-testid=limits]"), what="the dashboard")


@pytest.mark.parametrize("width, height", SIZES)
def test_owner_dashboard_fits_and_every_action_is_reachable(plane, browser, width, height):
    open_at(browser, plane, "owner", width, height)
    page = browser.find_element(By.TAG_NAME, "main").text
    for name in (ACCOUNT, BUILD, NOTEBOOK, MEMBER, LONG_MODEL, plane["ids"]["build"]):
        assert name in page, name  # shown whole (wrapped at most), not cut off
    problems = browser.execute_script(OVERFLOW)
    assert problems == [], "\n".join(problems)
    buttons = {b.get_attribute("data-testid") for b in browser.find_elements(By.CSS_SELECTOR, "button")}
    for key in ("owner", "build", "notebook"):  # every active key's actions are there...
        assert {f"rotate-{plane['ids'][key]}", f"revoke-{plane['ids'][key]}"} <= buttons
    assert browser.execute_script(HIDDEN_BUTTONS) == []  # ...and each one can be seen and clicked
    cost = browser.find_element(By.CSS_SELECTOR, "[data-testid=latest] tbody tr td:nth-child(9)")
    assert cost.text.startswith("$") and cost.get_attribute("title").startswith("$")  # rounded; exact in the title
    spent = browser.execute_script("return [...document.querySelectorAll('[data-testid=limits] tr')]"
                                   ".find(r => r.textContent.includes('day budget')).cells[1]")
    assert spent.text.startswith("$") and spent.get_attribute("title").startswith("$")
    updated = browser.find_element(By.CSS_SELECTOR, "[data-live=updated]").text
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "[data-live=updated]").text != updated,
             what="the page's live refresh")
    assert browser.execute_script(OVERFLOW) == []  # the refreshed rows fit too
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / f"dashboard-{width}x{height}.png"))
    if width < 700:  # the tables as cards: the keys and their actions
        browser.execute_script("document.querySelector('[data-testid=keys]').scrollIntoView()")
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-{width}x{height}-tables.png"))
    else:
        full = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(width + 16, full + 200)  # as tall as the page, for one picture of it all
        browser.save_screenshot(str(SCREENSHOTS / f"dashboard-{width}-full.png"))


@pytest.mark.parametrize("width, height", SIZES)
def test_free_dashboard_with_a_hit_limit_fits(plane, browser, width, height):
    open_at(browser, plane, "free", width, height)
    state = browser.find_element(By.CSS_SELECTOR, "[data-testid=limits] tr.hit").text
    assert "limit reached: next request admitted in" in state and " s)" not in state
    assert browser.execute_script(OVERFLOW) == []
    assert browser.execute_script(HIDDEN_BUTTONS) == []
