"""Band-code priors: what a shifted distribution of the band's gain code does to the real-audio bars.

A band-code model (:mod:`tsrlib.models.tiny`) reads the band's gain and tilt from the mean of its initial noise over
the invented band, a standard normal per candidate. This study samples with the model's ``code_prior`` set to each
``MEAN:STD`` in turn (:meth:`tsrlib.models.tiny.TinySR.initial_noise`: each candidate's gain code ``z`` becomes
``MEAN + STD z``, the tilt code and the rest of the noise unchanged; ``tsr upsample --code-prior``) and
measures, per domain and cutoff, what :func:`tsrlib.experiments.search_bars` measures: one sample (candidate 0), the
mean candidate, the oracle best of ``--n`` and the search headroom against blind band replication, with paired 95 %
intervals across clips. ``random`` is the model with no prior (``MEAN, STD = 0, 1``). LSD can prefer a band
quieter than the true one, so it also prints how loud the invented band is (``band_db``: the energy above the cutoff,
:func:`tsrlib.data.real.band_energy_db`, candidate minus reference, medians over every candidate and over the oracle's
picks).

Choose a prior on the validation split (``--split val``) and confirm it on the test split once. Rows go to
``OUT/code-prior-SPLIT.csv`` as each clip is done, so a killed run resumes.

    .venv/bin/python tools/code_prior_study.py --split val --steps 10 --clips speech=12,music=12 --priors=-2.5:0.5,-2.5:1,-2:0.5,-2:1,-1.5:0.5,-1.5:1
    .venv/bin/python tools/code_prior_study.py --split test --priors=-1.5:1 --clips speech=24,music=8,sfx=8
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
    study_options(ap, clips="speech=24,music=8,sfx=8")
    ap.add_argument("--split", default="test", help="val to choose a prior, test to confirm it")
    ap.add_argument("--priors", default="-1.5:1", help="MEAN:STD of the gain code, comma-separated")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="_build/code-prior")
    a = ap.parse_args()
    model = tiny.load(a.model)
    if not model.cfg.band_code:
        raise SystemExit(f"{a.model} has no band code: there is no gain code to move")
    priors = {"random": None} | {p: tiny.parse_code_prior(p) for p in a.priors.split(",") if p}
    path = Path(a.out) / f"code-prior-{a.split}.csv"
    out = experiments.code_prior_bars(
        sample_settings(a, model, priors, "prior", path, experiments.code_prior_candidates)
    )
    pd.set_option("display.width", 220)
    cols = ["clips", "bar", "one", "mean", "best", "headroom", "best_vs_bar", "mean_minus_bar_lo", "mean_minus_bar_hi"]
    cols += ["band_db", "best_band_db"]
    print(out.set_index(["domain", "cutoff", "prior"])[cols].sort_index().round(3).to_string())


if __name__ == "__main__":
    main()
