"""Timestep samplers: where in the diffusion time each training example is noised.

A sampler has ``sample(n, generator) -> t [n]`` (values in (0, 1)) and ``observe(t, losses)``, which an
adaptive sampler uses to move its mass (the stage-adaptive training chapter plugs its own in here).
"""

from __future__ import annotations

import torch


class UniformTimesteps:
    """``t ~ U(t_min, 1)``: the standard choice."""

    def __init__(self, t_min: float = 1e-3):
        self.t_min = t_min

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.t_min + (1 - self.t_min) * torch.rand(n, generator=generator)

    def observe(self, t: torch.Tensor, losses: torch.Tensor) -> None:  # noqa: D401 - nothing to adapt
        return None

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None
