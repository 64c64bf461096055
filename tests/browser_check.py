"""Open built book pages in headless Chromium, with the network blocked, and check what a reader sees.

    python tests/browser_check.py _build/html [--shots DIR] [--page FILE ...]

For every chapter page (or those named): each selection slider the page embeds is drawn with its value as its readout
(the widget renderer ran; the state's JSON alone does not count), MathJax turned the formulas into CHTML, the audio
players are present, and a full-page screenshot is saved. Every request the page makes beyond its own files goes to a
proxy that refuses it, and host names do not resolve, so a page that needed the internet shows blank widgets here.
Exit status 1 and a line per failure if anything is missing. Needs Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = [
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",  # port 9 (discard): nothing answers there
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--virtual-time-budget=20000",
    *OFFLINE,
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(url: str, shot: Path | None = None, flags: list[str] = FLAGS) -> str:
    """The DOM of the page at ``url`` after its scripts ran; optionally a screenshot to ``shot``."""
    exe = chromium()
    with tempfile.TemporaryDirectory() as profile:
        args = [exe, *flags, f"--user-data-dir={profile}"]
        dom = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
        if shot is not None:
            subprocess.run(
                [*args, f"--screenshot={shot}", "--window-size=1200,2400", url], capture_output=True, timeout=180
            )
    return dom


def slider_labels(html: str) -> list[str]:
    """The label each embedded selection slider shows for its value, from the page's widget-state JSON."""
    labels = []
    for block in re.findall(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', html, re.S):
        for model in json.loads(block)["state"].values():
            if model.get("model_name") == "SelectionSliderModel":
                st = model["state"]
                labels.append(st["_options_labels"][st["index"]])
    return labels


def problems_of(name: str, src: str, dom: str) -> list[str]:
    out = []
    readouts = re.findall(r'class="widget-readout"[^>]*>([^<]*)<', dom)
    for label in slider_labels(src):
        if label not in readouts:
            out.append(f"{name}: the slider showing {label!r} was not drawn (readouts: {readouts[:4]})")
    if ("$$" in src or "math notranslate" in src) and not re.search(r'<mjx-container[^>]*jax="CHTML"', dom):
        out.append(f"{name}: MathJax did not typeset the formulas")
    if dom.count("<audio") < src.count("<audio"):
        out.append(f"{name}: audio players missing after rendering")
    return out


def check(site: Path, shots: Path | None = None, pages: list[str] | None = None) -> list[str]:
    """Problems on the chapter pages of ``site`` (those of ``pages``, file names as in _toc.yml, if given)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for ch in toc["chapters"] if not pages or ch["file"] in pages]
    if not files:
        return [f"no chapter page among {pages}"]
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    problems = []
    for f in files:
        page = site / (f + ".html")
        dom = render(page.as_uri(), shots / (Path(f).name + ".png") if shots else None)
        problems += problems_of(page.name, page.read_text(), dom)
    return problems


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", type=Path, nargs="?", default=ROOT / "_build" / "html")
    ap.add_argument("--shots", type=Path, default=None, help="folder for one screenshot per chapter")
    ap.add_argument("--page", action="append", default=None, help="check only this chapter (as in _toc.yml)")
    args = ap.parse_args()
    if chromium() is None:
        sys.exit("error: chromium is not installed (apt-get install chromium)")
    if args.shots:
        args.shots.mkdir(parents=True, exist_ok=True)
    problems = check(args.site.resolve(), args.shots.resolve() if args.shots else None, args.page)
    for p in problems:
        print(p)
    print("browser check:", "ok" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
