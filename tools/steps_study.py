"""How many DDIM steps? Mean LSD against the number of steps on the held-out real test split, and its cost.

For each test clip (``tsr data build --size real``) at 4 and 8 kHz it samples ``--n`` candidates at each step count
and prints, per domain and cutoff, the mean LSD relative to the most steps, then the cheapest step count whose mean
LSD is within ``--tolerance`` (1 %) of it on every domain and cutoff, pooled, and by the rule the default follows
(no domain and cutoff's paired 95 % interval lies wholly more than the tolerance above it), and the sampling cost per
step count.
Rows are appended as they are computed (``OUT/steps.csv``, keyed by model, settings, clip content and cutoff), so a
killed run resumes where it stopped.

    .venv/bin/python tools/steps_study.py --out _build/steps-study
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from _study import parse_cutoffs, study_options

from tsrlib import audio as tsa
from tsrlib import experiments
from tsrlib.models import tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study_options(ap)
    ap.add_argument("--steps", default="10,15,25,50")
    ap.add_argument("--n", type=int, default=4, help="candidates per clip, cutoff and step count")
    ap.add_argument(
        "--tolerance", type=float, default=0.01, help="relative LSD increase allowed against the most steps"
    )
    ap.add_argument("--out", default="_build/steps-study")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = tiny.load(a.model)
    cutoffs = parse_cutoffs(a.cutoffs)
    steps = sorted(int(s) for s in a.steps.split(","))
    clips = experiments.clips_by_domain(a.corpus, a.clips)
    frames = []
    for s in steps:
        df = experiments.candidate_table(model, clips, cutoffs, a.n, [], steps=s, log_path=out / "steps.csv")
        frames.append(df.assign(steps=s))
    df = pd.concat(frames)
    mean = df.groupby(["domain", "cutoff", "steps"]).LSD.mean().unstack("steps")
    rel = mean.div(mean[steps[-1]], axis=0) - 1
    print(f"# {a.model}, {len(clips)} real test clips, {a.n} candidates each, eta 0")
    print("\nmean LSD (dB) per step count")
    print(mean.round(3).to_string())
    print(f"\nrelative to {steps[-1]} steps")
    print(rel.map(lambda v: f"{v:+.1%}").to_string())
    per_clip = df.groupby(["domain", "cutoff", "clip", "steps"]).LSD.mean().unstack("steps")
    print(f"\nLSD change against {steps[-1]} steps, mean over clips and its paired 95 % interval (dB)")
    not_worse = set(steps)  # step counts no cell shows to be more than the tolerance worse (interval's low end)
    for (domain, cutoff), g in per_clip.groupby(level=["domain", "cutoff"]):
        cells = [experiments.paired_ci(g[s], g[steps[-1]]) for s in steps[:-1]]
        not_worse -= {s for s, (_, lo, _) in zip(steps, cells) if lo > a.tolerance * g[steps[-1]].mean()}
        text = "  ".join(f"{s:3d}: {m:+.3f} [{lo:+.3f}, {hi:+.3f}]" for s, (m, lo, hi) in zip(steps, cells))
        print(f"  {domain:6s} {cutoff:6.0f} Hz  {text}")
    pooled = per_clip.mean() / per_clip[steps[-1]].mean() - 1
    ok_cells = [s for s in steps if (rel[s] <= a.tolerance).all()]
    ok_pooled = [s for s in steps if pooled[s] <= a.tolerance]
    print(
        f"\npooled over every clip and cutoff, relative to {steps[-1]} steps: "
        + ", ".join(f"{s}: {pooled[s]:+.1%}" for s in steps)
    )
    print(f"cheapest step count within {a.tolerance:.0%} of {steps[-1]} steps")
    print(f"  on every domain and cutoff: {ok_cells[0]}")
    print(f"  pooled over clips: {ok_pooled[0]}")
    print(f"  not shown to be worse by more than that on any domain and cutoff (the default's rule): {min(not_worse)}")
    clip = clips[0]
    lr = tsa.degrade(clip.audio, clip.sr, cutoffs[0])
    print("\nsampling cost, s per second of audio per candidate (batch of 4, this CPU):")
    for s in steps:
        print(f"  {s:3d} steps: {experiments.sample_cost(model, lr, clip.sr, cutoffs[0], steps=s):.3f}")


if __name__ == "__main__":
    main()
