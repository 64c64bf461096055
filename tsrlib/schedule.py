"""The noise schedule: small pure functions, continuous time ``t`` in [0, 1] (k-diffusion style).

Forward process (variance preserving): ``x_t = alpha(t) * x0 + sigma(t) * noise`` with
``alpha^2 + sigma^2 = 1`` and the cosine schedule of Nichol & Dhariwal (2021):
``alpha(t) = cos((t + s) / (1 + s) * pi / 2)``, ``s = 0.008``, clipped so t = 1 is almost pure noise.

The networks predict ``v = alpha * noise - sigma * x0`` (v-prediction, as AudioSR does); then
``x0 = alpha * x_t - sigma * v`` and ``noise = sigma * x_t + alpha * v``.
"""

from __future__ import annotations

import math

import torch

from tsrlib.errors import ConfigError

S = 0.008
T_MAX = 0.999  # alpha(0.999) is about 1.2e-3: nearly pure noise, never exactly zero


def alpha_sigma(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(alpha(t), sigma(t))`` of the cosine schedule; ``t`` is any shape, values in [0, 1]."""
    a = torch.cos((t.clamp(0, T_MAX) + S) / (1 + S) * math.pi / 2)
    a = a / math.cos(S / (1 + S) * math.pi / 2)  # alpha(0) = 1 exactly
    a = a.clamp(0, 1)
    return a, (1 - a**2).clamp_min(0).sqrt()


def timesteps(steps: int, t_max: float = T_MAX) -> torch.Tensor:
    """``steps + 1`` times from ``t_max`` down to 0, evenly spaced (float64, shape ``[steps + 1]``)."""
    if steps < 1:
        raise ConfigError(f"need at least one step, got {steps}")
    return torch.linspace(t_max, 0.0, steps + 1, dtype=torch.float64)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The one forward-noising function: ``alpha(t) x0 + sigma(t) noise`` (``t`` scalar or ``[N]``)."""
    t = torch.as_tensor(t, dtype=torch.float64, device=x0.device)
    a, s = alpha_sigma(t)
    shape = (-1,) + (1,) * (x0.ndim - 1) if t.ndim else ()
    return a.reshape(shape).to(x0.dtype) * x0 + s.reshape(shape).to(x0.dtype) * noise


def v_target(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The v-prediction target ``alpha noise - sigma x0`` for per-example times ``t [N]``."""
    a, s = alpha_sigma(t.to(torch.float64))
    shape = (-1,) + (1,) * (x0.ndim - 1)
    return a.reshape(shape).to(x0.dtype) * noise - s.reshape(shape).to(x0.dtype) * x0


def x0_eps_from_v(x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted clean sample and noise from a v-prediction at time ``t``."""
    t = torch.as_tensor(t, dtype=torch.float64, device=x_t.device)
    a, s = alpha_sigma(t)
    shape = (-1,) + (1,) * (x_t.ndim - 1) if t.ndim else ()
    a, s = a.reshape(shape).to(x_t.dtype), s.reshape(shape).to(x_t.dtype)
    return a * x_t - s * v, s * x_t + a * v


def renoise(x_a: torch.Tensor, t_a: float, t_b: float, noise: torch.Tensor) -> torch.Tensor:
    """Move ``x_a`` at level ``t_a`` forward to the noisier level ``t_b >= t_a``: the forward process's
    transition ``x_b = (alpha_b / alpha_a) x_a + sqrt(sigma_b^2 - (alpha_b / alpha_a)^2 sigma_a^2) noise``.

    Search over paths uses it to branch a partly denoised sample (Ma et al. 2025, "forward" by Δf).
    """
    if t_b < t_a:
        raise ValueError(f"renoise goes forward in noise: t_b={t_b} < t_a={t_a}")
    a_a, s_a = alpha_sigma(torch.tensor(t_a, dtype=torch.float64))
    a_b, s_b = alpha_sigma(torch.tensor(t_b, dtype=torch.float64))
    ratio = float(a_b / a_a)
    return ratio * x_a + float((s_b**2 - ratio**2 * s_a**2).clamp_min(0).sqrt()) * noise
