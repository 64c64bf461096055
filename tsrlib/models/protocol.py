"""What a searchable diffusion super-resolution model offers the sampler and the searchers.

The protocol is shaped so that AudioSR, a latent diffusion model, fits without changes to the
searchers: its ``x_T`` is a VAE latent whose shape depends on the input's length, its ``x0`` decodes
through the VAE and a HiFi-GAN vocoder, and it uses classifier-free guidance with cond and uncond
batched together. So a model says:

* :meth:`condition`: turn band-limited audio into whatever its network is conditioned on;
* :meth:`noise_shape`: the shape of one candidate's ``x_T`` for that condition;
* :meth:`denoise`: the v-prediction for a batch ``x_t [N, ...]`` at times ``t [N]``, applying
  classifier-free guidance itself when ``guidance_scale != 1``; it returns how many network
  evaluations *per candidate* that took (1 without guidance, 2 with it), which the sampler counts as NFE;
* :meth:`decode`: candidates' ``x0`` to audio ``[N, T]`` at the model's rate, with the input's low
  band restored (the consistency step AudioSR performs after generation).

A model may also offer ``initial_noise(x_T, cond) -> x_T``, which maps the standard normal draws of its candidates'
starting noises to the noises it samples from (the embedded model's prior on its band code); without it they are used
as drawn. :func:`tsrlib.sampler.initial_noise` applies it wherever a search draws starting noises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch


@dataclass
class Condition:
    """A prepared input: the band-limited audio at the model rate and what the network needs from it.

    ``audio`` is float32 ``[T]`` at ``sr`` Hz, ``cutoff_hz`` the band limit (detected or given),
    ``features`` the model-specific tensors (on the model's device), ``extra`` anything else
    (loudness to undo, original length, ...).
    """

    audio: np.ndarray
    sr: int
    cutoff_hz: float
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SRDiffusionModel(Protocol):
    sr: int
    name: str

    def condition(self, lr_audio: np.ndarray, sr: int, cutoff_hz: float | None = None) -> Condition: ...

    def noise_shape(self, cond: Condition) -> tuple[int, ...]: ...

    def denoise(
        self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition, guidance_scale: float = 1.0
    ) -> tuple[torch.Tensor, int]: ...

    def decode(self, x0: torch.Tensor, cond: Condition) -> np.ndarray: ...
