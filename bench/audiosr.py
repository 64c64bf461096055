"""Benchmark the AudioSR backend: upstream's one-candidate path run N times against tsrlib's batched N candidates.

    .venv/bin/python bench/audiosr.py [--n 1 4 16 64] [--steps 50] [--seconds 5.12] [--guidance 3.5] [--device auto]
                                      [--reduced] [--dtypes fp32 bf16] [--compile]
                                      [--compile-mode reduce-overhead]

Both paths run the same model, randomly initialised (the real architecture; no checkpoint is needed to time it):

- **upstream**: ``LatentDiffusion.generate_batch`` on one input, as ``audiosr.super_resolution`` calls it (its DDIM
  sampler with two unbatched UNet calls per step, VAE decode, mel replacement, vocoder, librosa post-processing),
  run N times;
- **tsrlib**: the N candidates of a random search, sampled as one batch (cond and uncond in one UNet call) and
  decoded (:func:`tsrlib.sampler.generate`); verifier scoring is left out, as it is not the model's cost.

Prints, for each N and precision, both wall times, the ratio of tsrlib's best-of-N to **one** upstream sample (the
target: at most 0.5 at N = 16; the stretch, at most 1 at N = 64), the peak memory, and the denoiser's achieved
TFLOP/s (its FLOP count, :func:`tsrlib.models.audiosr.denoiser_flops`, over the best-of-N wall time). On a GPU the
default is the full-size model on 5.12 s at 48 kHz with 50 steps; on a CPU it runs the reduced configuration
(:data:`tsrlib.models.audiosr.REDUCED`) on 1.28 s with 10 steps and N up to 4, and says so. bf16 is autocast on CUDA
(on a CPU it is skipped); ``--compile`` wraps the UNet in ``torch.compile`` (``--compile-mode reduce-overhead`` adds
CUDA graphs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import sys
from pathlib import Path

import numpy as np
import torch
from _record import Record, add_json_option, timed

# This file's folder is on sys.path (Python puts a script's own folder first), where this very file would shadow the
# audiosr package it benchmarks: take the folder off once _record is imported.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from tsrlib import audio, sampler  # noqa: E402
from tsrlib.models import audiosr  # noqa: E402
from tsrlib.train.trainer import pick_device  # noqa: E402


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--guidance", type=float, default=3.5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reduced", action="store_true", help="the reduced configuration even on a GPU")
    ap.add_argument(
        "--dtypes",
        nargs="+",
        default=["fp32", "bf16"],
        choices=["fp32", "tf32", "bf16"],
        help="tsrlib's precision: fp32, TF32 matrix products, or bf16 autocast (upstream always runs fp32)",
    )
    ap.add_argument("--compile", action="store_true", help="torch.compile the UNet")
    ap.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "reduce-overhead", "max-autotune"],
        help="torch.compile's mode (reduce-overhead: CUDA graphs, for a launch-bound UNet)",
    )
    ap.add_argument("--compile-n", type=int, nargs="+", default=[16], help="the N that the compiled passes time")
    add_json_option(ap)
    args = ap.parse_args()
    device = pick_device(args.device)
    gpu = device.type == "cuda"
    reduced = args.reduced or not gpu
    n_list = args.n or ([1, 4, 16, 64] if gpu else [1, 4])
    steps = args.steps or (50 if gpu else 10)
    seconds = args.seconds or (5.12 if not reduced else 1.28)
    dtypes = [d for d in args.dtypes if gpu or d == "fp32"]
    args.compile = args.compile and gpu
    if not gpu:
        print("note: no GPU here, so this times the reduced configuration (same classes, narrow) on the CPU")
    model = audiosr.random_init(reduced=reduced, device=device, guidance_scale=args.guidance)
    params = sum(p.numel() for p in model.ld.parameters()) / 1e6
    rec = Record(
        "audiosr",
        args.json,
        device,
        steps=steps,
        seconds=seconds,
        guidance=args.guidance,
        reduced=reduced,
        compile=args.compile_mode if args.compile else False,
        parameters_m=round(params, 1),
    )
    sr = 16_000
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(0)
    x = (0.1 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
    cond = model.condition(audio.degrade(x, sr, 4000), sr, 4000.0)
    batch = model.upstream_batch(cond)
    print(
        f"device: {rec.hw}; torch {torch.__version__}; {'reduced' if reduced else 'full-size'} AudioSR, "
        f"{params:.0f}M parameters (random); {seconds:g} s at 48 kHz; {steps} steps; guidance {args.guidance}"
    )

    def upstream() -> None:  # upstream's own path, as it ships: fp32 (its vocoder output cannot leave bf16)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model.ld.generate_batch(batch, ddim_steps=steps, unconditional_guidance_scale=args.guidance)

    upstream()  # warm-up
    one = timed(upstream, device)
    flops = audiosr.denoiser_flops(model.cfg, seconds)  # one guided step of one candidate, counted on the meta device
    print(f"one upstream sample (fp32): {one:.2f} s; the denoiser: {flops / 1e9:.1f} GFLOP per guided step")
    rec("one upstream sample (fp32)", one, "s")
    rec("denoiser, one guided step of one candidate", flops / 1e9, "GFLOP")
    rec("denoiser throughput, one upstream sample (fp32)", steps * flops / one / 1e12, "TFLOP/s")
    rec.write()
    passes = [(d, False) for d in dtypes] + ([(d, True) for d in dtypes] if args.compile else [])
    for dtype, compiled in passes:
        if compiled:
            model.compile(args.compile_mode)  # AudioSR.compile: tsr upsample --compile's path (compiled once)
        torch.backends.cuda.matmul.allow_tf32 = dtype == "tf32"
        amp = dtype == "bf16"
        label = dtype + (f"+compile:{args.compile_mode}" if compiled else "")

        def ours(n: int) -> None:
            sampler.generate(model, cond, 0, range(n), steps=steps, batch_size=n, guidance_scale=args.guidance, amp=amp)

        for n in args.compile_n if compiled else n_list:
            ours(n)  # warm-up: cuDNN's choice of kernels for this batch size (and compilation)
            if gpu:
                torch.cuda.reset_peak_memory_stats(device)
            ours_s = timed(lambda: ours(n), device)
            mem = peak_mib(device)
            up_s = one * n  # N upstream samples cost N times one: measured once, not N times
            print(
                f"[{label}] N={n:3d}: upstream x N {up_s:7.2f} s, tsrlib batched {ours_s:6.2f} s, "
                f"speed-up {up_s / ours_s:5.1f}x, best-of-N / one upstream sample {ours_s / one:.2f}, "
                f"peak {mem:.0f} MiB"
            )
            rec(f"best-of-{n} / one upstream sample ({label})", ours_s / one, "x", n=n, dtype=label)
            rec(f"speed-up over {n} upstream samples ({label})", up_s / ours_s, "x", n=n, dtype=label)
            rec(f"peak memory, N = {n} ({label})", mem, "MiB", n=n, dtype=label)
            # the wall time includes decoding and the vocoder: a lower bound on the UNet's own rate
            rec(
                f"denoiser throughput, N = {n} ({label})",
                n * steps * flops / ours_s / 1e12,
                "TFLOP/s",
                n=n,
                dtype=label,
            )
            rec.write()  # as it goes: a pass cut off by a time limit keeps what it measured


if __name__ == "__main__":
    main()
