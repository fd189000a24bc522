"""`dgm report` on a real archive: one self-contained file, escaped data, plots beside it, correct numbers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from dgm.cli import main
from tests.report.conftest import XSS


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self.panels: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "g" and "node" in (a.get("class") or "").split():
            self.nodes.append(a["data-node"])
        if tag == "article" and "panel" in (a.get("class") or "").split():
            self.panels.append(a["data-node"])
        if tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            value = a.get(key) or ""
            if re.match(r"^(https?:)?//", value):
                self.external.append(value)
        if tag == "link":
            self.external.append(str(a))


def test_report_is_one_self_contained_file(run_dir: tuple[Path, dict], capsys) -> None:
    run, ids = run_dir
    out = run / "out" / "r.html"
    assert main(["report", str(run), "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text()
    parsed = _Collect()
    parsed.feed(html)
    assert sorted(parsed.nodes) == sorted(str(i) for i in range(7))
    assert sorted(parsed.panels) == sorted(parsed.nodes)
    assert parsed.scripts == 1 and parsed.external == []
    # Plots inline as SVG, and as files beside the HTML in both formats.
    assert html.count('<svg class="plot"') == 2
    for name in ("progress", "cost"):
        png = out.with_name(f"r-{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
        ET.parse(out.with_name(f"r-{name}.svg"))  # well-formed XML
    # The best node's panel shows up first, with its diff against the parent.
    assert f'data-start="{ids["best"]}"' in html
    panel = html.split(f'id="panel-{ids["best"]}"', 1)[1].split("</article>", 1)[0]
    assert '<span class="d-add">+    run_tests()\n</span>' in panel
    assert "+def run_tests():" in panel and "tests/test_toy__strings-2.py::test_case" in panel
    # Task artifacts are linked relative to the report, wherever it was written.
    assert f'href="../artifacts/{ids["best"]}/tasks/toy__calc-1/eval.log"' in panel
    assert f'href="../artifacts/{ids["best"]}/selfmod/patch.diff"' in panel


def test_agent_text_is_escaped(run_dir: tuple[Path, dict]) -> None:
    run, ids = run_dir
    assert main(["report", str(run)]) == 0
    html = (run / "report.html").read_text()
    assert XSS not in html
    assert "<script>document" not in html and "<img src=x" not in html
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in html
    assert html.count("<script>") == 1  # only the page's own


def test_summary_numbers(run_dir: tuple[Path, dict]) -> None:
    from dgm.archive import Archive
    from dgm.report.model import collect
    from dgm.report.plots import cost_series, progress_series

    run, ids = run_dir
    with Archive.open(run) as archive:
        view = collect(archive)
    s = view.stats
    assert (s.nodes, s.admitted, s.pending, s.rejected) == (7, 3, 1, 3)
    assert s.rejected_by_reason == {"does not compile": 1, "empty patches": 1, "below gate": 1}
    assert (s.best_id, s.best_score, s.best_resolved, s.best_evaluated) == (ids["best"], 0.75, 3, 4)
    assert view.best_path == ["0", ids["a"], ids["best"]]
    assert abs(s.cost_usd - 12 * 0.004) < 1e-9 and s.calls_tokens == sum(1200 + 10 * k for k in range(12))
    # Best and mean over admitted nodes only: the rejected 0.25 at iteration 3 moves neither.
    its, best, mean = progress_series(view)
    assert its == [0, 1, 2, 3]
    assert best == [0.25, 0.5, 0.75, 0.75]
    assert mean == [0.25, 0.375, 0.5, 0.5]
    label, xs, usd, tin, tout = cost_series(view)
    assert label.startswith("minutes") and xs[-1] == 11.0 and abs(usd[-1] - 0.048) < 1e-9
    assert tin[-1] == sum(1000 + 10 * k for k in range(12)) and tout[-1] == 12 * 200


def test_missing_run_is_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err
