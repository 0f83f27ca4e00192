"""mitmweb loads the checkout's entry file; rejected flows are marked, metered flows carry cost,
and the flow list shows the cost in a stock headless Chromium (no emoji font)."""

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx2
import openai
import pytest

from aispendtrack.proxy import webview
from aispendtrack.proxy.auth import HEADER

from support.browser import chrome
from support.harness import MITMDUMP, REPO, free_port, mitmdump_argv, wait_port

TOKEN = "aispendtrack-test-token"


@pytest.fixture
def mitmweb(tmp_path, db_path, fake, account_key):
    port, web = free_port(), free_port()
    # the checkout's entry file, as the README shows it
    argv = mitmdump_argv(
        [f"reverse:{fake.url}@{port}"], program=MITMDUMP.with_name("mitmweb"), entry=REPO / "addon" / "aispendtrack_addon.py",
        options={"listen_host": "127.0.0.1", "confdir": tmp_path, "web_open_browser": "false", "web_port": web,
                 "web_host": "127.0.0.1", "web_password": TOKEN, "aispendtrack_db": db_path, "connection_strategy": "lazy"},
    )  # fmt: skip
    log = open(tmp_path / "mitmweb.log", "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc=proc)
        wait_port(web, proc=proc)
        yield port, web
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def make_calls(port: int, key: str) -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0,
                           default_headers={HEADER: key})
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    client.chat.completions.create(model="acme-private-llm-7b", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0).models.list()


def web_flows(web: int, count: int) -> list[dict]:
    deadline = time.time() + 10
    while True:
        flows = httpx2.get(f"http://127.0.0.1:{web}/flows", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        if len(flows) >= count or time.time() > deadline:
            return flows
        time.sleep(0.1)


def test_mitmweb_shows_cost_and_rejections(mitmweb, account_key):
    port, web = mitmweb
    make_calls(port, account_key.key)
    flows = web_flows(web, 3)
    ok = next(f for f in flows if f["response"]["status_code"] == 200)
    rejected = next(f for f in flows if f["response"]["status_code"] == 401)
    assert ok["comment"].startswith("$0.00033 · gpt-4o-mini · 1,200 in")
    assert rejected["marked"] == "✖" and "missing x-aispendtrack-key" in rejected["comment"]
    options = httpx2.get(f"http://127.0.0.1:{web}/options", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert options["web_columns"]["value"][-1] == "comment"
    shown = httpx2.get(f"http://127.0.0.1:{web}/flows", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert account_key.key not in shown


# Whether the first n characters of a cell's text are drawn inside the cell.
PREFIX_VISIBLE = """
const td = arguments[0], n = arguments[1];
const text = td.firstChild; const r = document.createRange();
r.setStart(text, 0); r.setEnd(text, n);
const cell = td.getBoundingClientRect(), box = r.getBoundingClientRect();
return box.width > 0 && box.right <= cell.right + 0.5;
"""


def test_flow_list_in_a_stock_browser(mitmweb, account_key, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port, web = mitmweb
    make_calls(port, account_key.key)
    assert len(web_flows(web, 3)) == 3
    drv = chrome(tmp_path, width=1100, height=420)
    try:
        drv.get(f"http://127.0.0.1:{web}/?token={TOKEN}")
        WebDriverWait(drv, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "td.col-comment")) >= 3)
        shot = Path(os.environ.get("AISPENDTRACK_SCREENSHOT", tmp_path / "mitmweb.png"))
        assert drv.save_screenshot(str(shot))
        cells = {c.text: c for c in drv.find_elements(By.CSS_SELECTOR, "td.col-comment")}
        priced = next(c for t, c in cells.items() if t.startswith("$0.00033 · gpt-4o-mini"))
        unpriced = next(c for t, c in cells.items() if t.startswith("unpriced · acme-private-llm-7b"))
        # mitmweb draws the comment column 150 px wide: the cost must be readable in it
        assert drv.execute_script(PREFIX_VISIBLE, priced, len("$0.00033 · gpt"))
        assert drv.execute_script(PREFIX_VISIBLE, unpriced, len("unpriced"))
        markers = {m.text for m in drv.find_elements(By.CSS_SELECTOR, ".marker") if m.text}
        assert markers == {"✖", "⁉"}, markers
    finally:
        drv.quit()
    # each marker has a glyph in the fonts a stock Linux browser has (no emoji font here)
    if shutil.which("fc-list"):
        for name in (webview.MARK_REJECTED, webview.MARK_LIMITED, webview.MARK_UNAVAILABLE, webview.MARK_UNPRICED):
            from mitmproxy.utils.emoji import emoji

            cp = format(ord(emoji[name].replace("\ufe0f", "")), "x")
            fonts = subprocess.run(["fc-list", f":charset={cp}", "family"], capture_output=True, text=True).stdout
            assert fonts.strip(), f"no installed font draws {name} (U+{cp})"
