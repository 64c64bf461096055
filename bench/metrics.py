"""Benchmark: LSD of N candidates batched against N single calls, and degrade's real-time factor.

    .venv/bin/python bench/metrics.py [--n 16] [--seconds 4]

Prints ratios measured in this one run (the speed targets live here, not in timed tests).
The batched path matters: every search scores N candidates against one reference at once.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch
from _record import Record, add_json_option

from tsrlib import audio, metrics


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=4.0)
    add_json_option(ap)
    args = ap.parse_args()
    sr = audio.MODEL_SR
    rng = np.random.default_rng(0)
    ref = (0.1 * rng.standard_normal(int(args.seconds * sr))).astype(np.float32)
    cands = ref + 0.05 * rng.standard_normal((args.n, len(ref))).astype(np.float32)

    batched = best_of(lambda: metrics.lsd(ref, cands))
    single = best_of(lambda: [metrics.lsd(ref, c) for c in cands])
    deg = best_of(lambda: audio.degrade(ref, sr, 4000, "cheby1"))
    det = best_of(lambda: audio.detect_cutoff(ref, sr))
    print(
        f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPU"
    )
    print(
        f"lsd, {args.n} candidates of {args.seconds:g} s: batched {1000 * batched:.1f} ms, "
        f"one by one {1000 * single:.1f} ms, speed-up {single / batched:.2f}x"
    )
    print(
        f"degrade (cheby1, order 8): {args.seconds / deg:.0f}x real time; detect_cutoff: {args.seconds / det:.0f}x real time"
    )

    rec = Record("metrics", args.json, n=args.n, seconds=args.seconds)
    rec("lsd batching speed-up", single / batched, "x", note=f"{args.n} candidates at once vs one by one")
    rec("degrade real-time factor", args.seconds / deg, "x")
    rec("detect_cutoff real-time factor", args.seconds / det, "x")
    rec.write()


if __name__ == "__main__":
    main()
