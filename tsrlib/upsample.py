"""Upsample a whole recording: condition, sample in overlapping chunks, join with crossfades.

Long inputs are cut into ``chunk_seconds`` windows overlapping by ``overlap_seconds``
(:func:`tsrlib.audio.chunk`); chunk c of candidate k draws its noise from seed ``(seed, c)`` and
index k, so results stay reproducible and independent of how many candidates run together.

:func:`to_output_rate` brings a result to the rate the user asked for without losing what the input had:
above the model's band, an output at a higher rate keeps the input's own content.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft

from tsrlib import audio as tsa
from tsrlib import sampler
from tsrlib.models.protocol import SRDiffusionModel


@dataclass
class Upsampled:
    audio: np.ndarray  # [N, T] at sr
    sr: int
    cutoff_hz: float
    nfe: int


def upsample(
    model: SRDiffusionModel,
    x: np.ndarray,
    sr: int,
    *,
    cutoff_hz: float | None = None,
    seed: int = 0,
    indices=(0,),
    steps: int = 25,
    eta: float = 0.0,
    solver: str = "ddim",
    chunk_seconds: float | None = None,
    overlap_seconds: float = 1.0,
    batch_size: int = 16,
    guidance_scale: float | None = None,
) -> Upsampled:
    """Super-resolve band-limited ``x [T]`` at ``sr`` Hz into candidates ``[len(indices), T']`` at the model rate.

    The cutoff is detected on the whole input once (unless given), so every chunk uses the same band.
    ``chunk_seconds`` defaults to the model's ``max_chunk_seconds`` (20 s when it has none), ``guidance_scale`` to
    its ``guidance_scale`` (1, no guidance, when it has none).
    """
    if chunk_seconds is None:
        chunk_seconds = getattr(model, "max_chunk_seconds", 20.0)
    if guidance_scale is None:
        guidance_scale = getattr(model, "guidance_scale", 1.0)
    x = tsa.check_audio(x, sr, name="input", min_seconds=tsa.MIN_SECONDS)
    if sr != model.sr:
        x = tsa.resample(x, sr, model.sr)
    cutoff = tsa.band_cutoff(x, model.sr, cutoff_hz)
    n_chunk = int(chunk_seconds * model.sr)
    if len(x) <= n_chunk:
        cand = sampler.generate(
            model,
            model.condition(x, model.sr, cutoff),
            seed,
            indices,
            steps=steps,
            eta=eta,
            solver=solver,
            batch_size=batch_size,
            guidance_scale=guidance_scale,
        )
        return Upsampled(cand.audio, model.sr, cutoff, cand.nfe)
    chunks = tsa.chunk(x, n_chunk, int(overlap_seconds * model.sr))
    outs, nfe = [], 0
    for c, frame in enumerate(chunks.frames):
        if tsa.rms_dbfs(frame) < tsa.SILENCE_DBFS:  # a silent stretch stays silent
            outs.append(np.zeros((len(list(indices)), n_chunk), np.float32))
            continue
        cand = sampler.generate(
            model,
            model.condition(frame, model.sr, cutoff),
            int(np.random.SeedSequence([seed, c]).generate_state(1)[0]),
            indices,
            steps=steps,
            eta=eta,
            solver=solver,
            batch_size=batch_size,
            guidance_scale=guidance_scale,
        )
        outs.append(cand.audio)
        nfe += cand.nfe
    per_candidate = np.stack(outs, axis=1)  # [N, chunks, n_chunk]
    audio = np.stack([chunks.overlap_add(frames) for frames in per_candidate])
    return Upsampled(audio, model.sr, cutoff, nfe)


def crossover(low: np.ndarray, high: np.ndarray, sr: int, split_hz: float, width_hz: float = 1000.0) -> np.ndarray:
    """``low [T]`` below ``split_hz`` and ``high [T]`` above it (same length and rate ``sr``), joined by complementary
    zero-phase raised-cosine weights over ``split_hz +- width_hz / 2``: where the two agree, the result equals both."""
    if len(low) != len(high):
        raise ValueError(f"crossover needs equal lengths, got {len(low)} and {len(high)}")
    f = np.fft.rfftfreq(len(low), 1 / sr)
    u = np.clip((f - (split_hz - width_hz / 2)) / width_hz, 0.0, 1.0)
    w_high = (0.5 - 0.5 * np.cos(np.pi * u)).astype(np.float32)
    spec = scipy.fft.rfft(low.astype(np.float32)) * (1 - w_high) + scipy.fft.rfft(high.astype(np.float32)) * w_high
    return scipy.fft.irfft(spec, n=len(low)).astype(np.float32)


def to_output_rate(
    y: np.ndarray, model_sr: int, x: np.ndarray, x_sr: int, out_sr: int, keep_fraction: float = 0.95
) -> tuple[np.ndarray, str | None]:
    """Bring the model's output ``y [T]`` (at ``model_sr``) to ``out_sr`` Hz, keeping the input ``x [T']`` (at ``x_sr``)
    wherever the model cannot speak: above ``keep_fraction`` of the model's Nyquist frequency, an output at a higher
    rate takes the input's own content, if the input has any there (its detected bandwidth reaches that far).

    Returns ``(audio [T * out_sr / model_sr], notice or None)``; the notice says when the input already had content
    beyond the model's band.
    """
    out = tsa.resample(y, model_sr, out_sr)
    if out_sr <= model_sr:
        return out, None
    split = keep_fraction * model_sr / 2
    band = tsa.detect_cutoff(x, x_sr)
    if band <= split:
        return out, None
    xin = tsa.resample(x, x_sr, out_sr)
    xin = np.pad(xin, (0, max(0, len(out) - len(xin))))[: len(out)]
    width = min(1000.0, 2 * (model_sr / 2 - split))
    note = (
        f"the input already has content up to {band:.0f} Hz, beyond the model's {model_sr / 2:.0f} Hz band; "
        f"above {split - width / 2:.0f} Hz the output keeps the input's own content"
    )
    return crossover(out, xin, out_sr, split, width), note
