"""Search over paths (Ma et al. 2025), here for the first time on audio super-resolution.

On the sampler's grid of ``steps`` levels (index 0 is pure noise, ``steps`` is clean):

1. Sample ``n`` noises and run the sampler down to level ``first`` (default ``delta_b``).
2. Branch each kept state into ``m``: re-noise it *forward* by ``delta_f`` levels with the forward
   process (:func:`tsrlib.schedule.renoise`; branch 0 continues its parent's noise generator, the
   others get fresh ones).
3. Denoise every branch ``delta_b`` levels *back*, decode its **one-step x0-prediction** and score it
   with the verifier (all branches in one call); keep the best ``n``.
4. Repeat from 2 until the final level; the last round scores finished samples, and the best wins.

Each round advances ``delta_b - delta_f`` levels, so ``delta_b > delta_f``. With ``m = 1`` and
``delta_f = 0`` it is plain sampling of ``n`` candidates (the verifier only watches).
NFE: ``n x first + sum over rounds of n x m x (levels denoised)``; with
``K = (steps - first) / (delta_b - delta_f)`` whole rounds that is ``n (first + K m delta_b)``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from tqdm.auto import tqdm

from tsrlib import sampler, schedule
from tsrlib.errors import ConfigError
from tsrlib.search.base import Run, Searcher


class SearchOverPaths(Searcher):
    """Keep ``n`` paths; branch each into ``m`` by ``delta_f`` levels forward and ``delta_b`` back."""

    name = "paths"

    def __init__(self, n: int = 4, m: int = 2, delta_f: int = 2, delta_b: int = 5, first: int | None = None, **kw):
        super().__init__(**kw)
        first = delta_b if first is None else first
        if n < 1 or m < 1 or delta_f < 0 or delta_b <= delta_f:
            raise ConfigError("search over paths needs n >= 1, m >= 1, delta_f >= 0 and delta_b > delta_f")
        if not 0 <= first < self.steps or first < delta_f:
            raise ConfigError(f"first must lie in [delta_f, steps), got {first} with steps={self.steps}")
        if self.solver != "ddim":
            raise ConfigError("search over paths steps level by level: use the ddim solver")
        self.n, self.m, self.delta_f, self.delta_b, self.first = int(n), int(m), int(delta_f), int(delta_b), int(first)

    def to_config(self) -> dict:
        return super().to_config() | {
            "n": self.n,
            "m": self.m,
            "delta_f": self.delta_f,
            "delta_b": self.delta_b,
            "first": self.first,
        }

    def levels(self) -> list[tuple[int, int]]:
        """The (start, stop) level pairs of each branching round."""
        out, i = [], self.first
        while i < self.steps:
            j = i - self.delta_f
            out.append((j, min(j + self.delta_b, self.steps)))
            i = out[-1][1]
        return out

    def nfe(self) -> int:
        return self.n * self.evals * (self.first + self.m * sum(b - a for a, b in self.levels()))

    def fit(self, budget: int) -> SearchOverPaths:
        out = copy.copy(self)
        per_path = self.nfe() // self.n
        out.n = max(1, int(budget) // per_path)
        return out

    def _search(self, run: Run) -> int:
        ts = schedule.timesteps(self.steps)
        noise = sampler.CandidateNoise(run.seed, range(self.n), run.device)
        x = run.initial(noise)
        if self.first > 0:
            x = sampler.sample_ddim(
                run.model, run.cond, x, ts, eta=self.eta, noise=noise, stop=self.first, guidance_scale=self.guidance
            ).x
        run.nfe += self.n * self.first * self.evals
        parents = [
            run.add(
                round=0,
                parent=None,
                noise=f"k={k}",
                scores={},
                row=0,
                nfe=self.first * self.evals,
                level=self.first,
                final=False,
            )
            for k in range(self.n)
        ]
        gens = list(noise.gens)
        next_index = self.n
        best = parents[0]
        for r, (a, b) in enumerate(tqdm(self.levels(), desc="paths", unit="round", disable=not run.progress), 1):
            # branch: row p * m + c is child c of parent p
            kid_gens, kid_parent = [], []
            for p in range(len(parents)):
                for c in range(self.m):
                    if c == 0:
                        g = gens[p]
                    else:
                        g = sampler.CandidateNoise(run.seed, [next_index], run.device).gens[0]
                        next_index += 1
                    kid_gens.append(g)
                    kid_parent.append(p)
            branch_noise = sampler.CandidateNoise.from_generators(run.seed, kid_gens, run.device)
            x_rep = x[kid_parent]
            if self.delta_f > 0:
                eps = branch_noise.draw(tuple(run.shape))
                x_rep = schedule.renoise(x_rep, float(ts[a + self.delta_f]), float(ts[a]), eps)
            out = sampler.sample_ddim(
                run.model,
                run.cond,
                x_rep,
                ts,
                eta=self.eta,
                noise=branch_noise,
                start=a,
                stop=b,
                guidance_scale=self.guidance,
            )
            run.nfe += out.nfe
            final = b == self.steps
            audio = run.model.decode(out.x if final else out.x0, run.cond)
            scores = run.score(audio)
            s = run.primary(scores)
            ids = [
                run.add(
                    round=r,
                    parent=parents[kid_parent[q]],
                    noise=f"branch {q % self.m} of #{parents[kid_parent[q]]}",
                    scores=scores,
                    row=q,
                    nfe=(b - a) * self.evals,
                    level=b,
                    final=final,
                    audio=audio[q] if final else None,
                )
                for q in range(len(audio))
            ]
            keep = np.argsort(-s, kind="stable")[: self.n]
            best = ids[int(keep[0])]
            run.log_round(r, best, s[keep[0]], level=b)
            x, parents, gens = out.x[torch.as_tensor(keep)], [ids[q] for q in keep], [kid_gens[q] for q in keep]
        return best
