"""Build the site (tiny corpus, few clips) and check each chapter page: audio, figures, widgets, no CDN."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""")


def chapter_pages(site):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [site / (c["file"] + ".html") for c in toc["chapters"]]


def test_every_chapter_page_has_sound_figures_and_numbers(site):
    assert (site / "index.html").is_file()
    for page in chapter_pages(site):
        html = page.read_text()
        appendix = page.name.startswith("appendix")  # measurements of the code, not of audio: figures, no players
        assert html.count("<audio") >= (0 if appendix else 3), page.name
        assert len(re.findall(r"<img[^>]+_images/[^>]+\.png", html)) >= (2 if appendix else 3), page.name
        assert "Failed to format" not in html
        # every number glued into the prose was rendered
        source = (ROOT / page.relative_to(site)).with_suffix(".ipynb").read_text()
        assert html.count('class="pasted-text"') == source.count("{glue:text}") > 0, page.name
        # and is a real number or words: a statistic the run has too few clips for says so, never "nan"
        pasted = re.findall(r'class="pasted-text">([^<]*)<', html)
        bad = [p for p in pasted if re.search(r"\b(nan|inf)\b", p, re.IGNORECASE)]
        assert not bad, f"{page.name}: glued values {bad}"


def test_chapter_one_embeds_its_widget_state(site):
    html = (site / "book" / "01-band-limited.html").read_text()
    assert "application/vnd.jupyter.widget-state+json" in html
    assert "SelectionSliderModel" in html and "StackModel" in html and "LinkModel" in html


def test_no_page_references_an_external_host(site):
    pages = list(site.rglob("*.html"))
    assert pages
    for page in pages:
        html = page.read_text()
        assert not EXTERNAL.search(re.sub(r"<a [^>]*>", "", html)), f"{page} loads something from another host"
        assert "unpkg.com" not in html and "cdn.jsdelivr" not in html and "cdnjs" not in html, page


def test_vendored_assets_are_served_locally(site):
    for rel in ("_static/widgets/require.js", "_static/widgets/embed-amd.js", "_static/mathjax/tex-chtml.js"):
        assert (site / rel).is_file(), rel


def test_chapter_sources_hold_no_control_characters():
    """A LaTeX command written through a non-raw string (``"\\frac"``) turns into a form feed and breaks the math."""
    import nbformat

    for path in sorted((ROOT / "book").glob("*.ipynb")):
        for i, cell in enumerate(nbformat.read(path, 4).cells):
            bad = {hex(ord(ch)) for ch in cell.source if ord(ch) < 32 and ch not in "\n\t"}
            assert not bad, f"{path.name} cell {i}: control characters {bad}"


def test_a_chapter_shows_its_parameters_once_and_hides_set_up_code(site):
    for page in chapter_pages(site):
        cells = re.findall(r'<div class="cell ([^"]*)"', page.read_text())
        assert sum("tag_parameters" in c for c in cells) == 1, page.name
        assert not any("tag_injected-parameters" in c for c in cells), page.name  # papermill's copy is removed
        assert any("tag_hide-input" in c for c in cells), page.name  # set-up: imports and loading, output kept


def test_a_test_build_keeps_its_sweep_logs_beside_its_site(site):
    """The book's own logs (./_build/results) never receive, nor feed, rows of a build elsewhere."""
    logs = sorted(p.name for p in (site.parent / "results").glob("*.csv"))
    assert {n.split("-")[0] for n in logs} >= {"ch3", "ch4", "ch5", "ch6", "choice"}, logs


def test_at_scale_sections_read_the_bank_the_build_swept(site):
    """The test build sweeps data/banks/tiny.yaml from scratch (OUT/_build/bank); Chapters 4 and 5 must print what
    that bank says, computed here independently of the chapters' cells."""
    from bs4 import BeautifulSoup

    from tsrlib import experiments as ex
    from tsrlib.bank import ScoreBank

    rows = ScoreBank(site.parent / "bank").frame()
    text = {
        ch: " ".join(BeautifulSoup((site / "book" / f"{ch}.html").read_text(), "html.parser").get_text(" ").split())
        for ch in ("04-random-search", "05-zero-order-search")
    }
    clips = ex.clip_counts(rows)
    assert f"The bank holds {clips} test clips ( synthetic clips ;" in text["05-zero-order-search"]
    table = ex.searcher_table(ex.bank_choices(rows)).set_index(["cutoff", "searcher"])
    for cut in (4000, 8000):
        d = table.loc[(cut, "zero-order"), "d_lsd"]
        assert f"(ΔLSD {d:+.3f} , 95 % CI" in text["05-zero-order-search"], (cut, d)
    n = int(rows[rows.search == "random"].groupby("cell").size().min())
    assert f"test clips ( synthetic clips ) with {n} candidates each" in text["04-random-search"]
