"""Envelope caps: what lowering each frame of a candidate's band to band replication's envelope does to the bars.

A band-replication model (:mod:`tsrlib.models.tiny`, ``prior="band-replication"``) decodes with its
``envelope_cap_db`` set to each ``--caps`` value in turn (:func:`tsrlib.models.tiny.cap_band_envelope`: no frame of
a candidate's band more than that many dB above the copy's envelope shifted by the candidate's own gain); ``open`` is
the model as it is. The candidates are sampled once per clip and cutoff and decoded under every cap. Per domain and
cutoff it prints what :func:`tsrlib.experiments.setting_bars` measures: one sample (candidate 0), the mean
candidate, the oracle best of ``--n`` and the search headroom against blind band replication, with paired 95 %
intervals across clips, and two level measures that LSD lacks: ``band_db`` (the band's energy against the
reference's, median candidate and oracle pick) and ``env_db`` (:func:`tsrlib.experiments.band_envelope_error`: the
band's level error frame by frame, mean candidate, oracle pick and band replication).

Choose a cap on the validation split (``--split val``) and confirm it on the test split once. Rows go to
``OUT/envelope-cap-SPLIT.csv`` as each clip is done, so a killed run resumes.

    .venv/bin/python tools/envelope_cap_study.py --split val --clips speech=12,music=12 --caps 0,3,6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from _study import parse_cutoffs, study_options

from tsrlib import experiments
from tsrlib.models import tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study_options(ap, clips="speech=12,music=12")
    ap.add_argument("--split", default="val", help="val to choose a cap, test to confirm it")
    ap.add_argument("--caps", default="0,3,6", help="envelope_cap_db values (dB), comma-separated")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="_build/envelope-cap")
    a = ap.parse_args()
    model = tiny.load(a.model)
    if model.cfg.prior != "band-replication":
        raise SystemExit(f"{a.model} has no band-replication prior: there is no envelope to cap at")
    settings = {"open": {}} | {f"cap {c}": {"envelope_cap_db": float(c)} for c in a.caps.split(",") if c}
    path = Path(a.out) / f"envelope-cap-{a.split}.csv"
    log = experiments.ResultLog(path, ["model", "steps", "n", "seed", "setting", "clip", "cutoff"])
    t0 = time.time()
    for clip in experiments.clips_by_domain(a.corpus, a.clips, split=a.split):
        for cutoff in parse_cutoffs(a.cutoffs):
            key = dict(model=model.name, steps=a.steps, n=a.n, seed=a.seed, clip=clip.id, cutoff=cutoff)
            todo = {name: s for name, s in settings.items() if not log.done(setting=name, **key)}
            if todo:
                rows = experiments.setting_candidates(
                    model, clip.audio, clip.sr, cutoff, todo, n=a.n, steps=a.steps, seed=a.seed
                )
                log.append(rows.assign(**key, domain=clip.domain))
        print(f"{clip.id} done at {time.time() - t0:.0f} s", flush=True)
    df = log.frame(model=model.name, steps=a.steps, n=a.n, seed=a.seed)
    out = experiments.setting_bars(df[df.setting.isin(list(settings))])
    pd.set_option("display.width", 220)
    cols = ["clips", "bar", "one", "mean", "best", "headroom", "best_vs_bar", "mean_minus_bar_lo", "mean_minus_bar_hi"]
    cols += ["band_db", "best_band_db", "env_db", "best_env_db", "br_env_db"]
    print(out.set_index(["domain", "cutoff", "setting"])[cols].sort_index().round(3).to_string())


if __name__ == "__main__":
    main()
