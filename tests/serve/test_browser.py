"""The live page in real headless Chromium: nodes appear without a reload, a click shows the diff,
a trajectory steps, agent text stays inert, and without the token there is nothing but 403."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By

from tests.serve.conftest import MARKUP, TASKS, add_child, wait_for
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


CAPTURE = """
window.treeEvents = [];
var token = JSON.parse(document.getElementById('tree-data').textContent).token;
var es = new EventSource('events?since=' + encodeURIComponent(token));
es.addEventListener('tree', function (ev) { window.treeEvents.push(JSON.parse(ev.data)); });
window.drawnBefore = Array.prototype.slice.call(document.querySelectorAll('svg.lineage g.node'));
performance.clearResourceTimings();
"""


def test_a_new_node_is_patched_in_not_redrawn(run: Path, serve, browser, tmp_path: Path) -> None:
    from dgm.archive import Archive

    with Archive.open(run) as archive:
        for k in range(2, 13):  # node 1 gets one child, the seed ten more to its right
            add_child(archive, tmp_path, "1" if k == 2 else "0", f"n{k}", f"retry = {k}",
                      status="rejected:below gate", resolved=[False, False])
    served = serve(run)
    browser.get(served.url)
    wait_for(lambda: "live" == browser.find_element(By.ID, "live").text, what="the event stream")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")) == 13
    browser.execute_script(CAPTURE)  # the test's own listener on the same stream, and the drawn groups

    with Archive.open(run) as archive:
        new = add_child(archive, tmp_path, "1", "n13", "retry = 13", status="rejected:below gate",
                        resolved=[True, False])
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{new}"]'),
             what=f"node {new} in the tree")
    events = wait_for(lambda: browser.execute_script("return window.treeEvents"), what="the tree event")
    # The change carried the new node's record only; the other nodes at most moved (positions only).
    assert [r[0] for e in events for r in e["nodes"]] == [new]
    assert all(isinstance(v, (int, float)) for e in events for v in e["moves"][1::3] + e["moves"][2::3])
    # Every group drawn before is still the same DOM object, at its place: patched, not redrawn.
    assert browser.execute_script("""
        return window.drawnBefore.every(function (g) {
          return document.contains(g) &&
                 document.querySelector('svg.lineage g.node[data-node="' + g.getAttribute('data-node') + '"]') === g;
        });""") is True
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(function (r) { return r.name; })")
    assert not [u for u in fetched if "api/tree" in u], fetched  # the whole tree was not fetched again
    # Node 1's second child pushed the leaves to its right one slot over: they came as positions only,
    # and their groups stand there now.
    moves = [m for e in events for m in zip(e["moves"][0::3], e["moves"][1::3], e["moves"][2::3])]
    assert {m[0] for m in moves} == {"0", "1"} | {str(k) for k in range(3, 13)}
    for node_id, x, y in moves:
        at = browser.execute_script(f"return document.getElementById('tree-node-{node_id}').getAttribute('transform')")
        assert at == f"translate({x:g},{y:g})"


def test_the_verification_panel_shows_the_instruments_as_the_run_goes(run: Path, serve, browser,
                                                                      tmp_path: Path) -> None:
    from dgm.archive import Archive

    # The model's P(resolved) next to what grading found, as the loop records them.
    with Archive.open(run) as archive:
        for node_id, pairs in (("0", [(0.9, True), (0.2, False)]), ("1", [(0.8, True), (0.3, True)])):
            for iid, (p, ok) in zip(TASKS, pairs):
                archive.record_result(node_id, iid, {"resolved": ok, "empty_patch": False, "stage": 1,
                                                     "verification": {"p": p, "tokens_in": 100, "tokens_out": 5}})
    served = serve(run)
    browser.get(served.url)

    def card(name: str) -> str:
        for c in browser.find_elements(By.CSS_SELECTOR, "#part-verify .card"):
            if c.find_element(By.CSS_SELECTOR, ".k").text == name:
                return c.find_element(By.CSS_SELECTOR, ".v").text
        return ""

    rate = wait_for(lambda: card("resolve rate"), timeout=60, what="the instruments")
    assert rate.splitlines() == ["0.750", "4 verified run(s)"]  # 3 of the 4 verified runs resolved
    assert card("collapse alarm") in ("off", "on")
    # The gap: resolve rate of the runs the model accepted (P >= 0.5: both resolved) minus the overall one.
    assert card("gap").splitlines()[0] == "0.250"
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#non-overlap td")]
    assert cells and all(t.isdigit() or t == "·" for t in cells)
    assert browser.find_element(By.CSS_SELECTOR, "#part-verify svg.chart").is_displayed()

    # The run goes on: a child with two more verified runs; the panel follows without a reload.
    browser.execute_script("window.notReloaded = true")
    with Archive.open(run) as archive:
        new = add_child(archive, tmp_path, "1", "n2", "retry = 5", status="admitted", resolved=[True, False])
        for iid, (p, ok) in zip(TASKS, [(0.7, True), (0.6, False)]):
            archive.record_result(new, iid, {"resolved": ok, "empty_patch": False, "stage": 1,
                                             "verification": {"p": p, "tokens_in": 100, "tokens_out": 5}})
    rate = wait_for(lambda: "6 verified" in card("resolve rate") and card("resolve rate"), timeout=60,
                    what="the instruments after the new node")
    assert rate.splitlines() == ["0.667", "6 verified run(s)"]
    assert card("gap").splitlines()[0] == "0.083"  # accepted 3 of 4 resolved, overall 4 of 6
    assert browser.execute_script("return window.notReloaded") is True
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []
