from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SR = 24_000


@pytest.fixture
def noise() -> np.ndarray:
    """2 s of white noise at -20 dBFS RMS, full band at 24 kHz."""
    return (0.1 * np.random.default_rng(0).standard_normal(2 * SR)).astype(np.float32)


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """The tiny synthetic corpus, built once per test session. Returns its folder."""
    from tsrlib.data import corpus

    out = tmp_path_factory.mktemp("corpus") / "tiny"
    corpus.build(out, size="tiny", progress=False)
    return out


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The book built on the tiny corpus, one clip per domain, few candidates and steps, with a score bank swept from
    scratch (data/banks/tiny.yaml); returns its html folder."""
    out = tmp_path_factory.mktemp("site")  # build_book.py makes data/generated/tiny when it is missing
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "build_book.py"),
            "--size",
            "tiny",
            "--real",  # Chapters 1 and 2's real-recordings cells, run on the tiny corpus (no 500 MB download)
            "data/generated/tiny",
            "--out",
            str(out),
            "-p",
            "clips_per_domain=1",
            "-p",
            "n_candidates=4",
            "-p",
            "steps=8",
            "--bank",
            str(ROOT / "data" / "banks" / "tiny.yaml"),
        ],
        cwd=ROOT,
        check=True,
    )
    return out / "_build" / "html"
