"""Upsample a whole recording: condition, sample in overlapping chunks, join with crossfades.

Long inputs are cut into ``chunk_seconds`` windows overlapping by ``overlap_seconds``
(:func:`tsrlib.audio.chunk`); chunk c of candidate k draws its noise from seed ``(seed, c)`` and
index k, so results stay reproducible and independent of how many candidates run together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsrlib import audio as tsa
from tsrlib import sampler
from tsrlib.models.protocol import SRDiffusionModel


@dataclass
class Upsampled:
    audio: np.ndarray  # [N, T] at sr
    sr: int
    cutoff_hz: float
    nfe: int


def upsample(model: SRDiffusionModel, x: np.ndarray, sr: int, *, cutoff_hz: float | None = None, seed: int = 0,
             indices=(0,), steps: int = 25, eta: float = 0.0, solver: str = "ddim", chunk_seconds: float = 20.0,
             overlap_seconds: float = 1.0, batch_size: int = 16) -> Upsampled:
    """Super-resolve band-limited ``x [T]`` at ``sr`` Hz into candidates ``[len(indices), T']`` at the model rate.

    The cutoff is detected on the whole input once (unless given), so every chunk uses the same band.
    """
    x = tsa.check_audio(x, sr, name="input")
    if sr != model.sr:
        x = tsa.resample(x, sr, model.sr)
    cutoff = tsa.detect_cutoff(x, model.sr) if cutoff_hz is None else tsa.check_cutoff(cutoff_hz, model.sr)
    n_chunk = int(chunk_seconds * model.sr)
    if len(x) <= n_chunk:
        cand = sampler.generate(model, model.condition(x, model.sr, cutoff), seed, indices, steps=steps, eta=eta,
                                solver=solver, batch_size=batch_size)
        return Upsampled(cand.audio, model.sr, cutoff, cand.nfe)
    chunks = tsa.chunk(x, n_chunk, int(overlap_seconds * model.sr))
    outs, nfe = [], 0
    for c, frame in enumerate(chunks.frames):
        if tsa.rms_dbfs(frame) < tsa.SILENCE_DBFS:  # a silent stretch stays silent
            outs.append(np.zeros((len(list(indices)), n_chunk), np.float32))
            continue
        cand = sampler.generate(model, model.condition(frame, model.sr, cutoff), int(np.random.SeedSequence([seed, c])
                                .generate_state(1)[0]), indices, steps=steps, eta=eta, solver=solver, batch_size=batch_size)
        outs.append(cand.audio)
        nfe += cand.nfe
    per_candidate = np.stack(outs, axis=1)  # [N, chunks, n_chunk]
    audio = np.stack([chunks.overlap_add(frames) for frames in per_candidate])
    return Upsampled(audio, model.sr, cutoff, nfe)
