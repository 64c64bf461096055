"""Build the book: make the corpus, execute every chapter with papermill, then build the static site.

    python tools/build_book.py                      # the README's `bash tools/run book`
    python tools/build_book.py --size tiny --real data/generated/tiny --out /tmp/site -p clips_per_domain=1 \
        --bank data/banks/tiny.yaml

Steps:
1. build the synthetic corpus the chapters read (``tsr data build --size SIZE``) and the real recordings that Chapters 1
   to 6 play beside it (``tsr data build --size real``: about 500 MB of Debian packages, fetched once), each reused
   when present, and check the committed score bank against the shipped weights (or, with ``--bank GRID``, sweep a fresh one);
2. vendor the widget renderer, require.js and MathJax from the npm registry (once, into book/_vendor),
   so the site loads nothing from a CDN at view time;
3. execute each chapter of _toc.yml with papermill (parameters: ``corpus_dir``, ``real_corpus_dir``, ``results_dir`` =
   OUT/_build/results, ``results`` = the bank, plus any ``-p k=v``) into a staging folder, never touching the committed, output-free
   notebooks;
4. run ``jupyter-book build`` on the staging folder with execution off (papermill already ran it).
The site lands in OUT/_build/html (default: ./_build/html).
"""

from __future__ import annotations

import argparse
import ast
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_vendor"
BOOK_BANK = ROOT / "data" / "banks" / "book"
"""The committed score bank (``tsr sweep data/banks/book.yaml --out data/banks/book --compact``)."""
NPM_PACKAGES = {  # package -> (files inside the tarball, destination under _vendor)
    "@jupyter-widgets/html-manager@1.0.15": ("package/dist/", "widgets/"),
    "requirejs@2.3.8": ("package/require.js", "widgets/require.js"),
    "mathjax@3.2.2": ("package/es5/", "mathjax/"),
}


def vendor_js() -> Path:
    """Fetch and unpack the browser assets into book/_vendor (skipped when already there)."""
    marker = VENDOR / ".complete"
    if marker.is_file() and marker.read_text() == json.dumps(NPM_PACKAGES):
        return VENDOR
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("error: npm is needed once to vendor the widget and MathJax assets: apt-get install npm")
    shutil.rmtree(VENDOR, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (src, dst) in NPM_PACKAGES.items():
            out = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True, check=True)
            with tarfile.open(Path(tmp) / out.stdout.strip().splitlines()[-1]) as tar:
                for m in tar.getmembers():
                    if m.isfile() and m.name.startswith(src) and not m.name.endswith(".map"):
                        rel = dst + m.name[len(src) :] if src.endswith("/") else dst
                        target = VENDOR / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(tar.extractfile(m).read())
    marker.write_text(json.dumps(NPM_PACKAGES))
    return VENDOR


def chapters(toc: dict) -> list[str]:
    """Files named in _toc.yml (root first), without suffix, in reading order."""
    files = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        for ch in part.get("chapters", []):
            files.append(ch["file"])
            files += [s["file"] for s in ch.get("sections", [])]
    return files


def parse_params(pairs: list[str]) -> dict:
    out = {}
    for p in pairs:
        k, _, v = p.partition("=")
        try:
            out[k] = ast.literal_eval(v)
        except (ValueError, SyntaxError):
            out[k] = v
    return out


def drop_injected_parameters(path: Path) -> None:
    """Tag the cell papermill injects (this build's paths) ``remove-cell``: the page shows the chapter's parameters
    cell once, which tells a reader how to rerun it, and no second copy."""
    import nbformat

    nb = nbformat.read(path, 4)
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    nbformat.write(nb, path)


def prepare_bank(grid: str | None, corpus_dir: Path, out: Path) -> str:
    """The score bank the chapters read: ``grid`` swept from scratch on ``corpus_dir`` into OUT/_build/bank, or the
    committed one, whose weights are checked here so a stale bank stops the build before any chapter runs."""
    from tsrlib import experiments
    from tsrlib.errors import TsrError

    if grid is None:
        try:
            experiments.open_bank(BOOK_BANK)
        except TsrError as e:  # a missing bank, or another model's (BankMismatchError)
            sys.exit(f"error: the book's score bank: {e}")
        return BOOK_BANK.relative_to(ROOT).as_posix()
    from tsrlib.sweep import Grid, run_sweep

    g = Grid.from_yaml(grid)
    g.corpus = str(corpus_dir)
    bank = out / "_build" / "bank"
    t = time.time()
    print(f"book: sweeping {grid} into {bank}", flush=True)
    run_sweep(g, bank, progress=False)
    print(f"book: bank ready in {time.time() - t:.0f} s", flush=True)
    return str(bank)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="small", help="corpus size the chapters read (tiny for a quick build)")
    ap.add_argument(
        "--real",
        default="data/generated/real",
        help="the real-recordings corpus Chapters 1-6 play (built when it is data/generated/real and missing); "
        "the test build passes its synthetic corpus here to run those cells without the download",
    )
    ap.add_argument("--out", default=str(ROOT), help="the site goes to OUT/_build/html")
    ap.add_argument("-p", "--param", action="append", default=[], help="papermill parameter k=v for every chapter")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        help="execute only chapters whose file contains this; others keep their last executed copy",
    )
    ap.add_argument(
        "--bank",
        help="sweep this grid (on this build's corpus) into OUT/_build/bank and point the chapters' `results` at it, "
        "as the test build does; default: the committed bank, data/banks/book, checked against the shipped weights",
    )
    args = ap.parse_args()

    import papermill

    from tsrlib.data import corpus

    corpus_dir = ROOT / "data" / "generated" / args.size
    if not (corpus_dir / "manifest.csv").is_file():
        print(f"book: building the {args.size} corpus into {corpus_dir}", flush=True)
        corpus.build(corpus_dir, size=args.size)
    real_dir = (ROOT / args.real).resolve()
    if not (real_dir / "manifest.csv").is_file():
        if real_dir != ROOT / "data" / "generated" / "real":
            sys.exit(f"error: --real {args.real}: no manifest.csv there")
        print(f"book: building the real-recordings corpus into {real_dir}", flush=True)
        corpus.build(real_dir, size="real")
    vendor_js()

    out = Path(args.out).resolve()
    stage = out / "_build" / ".stage"
    if not args.only:  # a full build starts clean; --only keeps the chapters executed before
        shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, stage / name)
    shutil.copytree(VENDOR, stage / "_vendor", dirs_exist_ok=True)
    shutil.copytree(ROOT / "book" / "_ext", stage / "book" / "_ext", dirs_exist_ok=True)
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    # sweep logs live beside the site they feed: a test build in a scratch folder never shares rows with the book's
    results = out / "_build" / "results"
    params = {
        "corpus_dir": corpus_dir.relative_to(ROOT).as_posix(),
        "real_corpus_dir": real_dir.relative_to(ROOT).as_posix() if real_dir.is_relative_to(ROOT) else str(real_dir),
        "results_dir": results.relative_to(ROOT).as_posix() if results.is_relative_to(ROOT) else str(results),
        **parse_params(args.param),
    }
    params["results"] = prepare_bank(args.bank, corpus_dir, out)
    for name in chapters(toc):
        src = next(ROOT.glob(name + ".*"))
        dst = stage / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        skip = args.only and not any(o in name for o in args.only)
        if src.suffix != ".ipynb" or (skip and dst.exists()):
            if src.suffix != ".ipynb":
                shutil.copy(src, dst)
            continue
        t = time.time()
        print(f"book: executing {src.relative_to(ROOT)}", flush=True)
        papermill.execute_notebook(
            str(src),
            str(dst),
            parameters=params,
            cwd=str(ROOT),
            kernel_name="python3",
            progress_bar=False,
            report_mode=False,
        )
        drop_injected_parameters(dst)
        print(f"book: {src.name} took {time.time() - t:.0f} s", flush=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "build", str(stage), "--path-output", str(out)], check=True)
    print(f"book: site at {out / '_build' / 'html' / 'index.html'}")


if __name__ == "__main__":
    main()
