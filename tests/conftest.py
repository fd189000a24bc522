"""Shared test set-up: offline model hubs, the locally built base image, per-test run ids."""

from __future__ import annotations

import os
import uuid

# litellm and huggingface try the network at import unless told not to; nothing here may.
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def base_image() -> str:
    """Tag of the locally built Debian base sandbox image (built on first use, then cached)."""
    from dgm.sandbox.images import ensure_base_image

    return ensure_base_image()


@pytest.fixture
def run_id() -> str:
    """A fresh run id; every container the test started under it is swept afterwards."""
    rid = f"test-{uuid.uuid4().hex[:10]}"
    yield rid
    from dgm.sandbox.driver import sweep

    sweep(run_id=rid)


@pytest.fixture
def browser():
    """A real headless Chromium driven by selenium (Debian's chromium and chromium-driver)."""
    import shutil
    from pathlib import Path

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (Path(chromium).exists() and Path(chromedriver).exists()):
        pytest.fail("the browser test needs Debian's chromium and chromium-driver packages")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    yield driver
    driver.quit()
