"""A disk cache of sampled candidates, so chapters and reruns never sample the same candidate twice.

A candidate is fully determined by the input (audio and cutoff), the model's weights, its initial
noise ``x_T``, the sampler (steps, eta, solver) and, when ``eta > 0``, the seed of its per-step noise.
The key hashes all of these; the value is the decoded audio ``[T]`` (float32 ``.npy``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from tsrlib.errors import ConfigError


def _sha1(*parts: bytes | str) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


def model_fingerprint(model) -> str:
    """A hash of the model's name, config (decode settings such as ``silence_gate_db`` change its audio too) and
    weights. It is kept on the model object and recomputed whenever the config or any tensor changes, in place too
    (every in-place write bumps a tensor's version counter)."""
    tensors = list(model.state_dict().values()) if hasattr(model, "state_dict") else []
    stamp = (
        getattr(model, "name", type(model).__name__),
        repr(getattr(model, "cfg", None)),
        tuple((t.data_ptr(), t._version) for t in tensors),
    )
    cached = getattr(model, "_tsr_fingerprint", None)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    fp = _sha1(stamp[0], stamp[1], *[t.detach().cpu().contiguous().numpy().tobytes() for t in tensors])
    try:
        model._tsr_fingerprint = (stamp, fp)
    except AttributeError:  # pragma: no cover - frozen objects
        pass
    return fp


class CandidateCache:
    """Audio of sampled candidates under ``folder``, keyed by :meth:`key`."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"candidate cache {self.folder}: a file; the cache is a folder")
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def input_key(model, lr_audio: np.ndarray, cutoff_hz: float) -> str:
        return _sha1(model_fingerprint(model), np.ascontiguousarray(lr_audio, np.float32).tobytes(), f"{cutoff_hz:.3f}")

    @staticmethod
    def key(
        input_key: str,
        x_T: torch.Tensor,
        steps: int,
        eta: float,
        solver: str,
        noise_seed: int | None,
        guidance: float = 1.0,
    ) -> str:
        """The key of one candidate: the input, its initial noise, the sampler settings, its step-noise seed (eta > 0)
        and the guidance scale (only when guided, so unguided keys stay those of earlier versions)."""
        return _sha1(
            input_key,
            x_T.detach().cpu().contiguous().numpy().tobytes(),
            f"{steps}/{eta:g}/{solver}" + (f"/g{guidance:g}" if guidance != 1.0 else ""),
            str(noise_seed) if eta > 0 else "-",
        )

    def get(self, key: str) -> np.ndarray | None:
        p = self.folder / key[:2] / f"{key}.npy"
        return np.load(p) if p.is_file() else None

    def put(self, key: str, audio: np.ndarray) -> None:
        p = self.folder / key[:2] / f"{key}.npy"
        p.parent.mkdir(exist_ok=True)
        tmp = p.with_suffix(".tmp.npy")
        np.save(tmp, np.asarray(audio, np.float32))
        tmp.replace(p)  # atomic: a killed run never leaves half a file under the key
