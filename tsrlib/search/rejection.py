"""Random search with early rejection: sample ``n`` candidates part of the way, finish only the ``keep`` best.

On the sampler's grid of ``steps`` DDIM levels (0 is pure noise, ``steps`` is clean):

1. Run all ``n`` initial noises down to level ``reject_at`` (batched), decode each one's **one-step
   x0-prediction** there and score the previews with the verifier, in one call.
2. Finish only the ``keep`` best-scoring paths, from the state each one reached; score the finished samples and
   return the best.

A finished candidate is exactly random search's candidate ``k`` (the same initial noise, the same per-candidate
generator for the step noise), so with ``keep = n`` this *is* random search and only the bookkeeping differs; what
rejection changes is which candidates get finished. It spends ``n x reject_at + keep x (steps - reject_at)`` NFE
(times 2 with guidance) instead of ``n x steps``: at ``reject_at = steps / 4`` and ``keep = n / 4``, 44 % of random
search's. Whether the previews rank the finished samples well enough is an empirical question for each verifier,
model and level; ``tools/rejection_study.py`` measures it on real clips.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from tsrlib import sampler, schedule
from tsrlib.errors import ConfigError
from tsrlib.search.base import Run, Searcher


class EarlyRejection(Searcher):
    """Best of ``keep`` finished candidates, chosen from ``n`` by their x0-previews at level ``reject_at``.

    ``reject_at``: the level (of ``steps``) where previews are scored; default ``steps // 4``, at least 1.
    """

    name = "rejection"

    def __init__(self, n: int = 16, keep: int = 4, reject_at: int | None = None, **kw):
        super().__init__(**kw)
        reject_at = max(1, self.steps // 4) if reject_at is None else int(reject_at)
        if n < 1 or not 1 <= keep <= n:
            raise ConfigError(f"early rejection needs n >= 1 and 1 <= keep <= n, got n={n}, keep={keep}")
        if not 0 < reject_at < self.steps:
            raise ConfigError(f"reject_at must lie in [1, steps), got {reject_at} with steps={self.steps}")
        if self.solver != "ddim":
            raise ConfigError("early rejection stops and resumes the sampler level by level: use the ddim solver")
        self.n, self.keep, self.reject_at = int(n), int(keep), reject_at

    def to_config(self) -> dict:
        return super().to_config() | {"n": self.n, "keep": self.keep, "reject_at": self.reject_at}

    def nfe(self) -> int:
        return self.evals * (self.n * self.reject_at + self.keep * (self.steps - self.reject_at))

    def fit(self, budget: int) -> EarlyRejection:
        """As many candidates as ``budget`` NFE allows with ``keep`` and ``reject_at`` fixed (at least ``keep``)."""
        out = copy.copy(self)
        finish = self.keep * (self.steps - self.reject_at)
        out.n = max(self.keep, (int(budget) // self.evals - finish) // self.reject_at)
        return out

    def _batches(self, count: int) -> list[range]:
        return [range(b, min(b + self.batch_size, count)) for b in range(0, count, self.batch_size)]

    def _advance(
        self,
        run: Run,
        x: torch.Tensor,
        noise: sampler.CandidateNoise,
        ts: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
    ) -> sampler.SampleOutput:
        """DDIM from level ``start`` to ``stop`` (default: the end) for the rows of ``x``; counts their NFE."""
        out = sampler.sample_ddim(
            run.model, run.cond, x, ts, eta=self.eta, noise=noise, start=start, stop=stop, guidance_scale=self.guidance
        )
        run.nfe += out.nfe
        return out

    def _search(self, run: Run) -> int:
        ts = schedule.timesteps(self.steps)
        noise = sampler.CandidateNoise(run.seed, range(self.n), run.device)
        x_T = run.initial(noise)
        level, states, previews = self.reject_at, [], []
        for rows in self._batches(self.n):
            out = self._advance(run, x_T[rows.start : rows.stop], noise.subset(rows), ts, stop=level)
            states.append(out.x)
            previews.append(run.model.decode(out.x0, run.cond))
        x = torch.cat(states)
        scores = run.score(np.concatenate(previews))
        s = run.primary(scores)
        ids = [
            run.add(
                round=0,
                parent=None,
                noise=f"k={k}",
                scores=scores,
                row=k,
                nfe=level * self.evals,
                level=level,
                final=False,
            )
            for k in range(self.n)
        ]
        kept = [int(k) for k in np.argsort(-s, kind="stable")[: self.keep]]
        run.log_round(0, ids[kept[0]], s[kept[0]], level=level)

        audio = []
        for part in self._batches(len(kept)):
            rows = [kept[j] for j in part]
            out = self._advance(run, x[rows], noise.subset(rows), ts, start=level)
            audio.append(run.model.decode(out.x, run.cond))
        audio = np.concatenate(audio)
        scores = run.score(audio)
        finished = [
            run.add(
                round=1,
                parent=ids[k],
                noise=f"k={k}",
                scores=scores,
                row=j,
                nfe=(self.steps - level) * self.evals,
                level=self.steps,
                audio=audio[j],
            )
            for j, k in enumerate(kept)
        ]
        best = int(np.argmax(run.primary(scores)))
        run.log_round(1, finished[best], run.primary(scores)[best], level=self.steps)
        return finished[best]
