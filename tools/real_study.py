"""Measure a model against the real-audio bars, on the held-out real test split (``tsr data build --size real``).

For each test clip (speech, music, sfx) at 4 and 8 kHz it scores ``--n`` candidates (LSD oracle and the
``--verifiers``) and the DSP baselines, then prints:

* the bars per domain and cutoff (:func:`tsrlib.experiments.search_bars`): one sample, the mean sample and the
  oracle best of N against blind band replication, with paired 95 % intervals across clips, and the search headroom;
* each verifier's agreement with the oracle (:func:`tsrlib.experiments.verifier_agreement`): within-input Spearman
  with -LSD and what best-of-N by that verifier changes against the mean sample, with intervals across clips.

Rows are written as they are computed (``OUT/*.csv``, named by the model's weights and the settings, so another model
or setting never reuses a row) and candidates cached (``OUT/cache``), so a killed run resumes.

    .venv/bin/python tools/real_study.py --model runs/tiny-real.safetensors --out _build/real-study/tiny-real

``--split val`` measures the validation split instead (speech and music only), and ``--ids REGEX`` keeps the clips
whose ids match, e.g. ``'speech-(sl|en|ro)-'`` for some voices; ``data/studies/verifiers`` holds two such runs.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import pandas as pd
from _study import parse_cutoffs, study_options

from tsrlib import experiments
from tsrlib.models import tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study_options(ap, clips="speech=24,music=16,sfx=25")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--eta", type=float, default=0.0, help="DDIM eta (0: the ODE path the bank samples; 1: ancestral)")
    ap.add_argument("--verifiers", default="mbr,continuity,spksim")
    ap.add_argument("--speech-verifiers", default="", help="extra verifiers for speech clips only (e.g. dnsmos,wer)")
    ap.add_argument("--split", default="test", help="test to report the bars; val to choose a setting (no sfx there)")
    ap.add_argument(
        "--ids", default="", help="a regular expression the clip ids must match, e.g. 'speech-(sl|en|ro)-' (voices)"
    )
    ap.add_argument("--out", default="_build/real-study")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = tiny.load(a.model)
    cutoffs = parse_cutoffs(a.cutoffs)
    t0 = time.time()
    cands, bases = [], []
    tag = "" if a.split == "test" else f"-{a.split}"  # logs keyed by content too; the name only keeps splits apart
    for spec in a.clips.split(","):
        domain, n_clips = spec.split("=")
        clips = experiments.test_clips(a.corpus, domain, 0 if a.ids else int(n_clips), split=a.split)
        clips = [c for c in clips if re.search(a.ids, c.id)][: int(n_clips)]
        names = [v for v in a.verifiers.split(",") if v]
        if domain == "speech":
            names += [v for v in a.speech_verifiers.split(",") if v]
        cands.append(
            experiments.candidate_table(
                model,
                clips,
                cutoffs,
                a.n,
                names,
                steps=a.steps,
                eta=a.eta,
                cache_dir=out / "cache",
                log_path=out
                / experiments.sweep_name(
                    f"candidates-{domain}{tag}",
                    model=model,
                    verifiers=names,
                    n=a.n,
                    steps=a.steps,
                    eta=a.eta,
                    cutoffs=cutoffs,
                ),
            )
        )
        base_log = out / experiments.sweep_name(f"baselines-{domain}{tag}", cutoffs=cutoffs)
        bases.append(experiments.baseline_table(clips, cutoffs, log_path=base_log))
        print(f"{domain}: {len(clips)} clips done at {time.time() - t0:.0f} s", flush=True)
    cand, base = pd.concat(cands, ignore_index=True), pd.concat(bases, ignore_index=True)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print("\nMean LSD of the baselines:")
    print(base.groupby(["domain", "cutoff", "method"]).LSD.mean().unstack().round(3).to_string())
    bars = experiments.search_bars(cand, base, n=a.n)
    print(f"\nBars (one sample, mean sample, oracle best of {a.n}) against blind band replication:")
    print(bars.round(3).to_string(index=False))
    not_axes = {"candidate", "LSD", "LSD-HF", "domain", "source", *experiments.KEY}  # the log's own key columns
    axes = [c for c in cand.columns if c not in not_axes]
    agree = []
    for (domain, cutoff), g in cand.groupby(["domain", "cutoff"]):
        cols = [c for c in axes if g[c].notna().all()]
        agree.append(experiments.verifier_agreement(g, cols).assign(domain=domain, cutoff=cutoff))
    agree = pd.concat(agree, ignore_index=True)
    print("\nVerifiers against the oracle (Spearman with -LSD within an input; pick_gain: LSD change of best-of-N):")
    print(agree.round(3).to_string(index=False))
    summary = {
        "model": a.model,
        "split": a.split,
        "ids": a.ids,
        "bars": bars.to_dict("records"),
        "verifiers": agree.to_dict("records"),
        "seconds": round(time.time() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    print(f"\nwrote {out / 'summary.json'} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
