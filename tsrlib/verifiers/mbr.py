"""Minimum Bayes risk: a no-reference verifier that scores each candidate by its closeness to the others.

If the model's candidates are samples of the posterior over the clean signal, the candidate with the least
expected distance to the truth is, by the same samples, the one with the least mean distance to the other
candidates: the *medoid* of the set under that distance (minimum-Bayes-risk decoding, as in speech recognition
and machine translation). With LSD as the distance, this verifier estimates each candidate's expected LSD
without a reference::

    score_k = -1/(N-1) sum_{j != k} LSD-HF(c_j, c_k)        (log10 power, n_fft 2048, hop 512, bins >= cutoff)

LSD-HF leaves out the given band, which every candidate shares. The score of a candidate depends on the
other candidates scored with it: random search scores all N in one call; zero-order search scores each
neighbourhood together. A single candidate scores 0. It needs no model, so it serves every domain; its
weakness is the model's: if every sample errs the same way (a band too quiet), the medoid does too.
"""

from __future__ import annotations

import numpy as np

from tsrlib import metrics
from tsrlib.verifiers.base import Context, Verifier


def pairwise_lsd(x: np.ndarray, sr: int, lo_hz: float | None = None) -> np.ndarray:
    """``[N, N]`` LSD between every pair of rows of ``x [N, T]`` (bins at or above ``lo_hz``); symmetric, zero
    diagonal."""
    p = metrics.log_power(x)
    if lo_hz is not None:
        p = p[:, np.arange(p.shape[1]) * sr / metrics.N_FFT >= lo_hz, :]
    return np.stack([(p - p[k]).square().mean(dim=1).sqrt().mean(dim=1).numpy() for k in range(len(x))])


class MinimumBayesRisk(Verifier):
    """``lsd_hf``: minus the mean LSD-HF of a candidate to the other candidates (higher is better)."""

    name = "mbr"
    axes = ("lsd_hf",)
    primary = "lsd_hf"
    needs = frozenset({"input"})

    def __init__(self, device: str = "cpu"):
        self.device = device

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        if len(x) < 2:
            return {"lsd_hf": np.zeros(len(x))}
        d = pairwise_lsd(x, sr, ctx.cutoff())
        return {"lsd_hf": -d.sum(axis=1) / (len(x) - 1)}
