"""Consensus: a learned no-reference verifier, closeness to the regression baseline's estimate.

LSD rewards the conditional mean: the lower a candidate's log-spectral distance to the *expected*
clean signal, the better it scores. The deterministic regression baseline (``tsrlib.models``, the
same backbone trained with a plain L2 loss) is an estimate of that conditional mean, available at
inference time without any reference. This verifier scores each candidate by ``-LSD-HF`` (log10
power, n_fft 2048, hop 512, bins at or above the input cutoff) against the regression output.

It is trained on the same corpus as the diffusion model, so it shares that model's blind spots, and
search with it is pulled towards the mean: the chosen candidate is the *least* surprising one.
Chapter 3 measures both how well it tracks the oracle and what it gives away on the other axes.
"""

from __future__ import annotations

import functools

import numpy as np

from tsrlib import metrics
from tsrlib.audio import MODEL_SR
from tsrlib.verifiers.base import Context, Verifier


@functools.lru_cache(maxsize=2)
def regression_model(name: str = "regression", device: str = "cpu"):
    from tsrlib.models import tiny

    return tiny.load(name, device)


class Consensus(Verifier):
    """``-LSD-HF`` of each candidate against the regression baseline's output for the same input."""

    name = "consensus"
    axes = ("consensus",)
    primary = "consensus"
    needs = frozenset({"input"})
    native_sr = MODEL_SR

    def __init__(self, device: str = "cpu", model: str = "regression"):
        self.device, self.model_name = device, model

    def estimate(self, ctx: Context) -> np.ndarray:
        """The regression baseline's output ``[T]`` at the model rate, cached in the context."""
        key = (self.name, "estimate")
        if key not in ctx.cache:
            from tsrlib import sampler

            model = regression_model(self.model_name, self.device)
            cond = model.condition(ctx.input_at(MODEL_SR), MODEL_SR, ctx.cutoff())
            ctx.cache[key] = sampler.generate(model, cond, 0, [0]).audio[0]
        return ctx.cache[key]

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        est = self.estimate(ctx)
        n = min(len(est), x.shape[1])
        return {"consensus": -metrics.lsd_hf(est[:n], x[:, :n], sr, ctx.cutoff())}
