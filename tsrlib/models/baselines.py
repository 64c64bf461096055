"""Non-learned baselines that every diffusion sample must beat.

LSD rewards *any* energy in an empty band: the input plus high-passed white noise at the right level
already cuts LSD sharply. :func:`oracle_noise_fill` picks that level with the reference (an oracle, so
it is an optimistic bound for the trick), and is the bar the embedded model must clear on mean LSD.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, signal

from tsrlib import audio as tsa
from tsrlib import metrics


def noise_fill(lr: np.ndarray, sr: int, cutoff_hz: float, gain_db: float, seed: int = 0) -> np.ndarray:
    """``lr [T]`` plus white noise high-passed at ``cutoff_hz`` (8th-order Butterworth), at ``gain_db`` dBFS RMS."""
    x = tsa.check_audio(lr, sr, name="noise_fill input")
    sos = signal.butter(8, tsa.check_cutoff(cutoff_hz, sr), btype="high", fs=sr, output="sos")
    n = signal.sosfiltfilt(sos, np.random.default_rng(seed).standard_normal(len(x)))
    n *= 10 ** (gain_db / 20) / max(np.sqrt(np.mean(n**2)), 1e-12)
    return (x + n).astype(np.float32)


def oracle_noise_fill(lr: np.ndarray, ref: np.ndarray, sr: int, cutoff_hz: float, seed: int = 0) -> tuple[np.ndarray, float]:
    """The noise fill whose level (dBFS) minimises LSD against ``ref``: ``(audio [T], gain_db)``. Uses the reference."""
    def cost(g: float) -> float:
        return float(metrics.lsd(ref, noise_fill(lr, sr, cutoff_hz, g, seed))[0])

    res = optimize.minimize_scalar(cost, bounds=(-100.0, 0.0), method="bounded", options={"xatol": 0.25})
    return noise_fill(lr, sr, cutoff_hz, float(res.x), seed), float(res.x)
