"""Ensembles of verifiers: the paper's rank aggregation, and a z-score variant.

A single verifier can be *hacked*: search finds candidates that please it without being better.
Combining verifiers that fail differently resists this. Both aggregations work on a table of
primary scores ``[V verifiers, N candidates]`` (higher is better) and only compare candidates
**within one call**, so a searcher must score the candidates it wants to compare together.

* :func:`rank_aggregate`: each verifier ranks the N candidates 1..N (N is its best; ties share the
  mean of their ranks), and the ensemble score is the mean rank. Scale-free and robust to outliers.
* :func:`zscore_aggregate`: each verifier's scores are standardised across the N candidates (a
  verifier that scores all alike contributes 0), and the ensemble score is the mean z.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from tsrlib.verifiers.base import Context, Verifier


def rank_aggregate(scores: np.ndarray) -> np.ndarray:
    """Mean rank ``[N]`` of a score table ``[V, N]`` (rank N = best, ties averaged)."""
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    return rankdata(s, axis=1, method="average").mean(axis=0)


def zscore_aggregate(scores: np.ndarray) -> np.ndarray:
    """Mean z-score ``[N]`` of a score table ``[V, N]``; a row with no spread contributes 0."""
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    sd = s.std(axis=1, keepdims=True)
    return np.where(sd > 0, (s - s.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0), 0.0).mean(axis=0)


AGGREGATES = {"rank": rank_aggregate, "zscore": zscore_aggregate}


class Ensemble(Verifier):
    """Aggregate the primary scores of ``members``.

    Axes: ``"<member>"`` (each member's primary score), ``"<member>.<axis>"`` (its other axes) and
    ``"ensemble"``, the aggregate and the primary axis.
    """

    primary = "ensemble"

    def __init__(self, members: list[Verifier], method: str = "rank"):
        if not members:
            raise ValueError("an ensemble needs at least one verifier")
        if method not in AGGREGATES:
            raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(AGGREGATES)}")
        self.members, self.method = list(members), method
        prefix = "ensemble" if method == "rank" else "zensemble"
        self.name = f"{prefix}:{','.join(m.name for m in members)}"
        self.axes = tuple(m.name for m in members) + ("ensemble",)
        self.needs = frozenset().union(*(m.needs for m in members))
        self.oracle = any(m.oracle for m in members)

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        table, extra = {}, {}
        for m in self.members:
            axes = m.evaluate(x, sr, ctx)
            table[m.name] = axes[m.primary]
            extra.update({f"{m.name}.{a}": v for a, v in axes.items() if a != m.primary})
        return {**table, **extra, "ensemble": AGGREGATES[self.method](np.stack(list(table.values())))}
