"""Slow: the built site in headless Chromium (widgets drawn, formulas typeset, players present)."""

import shutil

import pytest

from tests.browser_check import check

pytestmark = pytest.mark.slow


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_site_renders_in_a_browser(site, tmp_path):
    assert check(site, tmp_path) == []
    assert all(p.stat().st_size > 10_000 for p in tmp_path.glob("*.png"))
