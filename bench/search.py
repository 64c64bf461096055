"""Benchmark search: best-of-N random search against one sample, and the verifiers' share of the time.

    .venv/bin/python bench/search.py [--n 16] [--steps 25] [--seconds 3] [--verifier mbr] [--model tiny-real]
        [--device auto]

The model and verifier default to the library's (``tsr upsample``'s). Prints, from one run, on the device it runs
on: the wall time of one sample (search none), of random search with N candidates, their ratio (ideal batching on a
GPU keeps it far below N), the part of the search spent in the verifier, and the same for zero-order search and
search over paths at the same NFE, and for early rejection of the same N (a quarter kept, previews at steps / 4).
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
from _record import Record, add_json_option

from tsrlib import audio
from tsrlib.models import tiny
from tsrlib.search import EarlyRejection, RandomSearch, SearchOverPaths, ZeroOrderSearch
from tsrlib.train.trainer import pick_device
from tsrlib.verifiers import DEFAULT, get_verifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--verifier", default=DEFAULT, help=f"a verifier name (default: the library's, {DEFAULT})")
    ap.add_argument("--model", default="tiny-real")
    ap.add_argument("--device", default="auto")
    add_json_option(ap)
    args = ap.parse_args()
    device = pick_device(args.device)
    model = tiny.load(args.model, device)
    v = get_verifier(args.verifier, "cuda" if device.type == "cuda" else "cpu")
    sr = model.sr
    t = np.arange(int(args.seconds * sr)) / sr
    x = audio.degrade(
        (0.1 * np.sin(2 * np.pi * 220 * t) + 0.02 * np.random.default_rng(0).standard_normal(len(t))).astype(
            np.float32
        ),
        sr,
        4000,
    )

    def run(searcher):
        if device.type == "cuda":
            torch.cuda.synchronize()
        res = searcher.run(model, x, v, seed=0, cutoff_hz=4000)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return res

    run(RandomSearch(n=2, steps=args.steps))  # warm-up: model, verifier and kernels
    one = run(RandomSearch(n=1, steps=args.steps))
    best = run(RandomSearch(n=args.n, steps=args.steps, batch_size=args.n))
    budget = best.nfe
    zo = run(ZeroOrderSearch(n=max(1, (args.n - 1) // 3), rounds=3, steps=args.steps))
    paths = run(SearchOverPaths(n=4, m=2, delta_f=2, delta_b=5, steps=args.steps).fit(budget))
    rejection = run(EarlyRejection(n=args.n, keep=max(1, args.n // 4), steps=args.steps, batch_size=args.n))
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    print(
        f"device: {name}; torch {torch.__version__}; {args.seconds:g} s input, {args.steps} DDIM steps, verifier {v.name}"
    )
    print(f"one sample (search none):  {one.wall_seconds:7.2f} s  NFE {one.nfe}")
    searches = (
        (f"random search, N={args.n}", best),
        ("zero-order search", zo),
        ("search over paths", paths),
        (f"early rejection, N={args.n}", rejection),
    )
    for label, r in searches:
        print(
            f"{label:26s} {r.wall_seconds:7.2f} s  NFE {r.nfe:5d}  ratio to one sample {r.wall_seconds / one.wall_seconds:5.1f}x"
            f"  verifier share {100 * r.verifier_seconds / r.wall_seconds:4.1f} %"
        )

    rec = Record(
        "search", args.json, device, n=args.n, steps=args.steps, seconds=args.seconds, verifier=v.name, model=args.model
    )
    rec("one sample", one.wall_seconds, "s")
    for label, r in searches:
        rec(f"{label}: wall time / one sample", r.wall_seconds / one.wall_seconds, "x", nfe=r.nfe)
        rec(f"{label}: wall time", r.wall_seconds, "s", nfe=r.nfe)
        rec(f"{label}: verifier share", 100 * r.verifier_seconds / r.wall_seconds, "%")
    rec.write()


if __name__ == "__main__":
    main()
