"""Non-learned baselines that every diffusion sample must beat.

LSD rewards *any* energy in an empty band at the right level, and real recordings keep a great deal of
structure across the cutoff. So two textbook DSP tricks are strong bars on real audio:

* :func:`band_replication`: blind bandwidth extension by copying. Each STFT bin above the cutoff takes the
  magnitude of a bin in the octave below it, walking upward cyclically, scaled by ``(f_source / f_target)``
  (a -6 dB per octave tilt fixed in advance), with a random phase. It needs no reference and has no tuned
  parameter.
* :func:`sbr`: an SBR-style variant (spectral band replication, as in HE-AAC): the copied fine structure is
  whitened and reshaped by the spectral envelope extrapolated, frame by frame, from a straight-line fit of
  the log envelope over the octave below the cutoff. Its band carries the same 6 dB re-synthesis offset.

Both add only a high-passed band to the input, so the given band is untouched. :func:`noise_fill` is the
crudest bar: high-passed white noise. The ``oracle_*`` versions pick the added band's gain with the
reference (LSD-optimal); they are for analysis, an optimistic bound of what a level choice can buy.
Chapter 2 compares them with the diffusion model; ``tsr upsample --model band-replication|sbr`` runs them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize, signal

from tsrlib import audio as tsa
from tsrlib import metrics

N_FFT: int = 1024
HOP: int = 256  # 75 % overlap


def _highpass(x: np.ndarray, sr: int, cutoff_hz: float) -> np.ndarray:
    sos = signal.butter(8, cutoff_hz, btype="high", fs=sr, output="sos")
    return signal.sosfiltfilt(sos, x)


def _stft(x: np.ndarray) -> np.ndarray:
    return signal.stft(x, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann", boundary="even", padded=True)[2]


def _istft(spec: np.ndarray, length: int) -> np.ndarray:
    y = signal.istft(spec, nperseg=N_FFT, noverlap=N_FFT - HOP, window="hann", boundary=True)[1]
    return np.pad(y, (0, max(0, length - len(y))))[:length]


def source_bins(cutoff_bin: int, n_bins: int) -> np.ndarray:
    """For each bin ``k`` in ``[cutoff_bin, n_bins)``, the bin it copies: the octave below the cutoff,
    ``[cutoff_bin // 2, cutoff_bin)``, walked upward cyclically. Shape ``[n_bins - cutoff_bin]``."""
    lo = max(1, cutoff_bin // 2)
    k = np.arange(cutoff_bin, n_bins)
    return lo + (k - cutoff_bin) % max(1, cutoff_bin - lo)


def _added_band(
    lr: np.ndarray, sr: int, cutoff_hz: float, shape: Callable[[np.ndarray, np.ndarray, int], np.ndarray], seed: int
) -> np.ndarray:
    """The band above ``cutoff_hz`` made by ``shape(spec, mags, kc) -> magnitudes above kc``, with random phase,
    high-passed at the cutoff. ``[T]`` float64."""
    x = tsa.check_audio(lr, sr, name="baseline input", min_seconds=max(tsa.MIN_SECONDS, N_FFT / sr))
    x = x.astype(np.float64)
    tsa.check_cutoff(cutoff_hz, sr)
    spec = _stft(x)
    kc = int(np.ceil(cutoff_hz * N_FFT / sr))
    mag_hi = shape(spec, np.abs(spec), kc)
    phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, mag_hi.shape)
    out = np.zeros_like(spec)
    out[kc:] = mag_hi * np.exp(1j * phase)
    return _highpass(_istft(out, len(x)), sr, cutoff_hz)


def band_replication(
    lr: np.ndarray, sr: int, cutoff_hz: float, *, tilt_db_per_octave: float = -6.0, seed: int = 0
) -> np.ndarray:
    """Blind band replication of band-limited ``lr [T]`` (``sr`` Hz) above ``cutoff_hz``: float32 ``[T]``.

    Bin ``k`` above the cutoff copies the magnitude of :func:`source_bins`' bin ``s`` times
    ``(f_k / f_s) ** (tilt_db_per_octave / 6.02)`` (the default, -6 dB per octave, is ``f_s / f_k``), with a
    random phase from ``seed``. No reference, nothing tuned.
    """

    def shape(spec: np.ndarray, mags: np.ndarray, kc: int) -> np.ndarray:
        src = source_bins(kc, mags.shape[0])
        ratio = np.arange(kc, mags.shape[0]) / src
        return mags[src] * (ratio ** (tilt_db_per_octave / (20 * np.log10(2))))[:, None]

    return (np.asarray(lr, np.float64) + _added_band(lr, sr, cutoff_hz, shape, seed)).astype(np.float32)


def envelope_slope(mags: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame straight-line fit of the log envelope over bins ``[lo, hi)`` of ``mags [F, frames]``:
    ``(level_db [frames] at bin hi, slope [frames] in dB per octave)``, least squares in ``log2(bin)``."""
    k = np.arange(lo, hi, dtype=np.float64)
    u = np.log2(k / hi)  # 0 at the cutoff, -1 an octave below
    db = 20 * np.log10(np.maximum(mags[lo:hi], 1e-10))
    um = u.mean()
    slope = ((u - um)[:, None] * (db - db.mean(0))).sum(0) / max(((u - um) ** 2).sum(), 1e-12)
    level = db.mean(0) - slope * um
    return level, slope


def sbr(
    lr: np.ndarray, sr: int, cutoff_hz: float, *, slope_range: tuple[float, float] = (-24.0, 0.0), seed: int = 0
) -> np.ndarray:
    """SBR-style extension of ``lr [T]`` above ``cutoff_hz``: copied fine structure on an extrapolated envelope.

    For each frame, :func:`envelope_slope` fits the log-magnitude envelope of the octave below the cutoff
    (smoothed over 3 frames); the band above follows that line's extrapolation, with the slope clipped to
    ``slope_range`` dB per octave. The fine structure is the source bins' magnitudes divided by their own
    fitted line (whitened). Returns float32 ``[T]``.
    """

    def shape(spec: np.ndarray, mags: np.ndarray, kc: int) -> np.ndarray:
        smooth = np.sqrt(signal.convolve2d(mags**2, np.ones((1, 3)) / 3, mode="same", boundary="symm"))
        lo = max(1, kc // 2)
        level, slope = envelope_slope(smooth, lo, kc)
        slope = np.clip(slope, *slope_range)
        src = source_bins(kc, mags.shape[0])
        fit_src = level[None] + slope[None] * np.log2(src / kc)[:, None]
        fine = mags[src] / 10 ** (fit_src / 20)
        target = level[None] + slope[None] * np.log2(np.arange(kc, mags.shape[0]) / kc)[:, None]
        return fine * 10 ** (target / 20)

    return (np.asarray(lr, np.float64) + _added_band(lr, sr, cutoff_hz, shape, seed)).astype(np.float32)


def noise_fill(lr: np.ndarray, sr: int, cutoff_hz: float, gain_db: float, seed: int = 0) -> np.ndarray:
    """``lr [T]`` plus white noise high-passed at ``cutoff_hz`` (8th-order Butterworth), at ``gain_db`` dBFS RMS."""
    x = tsa.check_audio(lr, sr, name="noise_fill input", min_seconds=tsa.MIN_SECONDS)
    n = _highpass(np.random.default_rng(seed).standard_normal(len(x)), sr, tsa.check_cutoff(cutoff_hz, sr))
    n *= 10 ** (gain_db / 20) / max(np.sqrt(np.mean(n**2)), 1e-12)
    return (x + n).astype(np.float32)


def best_gain_db(cost: Callable[[float], float], bounds: tuple[float, float]) -> float:
    """The gain (dB) in ``bounds`` minimising ``cost`` (bounded scalar search to 0.25 dB)."""
    return float(optimize.minimize_scalar(cost, bounds=bounds, method="bounded", options={"xatol": 0.25}).x)


def oracle_noise_fill(
    lr: np.ndarray, ref: np.ndarray, sr: int, cutoff_hz: float, seed: int = 0
) -> tuple[np.ndarray, float]:
    """The noise fill whose level (dBFS) minimises LSD against ``ref``: ``(audio [T], gain_db)``. Uses the reference."""
    g = best_gain_db(lambda g: float(metrics.lsd(ref, noise_fill(lr, sr, cutoff_hz, g, seed))[0]), (-100.0, 0.0))
    return noise_fill(lr, sr, cutoff_hz, g, seed), g


def oracle_gain(
    out: np.ndarray, lr: np.ndarray, ref: np.ndarray, bounds: tuple[float, float] = (-30.0, 30.0)
) -> tuple[np.ndarray, float]:
    """Rescale the band a method added (``out - lr``, both ``[T]``) by the gain (dB) that minimises LSD against
    ``ref [T]``: ``(audio [T], gain_db)``. Uses the reference: an analysis tool, not a method."""
    band = np.asarray(out, np.float64) - lr
    g = best_gain_db(lambda g: float(metrics.lsd(ref, lr + band * 10 ** (g / 20))[0]), bounds)
    return (lr + band * 10 ** (g / 20)).astype(np.float32), g


METHODS: dict[str, Callable[..., np.ndarray]] = {"band-replication": band_replication, "sbr": sbr}
"""The blind DSP baselines by name, each ``f(lr [T], sr, cutoff_hz, seed=0) -> [T]``: ``tsr upsample --model NAME``."""
