from __future__ import annotations

import numpy as np
import pytest

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
