"""Oracle verifiers: they compare with the clean reference, so they serve evaluation only.

A deployed system never has the reference. Searchers refuse an oracle unless the caller passes
``allow_oracle=True`` (the book does so to draw the ceiling of each search: "best of N by LSD").
"""

from __future__ import annotations

import numpy as np

from tsrlib import metrics
from tsrlib.verifiers.base import Context, Verifier


def _aligned(ref: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = min(len(ref), x.shape[1])
    return ref[:n], x[:, :n]


class LSDOracle(Verifier):
    """``-LSD`` and ``-LSD-HF`` against the reference (log10 power, n_fft 2048, hop 512; see :mod:`tsrlib.metrics`).

    LSD-HF averages only the bins at or above the input cutoff (from the context, or detected on the input).
    """

    name = "lsd"
    axes = ("lsd", "lsd_hf")
    primary = "lsd"
    needs = frozenset({"reference"})
    oracle = True

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        ref, x = _aligned(ctx.reference_at(sr), x)
        out = {"lsd": -metrics.lsd(ref, x)}
        if ctx.cutoff_hz is not None or ctx.input is not None:
            out["lsd_hf"] = -metrics.lsd_hf(ref, x, sr, ctx.cutoff())
        else:
            out["lsd_hf"] = out["lsd"]
        return out


class LSDHFOracle(LSDOracle):
    """:class:`LSDOracle` with ``-LSD-HF`` as the primary axis: the invented band only."""

    name = "lsd-hf"
    primary = "lsd_hf"
