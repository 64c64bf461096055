"""Zero-order search: local search around a pivot noise, moved to the best neighbour when it is better.

Each round draws ``n`` neighbours of the pivot ``x_p`` (``D`` numbers), samples and scores them *together
with the pivot* (one verifier call, so ensembles compare like with like), and moves the pivot to the
best neighbour if it beats the pivot. Two neighbourhoods, both sized by ``lam``:

* ``"ball"`` (the papers' wording): ``x = x_p + r u``, ``u`` a uniform direction and ``r`` uniform in
  volume within radius ``lam * sqrt(D)`` (``lam`` is relative to a typical noise norm). The neighbour's
  norm grows to about ``sqrt(D (1 + lam^2))``: further from the Gaussian shell the model was trained on.
* ``"shell"`` (a common re-implementation): ``x = sqrt(1 - lam^2) x_p + lam eps`` with fresh
  ``eps ~ N(0, I)``: a Gaussian again, with the typical norm ``sqrt(D)`` and cosine similarity about
  ``sqrt(1 - lam^2)`` to the pivot; for small ``lam`` it sits at the same distance as the ball.

When no neighbour improves, ``on_stall="stay"`` keeps the pivot (the next round draws new neighbours)
and ``"restart"`` draws a fresh random pivot (one more sample). The choice at the end scores every
pivot ever held in one call and keeps the best.

NFE: ``steps x (1 + rounds x n + restarts)``.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from tsrlib import sampler
from tsrlib.errors import ConfigError
from tsrlib.search.base import Run, Searcher

NEIGHBOURHOODS = ("ball", "shell")
ON_STALL = ("stay", "restart")


def neighbours(pivot: torch.Tensor, eps: torch.Tensor, u: torch.Tensor, lam: float, kind: str) -> torch.Tensor:
    """Neighbours ``[n, ...]`` of ``pivot [...]`` from Gaussian draws ``eps [n, ...]`` and uniforms ``u [n]``."""
    if kind == "shell":
        return math.sqrt(max(1.0 - lam**2, 0.0)) * pivot + lam * eps
    d = pivot.numel()
    direction = eps / eps.flatten(1).norm(dim=1).reshape(-1, *([1] * (eps.ndim - 1)))
    radius = lam * math.sqrt(d) * u.pow(1.0 / d)
    return pivot + radius.reshape(-1, *([1] * (eps.ndim - 1))).to(eps) * direction


class ZeroOrderSearch(Searcher):
    """``rounds`` rounds of ``n`` neighbours at scale ``lam`` around a pivot; see the module docstring."""

    name = "zero-order"

    def __init__(
        self, n: int = 8, lam: float = 0.3, rounds: int = 2, neighbourhood: str = "shell", on_stall: str = "stay", **kw
    ):
        super().__init__(**kw)
        if neighbourhood not in NEIGHBOURHOODS:
            raise ConfigError(f"neighbourhood must be one of {NEIGHBOURHOODS}, got {neighbourhood!r}")
        if on_stall not in ON_STALL:
            raise ConfigError(f"on_stall must be one of {ON_STALL}, got {on_stall!r}")
        if neighbourhood == "shell" and not 0 < lam <= 1:
            raise ConfigError(f"the shell neighbourhood needs 0 < lam <= 1, got {lam}")
        if n < 1 or rounds < 1 or lam <= 0:
            raise ConfigError("zero-order search needs n >= 1, rounds >= 1 and lam > 0")
        self.n, self.lam, self.rounds = int(n), float(lam), int(rounds)
        self.neighbourhood, self.on_stall = neighbourhood, on_stall

    def to_config(self) -> dict:
        return super().to_config() | {
            "n": self.n,
            "lam": self.lam,
            "rounds": self.rounds,
            "neighbourhood": self.neighbourhood,
            "on_stall": self.on_stall,
        }

    def nfe(self, restarts: int = 0) -> int:
        return self.per_sample * (1 + self.rounds * self.n + restarts)

    def fit(self, budget: int) -> ZeroOrderSearch:
        """As many rounds as fit (``on_stall="restart"`` may spend one sample per stalled round more)."""
        out = copy.copy(self)
        out.rounds = max(1, (int(budget) // self.per_sample - 1) // self.n)
        return out

    def _fresh(self, run: Run, index: int) -> tuple[torch.Tensor, sampler.CandidateNoise]:
        noise = sampler.CandidateNoise(run.seed, [index], run.device)
        return run.initial(noise), noise

    def _search(self, run: Run) -> int:
        next_index = 1
        x_p, noise = self._fresh(run, 0)
        audio = run.sample(x_p, noise)
        pivot = run.add(
            round=0, parent=None, noise="pivot k=0", scores=run.score(audio), row=0, nfe=self.per_sample, audio=audio[0]
        )
        pivots = [pivot]
        for r in tqdm(range(1, self.rounds + 1), desc="zero-order", unit="round", disable=not run.progress):
            idx = list(range(next_index, next_index + self.n))
            next_index += self.n
            noise = sampler.CandidateNoise(run.seed, idx, run.device)
            eps = noise.initial(run.shape)  # directions, not starting noises: no code prior here
            u = torch.stack([torch.rand((), generator=g) for g in noise.gens])
            x_n = neighbours(x_p[0], eps, u, self.lam, self.neighbourhood)
            audio = run.sample(x_n, noise)
            scores = run.score(np.concatenate([run.audio_of[pivot][None], audio]))  # the pivot is row 0
            ids = [
                run.add(
                    round=r,
                    parent=pivot,
                    noise=f"{self.neighbourhood}({self.lam:g}) of #{pivot}, k={k}",
                    scores={a: v[1:] for a, v in scores.items()},
                    row=j,
                    nfe=self.per_sample,
                    audio=audio[j],
                )
                for j, k in enumerate(idx)
            ]
            s = run.primary(scores)
            best = int(np.argmax(s[1:]))
            moved = bool(s[1 + best] > s[0])
            if moved:
                pivot, x_p = ids[best], x_n[best : best + 1]
                pivots.append(pivot)
            elif self.on_stall == "restart" and r < self.rounds:
                x_p, noise = self._fresh(run, next_index)
                audio = run.sample(x_p, noise)
                pivot = run.add(
                    round=r,
                    parent=None,
                    noise=f"restart k={next_index}",
                    scores=run.score(audio),
                    row=0,
                    nfe=self.per_sample,
                    audio=audio[0],
                )
                next_index += 1
                pivots.append(pivot)
            run.log_round(r, pivot, s[1 + best] if moved else s[0], moved=moved)
        if len(pivots) == 1:
            return pivots[0]
        final = run.score(np.stack([run.audio_of[p] for p in pivots]))  # compare every pivot held, in one call
        return pivots[int(np.argmax(run.primary(final)))]
