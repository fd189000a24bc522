"""The report in a real headless Chromium from file://: the tree renders, clicking a node shows its diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.cli import main

def test_tree_renders_and_a_click_shows_the_diff(run_dir: tuple[Path, dict], browser) -> None:
    from selenium.webdriver.common.by import By

    run, ids = run_dir
    out = run / "report.html"
    assert main(["report", str(run)]) == 0
    browser.get(out.resolve().as_uri())
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg.lineage g.node")
    assert len(nodes) == 7
    # The circles were laid out and drawn: each has a real box on screen.
    assert all(n.rect["width"] > 10 and n.rect["height"] > 10 for n in nodes)
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.lineage path.edge.best-path")) == 2
    # The best node's panel is shown first, every other one hidden.
    visible = [p for p in browser.find_elements(By.CSS_SELECTOR, "article.panel") if p.is_displayed()]
    assert [p.get_attribute("data-node") for p in visible] == [ids["best"]]

    # Node a carries a diagnosis with <script> and an onerror image: shown as text, never run.
    browser.find_element(By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{ids["a"]}"]').click()
    panel = browser.find_element(By.ID, f"panel-{ids['a']}")
    assert panel.is_displayed()
    assert not browser.find_element(By.ID, f"panel-{ids['best']}").is_displayed()
    added = [s.text for s in panel.find_elements(By.CSS_SELECTOR, "pre.diff span.d-add")]
    assert added == ["+    retry = 3"]
    assert '<script>document.title="pwned"</script>' in panel.find_element(By.CSS_SELECTOR, "dl.diagnosis").text
    assert browser.title != "pwned"
    assert "selected" in browser.find_element(
        By.CSS_SELECTOR, f'svg.lineage g.node[data-node="{ids["a"]}"]').get_attribute("class")

    # A link in a panel (the parent) navigates to that node's panel.
    panel.find_element(By.CSS_SELECTOR, f'a.goto[data-goto="0"]').click()
    assert browser.find_element(By.ID, "panel-0").is_displayed()
    assert not panel.is_displayed()
    # Zoom buttons scale the drawing.
    svg = browser.find_element(By.ID, "lineage")
    width = float(svg.get_attribute("width"))
    browser.find_element(By.CSS_SELECTOR, 'button[data-zoom="in"]').click()
    assert float(svg.get_attribute("width")) > width * 1.2
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert errors == []

    # A link to a node (#node-<id>) opens the report on that node.
    browser.get(out.resolve().as_uri() + f"#node-{ids['b']}")
    assert browser.find_element(By.ID, f"panel-{ids['b']}").is_displayed()
    assert not browser.find_element(By.ID, f"panel-{ids['best']}").is_displayed()
    # Opening on a node's link starts at the top of the page (the summary), not scrolled away.
    browser.get(out.resolve().as_uri().replace("report.html", "report.html?again") + f"#node-{ids['b']}")
    assert browser.find_element(By.ID, f"panel-{ids['b']}").is_displayed()
    assert browser.execute_script("return window.scrollY") == 0
