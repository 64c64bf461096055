"""What the resumable studies in tools/ share: their options for the model, the real corpus, clips and cutoffs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def study_options(ap: argparse.ArgumentParser, clips: str = "speech=8,music=8,sfx=8") -> argparse.ArgumentParser:
    """Add ``--model``, ``--corpus``, ``--clips`` (test clips per domain) and ``--cutoffs`` (Hz) to ``ap``."""
    ap.add_argument("--model", default="tiny-real")
    ap.add_argument("--corpus", default="data/generated/real")
    ap.add_argument("--clips", default=clips, help="test clips per domain")
    ap.add_argument("--cutoffs", default="4000,8000")
    return ap


def parse_cutoffs(text: str) -> list[float]:
    """``"4000,8000"`` -> ``[4000.0, 8000.0]``."""
    return [float(c) for c in text.split(",")]


def sample_settings(
    a: argparse.Namespace, model, settings: dict, column: str, path: Path, candidates: Callable[..., pd.DataFrame]
) -> pd.DataFrame:
    """Run ``candidates(model, clip_audio, sr, cutoff, todo, n=, steps=, seed=)`` (a
    :func:`tsrlib.experiments.setting_candidates`-like function) on every clip of ``a.clips`` (split ``a.split``) at
    every cutoff, for the ``settings`` (name -> setting) not yet in the log at ``path`` (CSV, one row per candidate,
    the setting's name in ``column``), appending each clip's rows as it is done, so a killed run resumes. Rows are keyed
    by the model's weights fingerprint, so a model with other weights or decode settings never reuses one. Returns the
    log's rows of this model and these settings."""
    import time

    from tsrlib import experiments
    from tsrlib.search.cache import model_fingerprint

    fp = model_fingerprint(model)[:12]
    log = experiments.ResultLog(path, ["model", "steps", "n", "seed", column, "clip", "cutoff"])
    t0 = time.time()
    for clip in experiments.clips_by_domain(a.corpus, a.clips, split=a.split):
        for cutoff in parse_cutoffs(a.cutoffs):
            key = dict(model=fp, steps=a.steps, n=a.n, seed=a.seed, clip=clip.id, cutoff=cutoff)
            todo = {name: s for name, s in settings.items() if not log.done(**{column: name}, **key)}
            if todo:
                rows = candidates(model, clip.audio, clip.sr, cutoff, todo, n=a.n, steps=a.steps, seed=a.seed)
                log.append(rows.assign(**key, domain=clip.domain))
        print(f"{clip.id} done at {time.time() - t0:.0f} s", flush=True)
    df = log.frame(model=fp, steps=a.steps, n=a.n, seed=a.seed)
    return df[df[column].isin(list(settings))]
