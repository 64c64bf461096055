"""Envelope caps: what lowering each frame of a candidate's band to band replication's envelope does to the bars.

A band-replication model (:mod:`tsrlib.models.tiny`, ``prior="band-replication"``) decodes with its
``envelope_cap_db`` set to each ``--caps`` value in turn (:func:`tsrlib.models.tiny.cap_band_envelope`: no frame of
a candidate's band more than that many dB above the copy's envelope shifted by the candidate's own gain); ``open`` is
the model with no cap. The candidates are sampled once per clip and cutoff and decoded under every cap. Per domain and
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
from pathlib import Path

import pandas as pd
from _study import sample_settings, study_options

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
    settings = {"open": {"envelope_cap_db": None}}  # the model uncapped, whatever its own cap
    settings |= {f"cap {c}": {"envelope_cap_db": float(c)} for c in a.caps.split(",") if c}
    path = Path(a.out) / f"envelope-cap-{a.split}.csv"
    out = experiments.setting_bars(sample_settings(a, model, settings, "setting", path, experiments.setting_candidates))
    pd.set_option("display.width", 220)
    cols = ["clips", "bar", "one", "mean", "best", "headroom", "best_vs_bar", "mean_minus_bar_lo", "mean_minus_bar_hi"]
    cols += ["band_db", "best_band_db", "env_db", "best_env_db", "br_env_db"]
    print(out.set_index(["domain", "cutoff", "setting"])[cols].sort_index().round(3).to_string())


if __name__ == "__main__":
    main()
