"""Benchmark ``tsr sweep``: cells per minute with the local executor (in-process, a process pool) and with Ray.

    .venv/bin/python bench/sweep.py [--workers 2] [--corpus data/generated/tiny]

Each executor runs the same small grid (random search and zero-order search on short test clips) into its own fresh
bank, and the rows are compared: with the same torch threads per worker the executors give identical rows. Prints the
throughput of each and its ratio to one in-process worker, measured in this one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _record import Record, add_json_option

from tsrlib.bank import ScoreBank
from tsrlib.sweep import Grid, run_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/generated/tiny")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--clips", type=int, default=2, help="test clips per domain")
    add_json_option(ap)
    args = ap.parse_args()
    if not (Path(args.corpus) / "manifest.csv").is_file():
        raise SystemExit(f"no corpus at {args.corpus}: make it with `tsr data build --size tiny` (about a minute)")
    grid = Grid.from_dict(
        {
            "corpus": args.corpus,
            "clips": args.clips,
            "max_seconds": 2.0,
            "steps": 10,
            "verifiers": ["mbr", "continuity"],
            "searches": [{"name": "random", "n": 8}, {"name": "zero-order", "n": 3, "budget": 80}],
        }
    )
    runs = {"local, 1 worker": ("local", 1), f"local, {args.workers} processes": ("local", args.workers)}
    try:
        import ray  # noqa: F401

        runs[f"ray, {args.workers} actors"] = ("ray", args.workers)
    except ImportError:
        print("note: Ray is not installed (pip install 'tsrlib[ray]'); timing the local executor only")
    rec = Record("sweep", args.json, workers=args.workers, clips=args.clips, steps=grid.steps)
    rate = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, (executor, workers) in runs.items():
            t = time.perf_counter()
            bank = run_sweep(
                grid, Path(tmp) / label.replace(" ", ""), executor=executor, workers=workers, progress=False
            )
            seconds = time.perf_counter() - t
            rate[label] = 60 * len(bank) / seconds
            print(f"{label:22s} {len(bank)} cells in {seconds:6.1f} s: {rate[label]:6.1f} cells/min")
            rec(f"{label}: throughput", rate[label], "cells/min", cells=len(bank), seconds=seconds)
        one = next(iter(rate.values()))
        for label, r in rate.items():
            print(f"{label:22s} {r / one:.2f}x one in-process worker")
        frames = [ScoreBank(p).frame().drop(columns="wall_seconds") for p in sorted(Path(tmp).iterdir())]
        same = all(f.drop(columns="cell").shape == frames[0].drop(columns="cell").shape for f in frames)
        print(f"same number of rows on every executor: {same}")
    rec.write()


if __name__ == "__main__":
    main()
