"""mitmweb loads the checkout's entry file; rejected flows are marked, metered flows carry cost."""

import subprocess
import time

import httpx2
import openai

from aispendtrack.proxy.auth import HEADER

from .harness import MITMDUMP, REPO, free_port, mitmdump_argv, wait_port

TOKEN = "aispendtrack-test-token"


def test_mitmweb_shows_cost_and_rejections(tmp_path, db_path, fake, account_key):
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
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0,
                               default_headers={HEADER: account_key.key})
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-x", max_retries=0).models.list()
        except openai.AuthenticationError:
            pass
        deadline = time.time() + 10
        while True:
            flows = httpx2.get(f"http://127.0.0.1:{web}/flows", headers={"Authorization": f"Bearer {TOKEN}"}).json()
            if len(flows) >= 2 or time.time() > deadline:
                break
            time.sleep(0.1)
        ok = next(f for f in flows if f["response"]["status_code"] == 200)
        rejected = next(f for f in flows if f["response"]["status_code"] == 401)
        assert ok["comment"].startswith("$") and "1,200 in" in ok["comment"] and "gpt-4o-mini" in ok["comment"]
        assert rejected["marked"] == "⛔" and "missing x-aispendtrack-key" in rejected["comment"]
        shown = httpx2.get(f"http://127.0.0.1:{web}/flows", headers={"Authorization": f"Bearer {TOKEN}"}).text
        assert account_key.key not in shown
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
