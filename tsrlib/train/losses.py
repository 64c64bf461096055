"""Training losses on compressed-STFT tensors ``[N, 2F, L]``."""

from __future__ import annotations

import torch


def band_weights(
    bin_freqs: torch.Tensor, cutoff: torch.Tensor, below: float = 0.1, bandwidth: torch.Tensor | None = None
) -> torch.Tensor:
    """``[N, 2F, 1]`` weights: 1 for bins at or above each example's cutoff (the band to invent), ``below`` under it,
    and 0 above each example's ``bandwidth [N]`` (Hz), where the recording holds nothing to learn from.

    The given band is copied from the input after generation, so it needs little of the model's capacity.
    """
    w = torch.where(bin_freqs[None] >= cutoff[:, None], 1.0, below)
    if bandwidth is not None:
        w = torch.where(bin_freqs[None] <= bandwidth[:, None], w, 0.0)
    return torch.cat([w, w], dim=1).unsqueeze(-1)


def weighted_mse(pred: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-example weighted mean squared error, shape ``[N]``."""
    return ((pred - target) ** 2 * weights).mean(dim=(1, 2)) / weights.mean(dim=(1, 2))
