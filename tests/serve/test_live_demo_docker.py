"""The offline demo watched live: `dgm evolve` with the scripted model writes the run while `dgm serve`
reads it and Chromium shows it. The seed fails a task, a child fixes it and is admitted above the seed,
another does not compile and says so; the page follows each step without a reload."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from tests.serve.conftest import REPO, wait_for

pytestmark = pytest.mark.docker

CONFIG = REPO / "configs" / "offline-demo.toml"
# The demo's first iteration on two tasks: the smoke task, and the one the first self-modification fixes.
STAGES = 'dataset.stages=[1, ["dgm-toy__textkit-2"]]'


def test_the_demo_improves_and_the_open_page_follows_it(tmp_path: Path, serve, browser) -> None:
    from dgm.archive import Archive

    run_dir = tmp_path / "run"
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "PYTHONPATH": str(REPO)}
    args = [sys.executable, "-m", "dgm.evolve", str(CONFIG)]
    for item in (f'run.dir="{run_dir}"', f'dataset.store="{tmp_path / "store"}"', STAGES, "evolve.iterations=1",
                 "evolve.cache=off"):
        args += ["-c", item]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: (run_dir / "archive.sqlite").is_file() or proc.poll() is not None, 120, "the archive")
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        served = serve(run_dir)
        browser.get(served.url)
        wait_for(lambda: browser.find_element(By.ID, "live").text == "live", what="the event stream")
        browser.execute_script("window.notReloaded = true")
        busy = []  # what the worker table showed while the run went on

        def child_drawn():
            rows = browser.find_elements(By.CSS_SELECTOR, "#part-workers table.workers tbody td")
            busy.extend(r.text for r in rows if "node" in r.text)
            assert proc.poll() is None or browser.find_elements(By.CSS_SELECTOR, 'g.node[data-node="2"]'), \
                proc.stdout.read()[-3000:]
            return browser.find_elements(By.CSS_SELECTOR, 'svg.lineage g.node[data-node="2"]')

        wait_for(child_drawn, 420, "the children in the open page")
        out, _ = proc.communicate(timeout=420)
        assert proc.returncode == 0, out[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert busy, "the worker table never showed a worker at work"

    with Archive.open(run_dir) as archive:
        nodes = {n.id: n for n in archive.nodes()}
    root = nodes["0"]
    children = [n for n in nodes.values() if n.id != "0"]
    admitted = [n for n in children if n.status == "admitted"]
    rejected = [n for n in children if n.status.startswith("rejected:")]
    assert root.score == 0.5  # the seed fails the snake_to_camel task
    assert [n.score for n in admitted] == [1.0]  # the child that reads the issue twice solves it
    assert [n.status for n in rejected] == ["rejected:does not compile"]
    good, broken = admitted[0], rejected[0]

    # The page caught up without a reload: the admitted child coloured by its score, the rejected one marked.
    def statuses():
        return {g.get_attribute("data-node"): g.get_attribute("class")
                for g in browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")}
    wait_for(lambda: "admitted" in statuses().get(good.id, "") and "rejected" in statuses().get(broken.id, ""),
             what="the final statuses in the page")
    assert browser.execute_script("return window.notReloaded") is True
    assert "best" in statuses()[good.id] and "on-path" in statuses()[good.id]
    browser.find_element(By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{good.id}"]').click()
    panel = wait_for(lambda: browser.find_element(By.ID, f"panel-{good.id}"), what="the child's panel")
    added = " ".join(s.text for s in panel.find_elements(By.CSS_SELECTOR, "pre.diff span.d-add"))
    assert "Read the whole issue twice before you act." in added
    browser.find_element(By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{broken.id}"]').click()
    panel = wait_for(lambda: browser.find_element(By.ID, f"panel-{broken.id}"), what="the rejected child's panel")
    assert "rejected:does not compile" in panel.find_element(By.CSS_SELECTOR, ".badge").text
    finished = json.loads((run_dir / "progress.json").read_text())
    assert finished["finished"] is True
    wait_for(lambda: "finished" in browser.find_element(By.ID, "part-workers").text, what="the finished run")
