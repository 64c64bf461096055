"""Random search (best-of-N): N independent initial noises, keep the verifier's favourite.

The paper's default. Candidate ``k`` of seed ``s`` is exactly the sampler's candidate ``k``
(:func:`tsrlib.sampler.generate`), so ``--search none`` with seed ``s`` is candidate 0 here.
NFE: ``N x steps`` (DDIM).
"""

from __future__ import annotations

import copy

import numpy as np
from tqdm.auto import tqdm

from tsrlib import sampler
from tsrlib.errors import ConfigError
from tsrlib.search.base import Run, Searcher


class RandomSearch(Searcher):
    """Best of ``n`` candidates with seeds ``(seed, 0) ... (seed, n - 1)``."""

    name = "random"

    def __init__(self, n: int = 16, **kw):
        super().__init__(**kw)
        if n < 1:
            raise ConfigError(f"random search needs n >= 1, got {n}")
        self.n = int(n)

    def to_config(self) -> dict:
        return super().to_config() | {"n": self.n}

    def nfe(self) -> int:
        return self.n * self.per_sample

    def fit(self, budget: int) -> RandomSearch:
        out = copy.copy(self)
        out.n = max(1, int(budget) // self.per_sample)
        return out

    def _search(self, run: Run) -> int:
        noise = sampler.CandidateNoise(run.seed, range(self.n), run.device)
        x_T = run.initial(noise)
        chunks = range(0, self.n, self.batch_size)
        audio = [
            run.sample(x_T[b : b + self.batch_size], noise.subset(range(b, min(b + self.batch_size, self.n))))
            for b in tqdm(chunks, desc="random search", unit="batch", disable=not run.progress)
        ]
        audio = np.concatenate(audio)
        scores = run.score(audio)  # one call: ensembles rank all N together
        for k in range(self.n):
            run.add(round=0, parent=None, noise=f"k={k}", scores=scores, row=k, nfe=self.per_sample, audio=audio[k])
        best = int(np.argmax(run.primary(scores)))
        run.log_round(0, best, run.primary(scores)[best])
        return best
