"""Spectral continuity across the cutoff: a no-reference verifier for any domain (music, effects, speech).

No packaged CLAP or Aesthetics model exists, so music and sound effects need a verifier built from
signal processing. Natural sounds rarely have a cliff or a shelf at an arbitrary frequency: the
spectrum generated above the cutoff should continue the input's spectrum below it, frame by frame.

On a log-power spectrogram (dB; Hann, ``n_fft`` 1024, hop 256) with cutoff ``fc`` and band width
``w = min(fc / 4, (sr/2 - fc) / 2)``, take per frame the mean level of three bands:
``A = [fc - 2w, fc - w)``, ``B = [fc - w, fc)`` (the given band, just under the edge) and
``C = [fc, fc + w)`` (the generated band, just above). Continuing B's local slope predicts
``C* = B + (B - A)``. Two axes:

* ``edge``: ``-mean_t |C - C*|`` in dB over active frames (B within 50 dB of the loudest frame),
  the primary axis. 0 is a perfectly smooth continuation; a missing or overshooting band scores low.
* ``envelope``: the Pearson correlation across frames of C and B: the generated band should rise
  and fall with the band beneath it (onsets, fricatives).

It sees only the candidate and the cutoff, so it cannot tell a right band from any smooth one:
Chapter 3 measures how well it tracks the oracle, per domain.
"""

from __future__ import annotations

import numpy as np
import torch

from tsrlib.verifiers.base import Context, Verifier


def band_levels(x: np.ndarray, sr: int, cutoff_hz: float, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Per-frame mean dB levels ``[N, 3, frames]`` of bands A, B, C (see the module docstring) of ``x [N, T]``."""
    t = torch.as_tensor(x, dtype=torch.float32)
    spec = torch.stft(t, n_fft, hop, window=torch.hann_window(n_fft), return_complex=True).abs().square()
    db = 10 * torch.log10(spec.clamp_min(1e-10)).numpy()
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    w = min(cutoff_hz / 4, (sr / 2 - cutoff_hz) / 2)
    edges = [cutoff_hz - 2 * w, cutoff_hz - w, cutoff_hz, cutoff_hz + w]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            sel = np.abs(freqs - (lo + hi) / 2) == np.abs(freqs - (lo + hi) / 2).min()
        out.append(db[:, sel, :].mean(axis=1))
    return np.stack(out, axis=1)


class SpectralContinuity(Verifier):
    """``edge`` (dB, negated error of the continued slope) and ``envelope`` (correlation) per candidate."""

    name = "continuity"
    axes = ("edge", "envelope")
    primary = "edge"
    needs = frozenset({"input"})

    def __init__(self, device: str = "cpu", active_db: float = 50.0):
        self.device, self.active_db = device, active_db

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        fc = ctx.cutoff()
        lv = band_levels(x, sr, fc)
        a, b, c = lv[:, 0], lv[:, 1], lv[:, 2]
        ref = band_levels(ctx.input_at(sr)[None], sr, fc)[0, 1]  # band B of the input decides the active frames
        n = min(ref.shape[-1], b.shape[-1])
        active = ref[:n] >= ref[:n].max() - self.active_db
        a, b, c = a[:, :n][:, active], b[:, :n][:, active], c[:, :n][:, active]
        edge = -np.abs(c - (2 * b - a)).mean(axis=1)
        bc, cc = b - b.mean(axis=1, keepdims=True), c - c.mean(axis=1, keepdims=True)
        denom = np.sqrt((bc**2).sum(axis=1) * (cc**2).sum(axis=1))
        envelope = np.where(denom > 0, (bc * cc).sum(axis=1) / np.maximum(denom, 1e-12), 0.0)
        return {"edge": edge, "envelope": envelope}
