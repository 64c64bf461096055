"""Search headroom of the embedded model under training variants (issue "embedded model", its 5 % bar).

Each variant fine-tunes the base weights (the model without a band code, which the first command of
README's "The embedded model" makes: ``runs/tiny-base.safetensors``) with a wider spread of the removed
band's level and tilt, optionally the network's clip-wide context, or the band code (the shipped recipe);
then, on the speech test clips, it draws ``n`` samples per clip and cutoff and records the mean sample's
LSD, the oracle best-of-n LSD, the oracle noise fill, and the spread of the invented band's level across
samples (dB, per frame and per clip). ``base`` and ``shipped`` are weights as they are.

Rows go to ``OUT/headroom.csv`` as they are measured, and each fine-tune checkpoints, so a killed run
resumes. On 2 CPU cores a variant takes about 12 minutes.

    .venv/bin/python tools/headroom_study.py [--out runs/headroom] [--base runs/tiny-base.safetensors] [--clips 4] [--steps 800]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from tsrlib import audio as tsa
from tsrlib import metrics
from tsrlib.data import manifest as mf
from tsrlib.evaluate import band_level_db, compare_methods
from tsrlib.experiments import ResultLog
from tsrlib.models import tiny
from tsrlib.train.trainer import TrainConfig, train

VARIANTS = {  # name: trainer overrides of a fine-tune from the base weights, or which weights to take as they are
    "shipped": "tiny",
    "base": "base",
    "gain 10 dB": dict(hf_gain_db=10.0),
    "gain 10 dB, tilt 4 dB/oct": dict(hf_gain_db=10.0, hf_tilt_db=4.0),
    "gain 10 dB, tilt 4 dB/oct, clip context": dict(hf_gain_db=10.0, hf_tilt_db=4.0, global_context=True),
    "band code, gain 5 dB, tilt 2 dB/oct": dict(hf_gain_db=5.0, hf_tilt_db=2.0, band_code=True),
    "band code, gain 8 dB, tilt 3 dB/oct": dict(hf_gain_db=8.0, hf_tilt_db=3.0, band_code=True),  # the shipped recipe
}


def fine_tuned(name: str, overrides: dict | str, out: Path, manifest: str, steps: int, base: Path) -> tiny.TinySR:
    if overrides == "tiny":
        return tiny.load("tiny")
    if not base.is_file():
        raise SystemExit(f"{base} not found: make it with README's first training command (the base model)")
    if overrides == "base":
        return tiny.load(base)
    path = out / f"{name.replace(' ', '_').replace(',', '').replace('/', '-')}.safetensors"
    if not path.is_file():
        cfg = TrainConfig.from_options(
            manifest=manifest,
            out=str(path.with_suffix("")),
            steps=steps,
            lr=3e-4,
            warmup=50,
            init=str(base),
            val_every=10**9,
            ckpt_every=100,
            **overrides,
        )
        train(cfg, log=lambda m: None).save(path)
    return tiny.load(path)


def hf_level_spread(cands: np.ndarray, sr: int, cutoff: float) -> tuple[float, float]:
    """Std across candidates ``[N, T]`` of the invented band's mean log level (dB): per frame, and per clip."""
    spec = metrics.log_power(cands)  # [N, F, frames], log10 power
    f = np.linspace(0, sr / 2, spec.shape[1])
    hf = 10 * spec[:, f >= cutoff + 300].mean(1).numpy()  # [N, frames] dB
    return float(hf.std(0).mean()), float(hf.mean(1).std())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/headroom"))
    ap.add_argument("--manifest", default="data/generated/small/manifest.csv")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=800, help="fine-tuning steps per variant")
    ap.add_argument(
        "--base", type=Path, default=Path("runs/tiny-base.safetensors"), help="weights the variants start from"
    )
    args = ap.parse_args()
    log = ResultLog(args.out / "headroom.csv", ["variant", "clip", "cutoff"])
    paths = mf.load(args.manifest, split="test").query("domain == 'speech'").abspath[: args.clips]
    for name, overrides in VARIANTS.items():
        model = None
        for p in paths:
            for cutoff in (4000, 8000):
                if log.done(variant=name, clip=Path(p).stem, cutoff=cutoff):
                    continue
                model = model or fine_tuned(name, overrides, args.out, args.manifest, args.steps, args.base)
                ref = tsa.load(p, sr=model.sr)[0][: 3 * model.sr]
                rows, audio = compare_methods(model, None, ref, model.sr, cutoff, n=args.n, steps=25)  # as Chapter 2
                lsd = rows[rows.method == "diffusion"].LSD
                cands = audio["diffusion"]
                frame_sd, clip_sd = hf_level_spread(cands, model.sr, cutoff)
                fill = rows[rows.method == "noise fill (oracle)"].LSD.iloc[0]
                log.append(
                    pd.DataFrame(
                        [
                            dict(
                                variant=name,
                                clip=Path(p).stem,
                                cutoff=cutoff,
                                mean=lsd.mean(),
                                best=lsd.min(),
                                fill=fill,
                                level_sd_frame_db=frame_sd,
                                level_sd_clip_db=clip_sd,
                                level_gap_db=np.mean([band_level_db(c, model.sr, cutoff + 300) for c in cands])
                                - band_level_db(ref, model.sr, cutoff + 300),
                            )
                        ]
                    )
                )
                print(f"{name} | {Path(p).stem} {cutoff} Hz: mean {lsd.mean():.3f} best {lsd.min():.3f}", flush=True)
    df = log.frame().assign(headroom_pct=lambda d: 100 * (1 - d.best / d["mean"]))
    table = df.groupby(["variant", "cutoff"], sort=False)[
        ["mean", "best", "fill", "headroom_pct", "level_sd_frame_db", "level_sd_clip_db"]
    ].mean()
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
