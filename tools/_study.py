"""What the resumable studies in tools/ share: their options for the model, the real corpus, clips and cutoffs."""

from __future__ import annotations

import argparse


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
