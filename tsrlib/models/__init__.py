"""Diffusion super-resolution models behind one protocol (see protocol.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from tsrlib.models.protocol import SRDiffusionModel


def load(
    name: str | Path = "tiny-real", device: str | torch.device = "cpu", *, checkpoint: str | Path | None = None
) -> SRDiffusionModel:
    """A model by name: ``audiosr`` (the paper's model, 48 kHz, from the local ``checkpoint``;
    :mod:`tsrlib.models.audiosr`), or a shipped or saved embedded model (``tiny-real``, ``tiny``, ``regression``, a
    ``.safetensors`` path; :func:`tsrlib.models.tiny.load`). Raises :class:`~tsrlib.errors.ConfigError` for a
    ``checkpoint`` given with another model."""
    from tsrlib.errors import ConfigError

    if str(name) == "audiosr":
        from tsrlib.models import audiosr

        return audiosr.load(checkpoint or None, device)
    if checkpoint:
        raise ConfigError(
            "a checkpoint is for the audiosr model; give an embedded model's .safetensors file as its name"
        )
    from tsrlib.models import tiny

    return tiny.load(name, device)
