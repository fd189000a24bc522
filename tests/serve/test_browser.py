"""The live page in real headless Chromium: nodes appear without a reload, a click shows the diff,
a trajectory steps, agent text stays inert, and without the token there is nothing but 403."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.serve.conftest import MARKUP, add_child, wait_for
from tests.terminal_payloads import assert_inert


def test_a_new_node_appears_live_and_its_diff_opens(run: Path, serve, browser, tmp_path: Path) -> None:
    from dgm.archive import Archive

    served = serve(run)
    browser.get(served.url)
    assert browser.current_url.split("#")[0] == served.base  # the token went into a cookie and out of the address bar
    wait_for(lambda: "live" == browser.find_element(By.ID, "live").text, what="the event stream")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")) == 2
    browser.execute_script("window.notReloaded = true")

    # The writer adds a node while the page is open (the same API the loop writes through).
    with Archive.open(run) as archive:
        new = add_child(archive, tmp_path, "1", "n2", "retry = 5", status="admitted", resolved=[True, True],
                        task="Retry five times.")
    node = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{new}"]'),
                    what=f"node {new} in the tree")
    assert browser.execute_script("return window.notReloaded") is True
    assert "new" in node.get_attribute("class")
    assert node.rect["width"] > 10  # drawn, on screen
    node.click()
    panel = wait_for(lambda: browser.find_element(By.ID, f"panel-{new}"), what="the node's panel")
    added = [s.text for s in panel.find_elements(By.CSS_SELECTOR, "pre.diff span.d-add")]
    assert added == ["+    retry = 5"]
    assert "Retry five times." in panel.text

    # A trajectory steps one step at a time.
    browser.find_element(By.CSS_SELECTOR, f'button.traj[data-node="{new}"][data-task="toy__calc-1"]').click()
    shown = lambda: [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#part-traj li.step")  # noqa: E731
                     if li.is_displayed()]
    assert "echo step-1" in wait_for(lambda: " ".join(shown()), what="the first step")
    browser.find_element(By.CSS_SELECTOR, 'button[data-stepper="next"]').click()
    assert len(shown()) == 1 and "echo step-2" in shown()[0] and "output of step 2" in shown()[0]
    browser.find_element(By.CSS_SELECTOR, 'button[data-stepper="all"]').click()
    assert len(shown()) == 3

    # The status of a node changing (pending -> rejected) also reaches the page.
    with Archive.open(run) as archive:
        archive.update_node(new, status="rejected:below gate")
    wait_for(lambda: "rejected" in browser.find_element(
        By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{new}"]').get_attribute("class"), what="the new status")
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []


def test_agent_text_is_inert_and_no_token_means_403(run: Path, serve, browser) -> None:
    served = serve(run)
    browser.get(served.url)
    # The page opens on the best node, node 1, and says when it is live.
    wait_for(lambda: browser.find_element(By.ID, "live").text == "live", what="the event stream")
    panel = wait_for(lambda: browser.find_element(By.ID, "panel-1"), what="node 1's panel")
    text = panel.find_element(By.CSS_SELECTOR, "dl.diagnosis").text
    # Markup shows as text; terminal and bidi controls show as visible escapes.
    assert MARKUP in text
    assert_inert(text)
    assert_inert(browser.page_source, visible=())
    assert MARKUP in panel.find_element(By.CSS_SELECTOR, ".task").text
    assert panel.find_elements(By.TAG_NAME, "img") == [] and panel.find_elements(By.TAG_NAME, "script") == []
    assert browser.title != "pwned" and "owned" not in browser.title

    # The same browser without its cookie, and a wrong token: refused, whatever the path.
    browser.delete_all_cookies()
    for path in ("", "api/main", "api/node?id=1", "static/serve.js", f"?token={served.token[:-1]}x"):
        browser.get(served.base + path)
        assert "403" in browser.find_element(By.TAG_NAME, "body").text, path
