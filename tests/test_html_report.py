"""The HTML report: what it shows, that third-party text stays text, the command line, and (in
a real headless Chromium) that the pages load clean, expand and link as they should."""
import json
import os
import re
from pathlib import Path

import pytest

from conformance import html_report
from conformance.html_parts import SYMBOL, aggregate, anchor, fmt_ratio
from conformance.html_report import _grouped, _keyed, render_candidate, render_comparison
from tests.report_samples import HOSTILE_LAYER, HOSTILE_MESSAGE, HOSTILE_TEXTS, HOSTILE_VALUE, \
    candidate_matrix, second_matrix

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """reports/{cand-a,cand-b}/{matrix.json,index.html} and reports/index.html, via the CLI."""
    root = tmp_path_factory.mktemp("reports")
    paths = []
    for matrix in (candidate_matrix("cand-a"), second_matrix("cand-b")):
        path = root / matrix["candidate"]["name"] / "matrix.json"
        path.parent.mkdir()
        path.write_text(json.dumps(matrix))
        paths.append(str(path))
    assert html_report.main(["compare", *paths, "-o", str(root / "index.html")]) == 0
    return root


# The page's content ---------------------------------------------------------------------------

def test_pages_are_single_files_without_external_resources(site):
    for page in (site / "index.html", site / "cand-a" / "index.html", site / "cand-b" / "index.html"):
        text = page.read_text()
        assert "http://" not in text and "https://" not in text
        assert not re.search(r"<(link|img|iframe|object|embed)\b|<[^>]*\s(src|srcset)=|@import|url\(",
                             text)
        assert text.count("<script") == 1 and text.count("<style") == 1


def test_hostile_text_is_escaped_everywhere():
    for html in (render_candidate(candidate_matrix()),
                 render_comparison([("a/matrix.json", candidate_matrix())])):
        for hostile in HOSTILE_TEXTS:
            assert hostile not in html
        assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html
    html = render_candidate(candidate_matrix())
    assert "&quot;&#x27;&gt;&lt;img src=x onerror=window.__pwned=2&gt;" in html
    assert "&lt;/details&gt;&lt;script&gt;window.__pwned=3&lt;/script&gt; &amp; &lt;b&gt;" in html


def test_candidate_summary_and_every_status_in_words():
    html = render_candidate(candidate_matrix())
    assert "cand-a" in html and "keras3" in html and "cpu" in html and "keras 3.15.1" in html
    for status, symbol in SYMBOL.items():
        assert f"{symbol} {status}" in html


def test_values_and_pairs_aggregate_the_cells_having_them():
    cells = candidate_matrix()["layers"]["Dense"]["cells"]
    four = aggregate(_grouped(_keyed(cells), "units")[("4",)])       # values keyed as JSON text
    assert (four["status"], four["cells"], four["worst"]) == ("failed", 2, 12.5)
    assert four["counts"] == {"passed": 2, "failed": 1}
    pair = aggregate(_grouped(_keyed(cells), "units", "use_bias")[("8", "false")])
    assert (pair["status"], dict(pair["counts"])) == ("skipped", {"skipped": 1})
    html = render_candidate(candidate_matrix())
    assert "units ╲ use_bias" in html and "kernel_size ╲ opts" in html


def test_failing_cells_are_collapsed_and_show_the_worst_element_and_rerun():
    html = render_candidate(candidate_matrix())
    cells = re.findall(r"<details class=\"cell\"[^>]*>.*?</details>", html, re.S)
    assert cells and not any("<details class=\"cell\" open" in c for c in cells)
    dense = next(c for c in cells if "units=4 · use_bias=false" in c)
    assert "Dense-003" in dense and "Dense-004" not in dense     # the passed case is counted
    assert "expected 1.0 · got 1.0000125 · bound 1e-06 · ratio" in dense
    assert "index [0, 1]" in dense and "--case &#x27;Dense-003&#x27;" in dense


@pytest.mark.parametrize("ratio, text", [(None, "—"), (0.5, "0.5"), (1, "1"),
                                         (12.5, '<span class="over">12.5</span>'),
                                         (1e308, '<span class="over">∞</span>'),
                                         ("inf", '<span class="over">∞</span>')])
def test_ratios(ratio, text):
    assert fmt_ratio(ratio) == text


def test_comparison_links_each_layer_and_says_not_run():
    html = render_comparison([("cand-a/matrix.json", candidate_matrix("cand-a")),
                              ("../b dir/matrix.json", second_matrix("cand-b"))])
    assert 'href="cand-a/index.html#layer-Dense"' in html
    assert 'href="../b%20dir/index.html#layer-Dense"' in html
    hostile_href = "cand-a/index.html#" + anchor(HOSTILE_LAYER)
    assert f'href="{hostile_href}"' in html and "<" not in hostile_href
    assert html.count("– not run") == 1


def test_cli_writes_each_candidate_page_next_to_its_matrix(site):
    assert (site / "cand-a" / "index.html").exists() and (site / "cand-b" / "index.html").exists()
    assert 'href="cand-a/index.html#layer-Dense"' in (site / "index.html").read_text()
    (site / "cand-a" / "index.html").unlink()
    assert html_report.main(["render", str(site / "cand-a" / "matrix.json")]) == 0
    assert (site / "cand-a" / "index.html").exists()


@pytest.mark.parametrize("content, says", [(None, "cannot read"), ("{not json", "cannot read"),
                                           ('{"layers": {}}', "not a valid matrix")])
def test_cli_refuses_bad_matrix_files(tmp_path, capsys, content, says):
    path = tmp_path / "matrix.json"
    if content is not None:
        path.write_text(content)
    assert html_report.main(["render", str(path)]) == 2
    err = capsys.readouterr().err
    assert says in err and str(path) in err
    assert not (tmp_path / "index.html").exists()


# In a real browser ---------------------------------------------------------------------------

def _need(what):
    """Skip without a browser; in CI (CI=true), which installs one, fail instead."""
    reason = f"{what}: install with `apt-get install -y chromium` and `pip install playwright`"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("the playwright package is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _need(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Tab:
    """A fresh page that records console errors, page errors and every URL it requests."""

    def __init__(self, browser):
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors, self.requests = [], []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path):
        self.page.goto(Path(path).as_uri())
        return self.page

    def assert_clean(self):
        assert self.errors == []
        assert all(url.startswith("file://") for url in self.requests), self.requests


@pytest.fixture
def tab(browser):
    tab = Tab(browser)
    yield tab
    tab.context.close()


def test_hostile_text_is_shown_as_text_and_never_runs(tab, site):
    page = tab.open(site / "cand-a" / "index.html")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.images.length") == 0
    assert HOSTILE_LAYER in page.inner_text("body")             # visible, as text
    text = page.evaluate("document.body.textContent")           # collapsed parts included
    assert HOSTILE_VALUE in text and HOSTILE_MESSAGE in text
    tab.assert_clean()


def test_a_failing_cell_opens_on_click(tab, site):
    page = tab.open(site / "cand-a" / "index.html")
    cell = page.locator("details.cell").filter(has_text="use_bias=false").first
    cases = cell.locator(".cases")
    assert cell.is_visible() and not cases.is_visible()
    cell.locator("summary").click()
    assert cases.is_visible()
    assert cases.get_by_text("Dense-003", exact=True).is_visible()
    assert cases.locator(".rerun code").inner_text().endswith("--case 'Dense-003'")
    page.get_by_text("collapse all cells").click()
    assert not cases.is_visible()
    tab.assert_clean()


def test_only_failing_layers_filter(tab, site):
    page = tab.open(site / "cand-b" / "index.html")
    dense = page.locator("section#layer-Dense")
    assert dense.is_visible()
    page.get_by_label("only layers with failures").check()
    assert not dense.is_visible() and page.locator("section#layer-Conv1D").is_visible()
    tab.assert_clean()


@pytest.mark.parametrize("layer", ["Dense", HOSTILE_LAYER])
def test_the_side_by_side_page_links_to_the_layer_on_the_detail_page(tab, site, layer):
    page = tab.open(site / "index.html")
    assert page.locator("table.compare").get_by_text("not run").is_visible()
    link = page.locator(f'a[href="cand-a/index.html#{anchor(layer)}"]')
    assert link.inner_text() == ("✗ failed" if layer == "Dense" else "⚠ error")
    link.click()
    page.wait_for_url("**/cand-a/index.html#*")
    assert page.evaluate("document.querySelector(':target').id") == anchor(layer)
    assert page.locator(":target h2").inner_text() == layer
    assert page.locator(":target h2").is_visible()
    tab.assert_clean()


def test_gate_findings_are_shown_and_escaped():
    from conformance.html_report import render_candidate
    from tests.report_samples import candidate_matrix
    matrix = candidate_matrix()
    matrix["gate"] = {"stale": ["Dense-001"], "unmatched_patterns": ["<script>x</script>*"],
                      "baseline": {"path": "old/matrix.json", "improved": [],
                                   "regressed": [{"layer": "Dense", "params": {"units": 3},
                                                  "before": "passed", "after": "failed"}]}}
    page = render_candidate(matrix)
    assert "Dense-001" in page and "stale entry" in page and "regressed" in page
    assert "&lt;script&gt;x&lt;/script&gt;*" in page and "<script>x</script>" not in page
