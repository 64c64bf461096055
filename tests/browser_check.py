"""Open built book pages in headless Chromium and check what a reader sees.

    python tests/browser_check.py _build/html [--shots DIR]

For every chapter page: the widget renderer ran (the slider is drawn, not left as a JSON script),
MathJax typeset the formulas, the audio players are present, and a full-page screenshot is saved.
Chromium runs with background networking off, so a page that needed the internet would show blank
widgets here. Exit status 1 and a line per failure if anything is missing. Needs Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--virtual-time-budget=20000"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(page: Path, shot: Path | None) -> str:
    """The DOM of ``page`` after its scripts ran; optionally a screenshot to ``shot``."""
    exe = chromium()
    with tempfile.TemporaryDirectory() as profile:
        args = [exe, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180).stdout
        if shot is not None:
            subprocess.run([*args, f"--screenshot={shot}", "--window-size=1200,2400", page.as_uri()],
                           capture_output=True, timeout=180)
    return dom


def check(site: Path, shots: Path | None = None) -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    problems = []
    for ch in toc["chapters"]:
        page = site / (ch["file"] + ".html")
        dom = render(page, shots / (Path(ch["file"]).name + ".png") if shots else None)
        src = page.read_text()
        if "widget-view+json" in src and "widget-slider" not in dom and "widget-" not in dom:
            problems.append(f"{page.name}: widgets were not rendered")
        if "$$" in src or "math notranslate" in src:
            if "mjx-container" not in dom:
                problems.append(f"{page.name}: MathJax did not typeset the formulas")
        if dom.count("<audio") < src.count("<audio"):
            problems.append(f"{page.name}: audio players missing after rendering")
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", type=Path, nargs="?", default=ROOT / "_build" / "html")
    ap.add_argument("--shots", type=Path, default=None, help="folder for one screenshot per chapter")
    args = ap.parse_args()
    if chromium() is None:
        sys.exit("error: chromium is not installed (apt-get install chromium)")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    problems = check(args.site.resolve(), args.shots.resolve() if args.shots else None)
    for p in problems:
        print(p)
    print("browser check:", "ok" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
