"""Which torch device to run on: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, checked against this machine.

A device the machine lacks is a :class:`~tsrlib.errors.ConfigError` that names the devices it has, raised
before any model loads, instead of an assertion from deep inside torch.
"""

from __future__ import annotations

import torch

from tsrlib.errors import ConfigError


def available() -> list[str]:
    """The devices this machine can run on, as ``--device`` accepts them: ``["cpu", "cuda", "cuda:0", ...]``."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve(name: str | torch.device) -> torch.device:
    """``auto`` is CUDA when there is one, else the CPU; any other name must be in :func:`available`."""
    text = str(name).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    have = available()
    if text not in have:
        raise ConfigError(
            f"device {str(name)!r} is not available on this machine; it has: {', '.join(have)} "
            "(or auto: the first GPU if any, else cpu)"
        )
    return torch.device(text)
