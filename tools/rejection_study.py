"""Early rejection against random search on real clips: what it costs in LSD and what it saves in time.

For each held-out real test clip (``tsr data build --size real``) at 4 and 8 kHz it runs best-of-``n`` random search
and :class:`~tsrlib.search.EarlyRejection` (the same ``n`` noises previewed at level ``--reject-at``, the ``--keep``
best finished), both with the library's default verifier, and records each pick's LSD against the clean clip, the
mean and oracle-best LSD of random search's candidates, and both searches' wall time and NFE. It prints, per domain
and cutoff, the LSD change of rejection's pick against random search's (paired 95 % interval across clips), how much
of random search's gain over the mean sample rejection keeps, and the wall time of each on a 3 s clip.

Rows go to ``OUT/rejection.csv`` as they are measured (keyed by model, settings, clip and cutoff), so a killed run
resumes where it stopped.

    .venv/bin/python tools/rejection_study.py [--steps 25] [--n 16] [--keep 4] [--reject-at 6] [--out _build/rejection]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _study import parse_cutoffs, study_options

from tsrlib import audio as tsa
from tsrlib import experiments, metrics
from tsrlib.models import tiny
from tsrlib.search import EarlyRejection, RandomSearch
from tsrlib.verifiers import DEFAULT, get_verifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study_options(ap)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--keep", type=int, default=4)
    ap.add_argument("--reject-at", type=int, default=None, help="preview level (default: steps // 4)")
    ap.add_argument("--verifier", default=DEFAULT)
    ap.add_argument("--out", default="_build/rejection")
    a = ap.parse_args()
    model = tiny.load(a.model)
    verifier = get_verifier(a.verifier)
    rejection = EarlyRejection(n=a.n, keep=a.keep, reject_at=a.reject_at, steps=a.steps)
    random = RandomSearch(n=a.n, steps=a.steps)
    settings = dict(
        model=a.model, steps=a.steps, n=a.n, keep=a.keep, reject_at=rejection.reject_at, verifier=a.verifier
    )
    log = experiments.ResultLog(Path(a.out) / "rejection.csv", [*settings, "clip", "cutoff"])
    clips = experiments.clips_by_domain(a.corpus, a.clips)
    print(f"# {a.model}; {torch.get_num_threads()} threads; {settings}", flush=True)
    for clip in clips:
        for cutoff in parse_cutoffs(a.cutoffs):
            if log.done(**settings, clip=clip.id, cutoff=cutoff):
                continue
            lr = tsa.degrade(clip.audio, clip.sr, cutoff)
            rand = random.run(model, lr, verifier, sr=clip.sr, cutoff_hz=cutoff)
            rej = rejection.run(model, lr, verifier, sr=clip.sr, cutoff_hz=cutoff)
            every = metrics.lsd(clip.audio, np.stack(list(rand.audio_of.values())), clip.sr)
            row = settings | dict(
                clip=clip.id,
                domain=clip.domain,
                cutoff=cutoff,
                seconds=len(clip.audio) / clip.sr,
                lsd_random=float(metrics.lsd(clip.audio, rand.audio[None], clip.sr)[0]),
                lsd_rejection=float(metrics.lsd(clip.audio, rej.audio[None], clip.sr)[0]),
                lsd_mean=float(every.mean()),
                lsd_oracle=float(every.min()),
                wall_random=rand.wall_seconds,
                wall_rejection=rej.wall_seconds,
                nfe_random=rand.nfe,
                nfe_rejection=rej.nfe,
            )
            log.append(pd.DataFrame([row]))
            print(
                f"{clip.id} {cutoff:.0f} Hz: random {row['lsd_random']:.3f} ({rand.wall_seconds:.1f} s), "
                f"rejection {row['lsd_rejection']:.3f} ({rej.wall_seconds:.1f} s)",
                flush=True,
            )
    df = log.frame(**settings)
    print(f"\n# {a.n} candidates, {a.steps} steps; rejection keeps {a.keep} at level {rejection.reject_at}")
    print(f"NFE: random {random.nfe()}, rejection {rejection.nfe()} ({rejection.nfe() / random.nfe():.0%})")
    print("LSD of rejection's pick minus random search's (dB, paired 95 % interval); share of random search's gain")
    print("over the mean sample that rejection keeps; wall time per second of audio")
    for (domain, cutoff), g in df.groupby(["domain", "cutoff"]):
        m, lo, hi = experiments.paired_ci(g.lsd_rejection, g.lsd_random)
        kept = (g.lsd_mean - g.lsd_rejection).sum() / (g.lsd_mean - g.lsd_random).sum()
        print(
            f"  {domain:6s} {cutoff:6.0f} Hz  {len(g):2d} clips  {m:+.3f} [{lo:+.3f}, {hi:+.3f}]  gain kept {kept:4.0%}  "
            f"random {(g.wall_random / g.seconds).mean():.2f} s/s, rejection {(g.wall_rejection / g.seconds).mean():.2f} s/s"
        )
    m, lo, hi = experiments.paired_ci(df.lsd_rejection, df.lsd_random)
    kept = (df.lsd_mean - df.lsd_rejection).sum() / (df.lsd_mean - df.lsd_random).sum()
    print(f"  pooled         {len(df):3d} rows  {m:+.3f} [{lo:+.3f}, {hi:+.3f}]  gain kept {kept:4.0%}")
    three = 3.0 * (df.wall_random / df.seconds).mean(), 3.0 * (df.wall_rejection / df.seconds).mean()
    print(f"best-of-{a.n} on a 3 s clip: random search {three[0]:.1f} s, early rejection {three[1]:.1f} s (this CPU)")


if __name__ == "__main__":
    main()
