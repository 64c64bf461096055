"""Speaker similarity (SpkSim) with resemblyzer's GE2E d-vector, whose weights ship in its wheel.

The encoder works on 16 kHz audio (40 mel bands up to 8 kHz): it **cannot see anything above 8 kHz**.
At an 8 kHz input cutoff, every candidate shares its whole 0-8 kHz band with the input, so this
verifier scores them all (almost) alike; it can only guide search for narrower inputs. Chapter 3
measures this.

* ``spksim``: cosine similarity to the **band-limited input's** embedding, the deployable variant,
  since the clean reference is unknown at inference time.
* ``spksim-ref``: cosine similarity to the clean reference's embedding (an oracle, for evaluation).

Measured on espeak-ng voices: the same voice on different sentences scores 0.89-0.91, different
timbres 0.66-0.74.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from tsrlib.verifiers.base import Context, Verifier

SR = 16_000


def _resemblyzer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation from webrtcvad
        import resemblyzer
    return resemblyzer


@functools.lru_cache(maxsize=2)
def voice_encoder(device: str = "cpu"):
    """The packaged GE2E encoder, loaded once per device."""
    return _resemblyzer().VoiceEncoder(device, verbose=False)


def embed(audio: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Unit-norm d-vectors ``[N, 256]`` of 16 kHz audio ``[N, T]`` (each row level-normalised and silence-trimmed)."""
    preprocess_wav = _resemblyzer().preprocess_wav
    enc = voice_encoder(device)
    out = []
    for row in np.atleast_2d(audio):
        wav = preprocess_wav(np.clip(row, -1, 1).astype(np.float32), source_sr=SR)
        if len(wav) < SR // 4:  # trimming left almost nothing: embed the untrimmed clip
            wav = row.astype(np.float32)
        out.append(enc.embed_utterance(wav))
    return np.stack(out)


class SpkSim(Verifier):
    """Cosine similarity between each candidate's speaker embedding and the band-limited input's."""

    name = "spksim"
    axes = ("spksim",)
    primary = "spksim"
    needs = frozenset({"input"})
    native_sr = SR

    def __init__(self, device: str = "cpu"):
        self.device = device

    def _target(self, ctx: Context) -> np.ndarray:
        key = (self.name, "target")
        if key not in ctx.cache:
            ctx.cache[key] = embed(ctx.input_at(SR)[None], self.device)[0]
        return ctx.cache[key]

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        return {"spksim": embed(x, self.device) @ self._target(ctx)}


class SpkSimReference(SpkSim):
    """Cosine similarity to the clean reference's embedding: an oracle, for evaluation only."""

    name = "spksim-ref"
    needs = frozenset({"reference"})
    oracle = True

    def _target(self, ctx: Context) -> np.ndarray:
        key = (self.name, "target")
        if key not in ctx.cache:
            ctx.cache[key] = embed(ctx.reference_at(SR)[None], self.device)[0]
        return ctx.cache[key]
