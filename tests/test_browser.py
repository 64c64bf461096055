"""The built site in headless Chromium with the network blocked: widgets drawn, formulas typeset, players present.

One chapter page in the default run (the only test that looks at the book as a reader does); every page in the slow run.
"""

import http.server
import shutil
import threading

import pytest
import yaml

from tests.browser_check import FLAGS, OFFLINE, ROOT, check, render
from tests.extras import skip_unless


@pytest.fixture(autouse=True)
def _chromium():
    skip_unless(shutil.which("chromium") is not None, "needs Debian's chromium (apt-get install chromium)")


def _shots_ok(folder, pages):
    shots = sorted(folder.glob("*.png"))
    assert len(shots) == pages, shots  # a screenshot per page, not "all of none"
    assert all(p.stat().st_size > 10_000 for p in shots)


def test_one_chapter_renders_offline(site, tmp_path):
    assert check(site, tmp_path, ["book/01-band-limited"]) == []
    _shots_ok(tmp_path, 1)


@pytest.mark.slow
def test_every_chapter_renders_offline(site, tmp_path):
    assert check(site, tmp_path) == []
    chapters = yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]
    _shots_ok(tmp_path, len(chapters))  # every page of the table of contents (the intro is the root, not a chapter)


def test_the_check_really_blocks_the_network(tmp_path):
    """A script served by a local web server runs in an open browser and not in the check's."""

    class Script(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"document.body.setAttribute('data-net', 'reached');"
            self.send_response(200)
            self.send_header("Content-Type", "text/javascript")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Script)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = tmp_path / "page.html"
        page.write_text(f'<html><body><script src="http://127.0.0.1:{server.server_port}/x.js"></script></body></html>')
        assert 'data-net="reached"' in render(page.as_uri(), flags=[f for f in FLAGS if f not in OFFLINE])
        assert 'data-net="reached"' not in render(page.as_uri())
    finally:
        server.shutdown()


def test_a_slider_left_undrawn_is_reported():
    from tests.browser_check import problems_of

    src = (
        '<script type="application/vnd.jupyter.widget-state+json">{"state": {"a": {"model_name": '
        '"SelectionSliderModel", "state": {"_options_labels": ["2 kHz", "4 kHz"], "index": 1}}}}</script>'
    )
    assert problems_of("p", src, src + '<div class="widget-readout">4 kHz</div>') == []
    assert problems_of("p", src, src + "<style>.widget-readout {}</style>") != []  # widget CSS alone is not a slider
    assert problems_of("p", "$$x$$", '<mjx-container jax="CHTML">') == []
    assert problems_of("p", "$$x$$", "$$x$$") == ["p: MathJax did not typeset the formulas"]
