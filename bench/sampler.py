"""Benchmark the candidate sampler: N candidates batched against N single runs, real-time factor, memory.

    .venv/bin/python bench/sampler.py [--n 16] [--steps 25] [--seconds 3] [--device auto] [--model tiny-real]

Prints, from one run: the wall time of N candidates in one batch and of N sequential single-candidate
runs (their ratio is the batching speed-up), the real-time factor of one sample (seconds of audio per
second of compute), and peak memory (process RSS on CPU; allocated GPU memory on CUDA).
"""

from __future__ import annotations

import argparse
import platform
import resource

import numpy as np
import torch
from _record import Record, add_json_option, timed

from tsrlib import audio, sampler
from tsrlib.models import tiny
from tsrlib.train.trainer import pick_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default="tiny-real")
    add_json_option(ap)
    args = ap.parse_args()
    device = pick_device(args.device)
    try:
        model = tiny.load(args.model, device)
    except Exception:
        model = tiny.TinySR().to(device).eval()  # same architecture and cost with random weights
        print("note: no trained weights found; timing a randomly initialised model of the same size")
    sr = model.sr
    t = np.arange(int(args.seconds * sr)) / sr
    x = audio.degrade(
        (0.1 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype(
            np.float32
        ),
        sr,
        4000,
    )
    cond = model.condition(x, sr, 4000)
    run = lambda idx, bs: sampler.generate(model, cond, 0, idx, steps=args.steps, batch_size=bs)  # noqa: E731
    run([0], 1)  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    batched = timed(lambda: run(range(args.n), args.n), device)
    sequential = timed(lambda: [run([k], 1) for k in range(args.n)], device)
    one = sequential / args.n
    if device.type == "cuda":
        peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB GPU"
        where = torch.cuda.get_device_name(device)
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB RSS"
        where = f"CPU {platform.machine()}, {torch.get_num_threads()} threads"
    print(
        f"device: {where}; torch {torch.__version__}; {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters"
    )
    print(
        f"{args.n} candidates x {args.steps} steps on {args.seconds:g} s: batched {batched:.2f} s, "
        f"sequential {sequential:.2f} s, batching speed-up {sequential / batched:.2f}x"
    )
    print(f"one sample: {one:.2f} s, real-time factor {args.seconds / one:.2f}x; peak memory {peak}")
    rec = Record("sampler", args.json, device, n=args.n, steps=args.steps, seconds=args.seconds, model=args.model)
    rec("batching speed-up", sequential / batched, "x", note=f"{args.n} candidates in one batch vs one at a time")
    rec("real-time factor, one sample", args.seconds / one, "x", note="seconds of audio per second of compute")
    rec("one candidate, batched", batched / args.n / args.seconds, "s per s of audio")
    rec.write()


if __name__ == "__main__":
    main()
