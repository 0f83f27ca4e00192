"""Headless Debian chromium driven by Selenium through Debian's chromium-driver."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = "chromium"
DRIVER = "chromedriver"


def chrome(download_dir: Path, width: int = 1280, height: int = 900):
    """A headless chromium; fails (never skips) with the reason when it is not installed."""
    binary, driver = shutil.which(CHROMIUM), shutil.which(DRIVER)
    if not binary or not driver:
        pytest.fail(f"the browser tests need Debian's chromium and chromium-driver ({CHROMIUM}: {binary}, "
                    f"{DRIVER}: {driver}); scripts/test installs them with scripts/browser-deps when it can")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--no-proxy-server",
                "--disable-gpu", "--disable-extensions", f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    driver_ = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    driver_.set_page_load_timeout(30)
    return driver_


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    """Poll `condition()` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)
