"""Audio in and out: loading, checks, resampling, loudness, chunking, degradation, cutoff detection.

Conventions used across tsrlib:

* audio is a float32 numpy array of shape ``[T]`` (samples, mono) in [-1, 1];
* sample rates are integers in Hz;
* frequencies (``cutoff_hz``) are in Hz, levels in dB.

The embedded model works at :data:`MODEL_SR` = 24 kHz. The offline voices render at 16-22.05 kHz,
so speech has no content above about 11 kHz; 24 kHz covers every input bandwidth of the paper
(4 kHz and 8 kHz) with room to spare and keeps a CPU fast. Inputs at any rate are resampled.
Chapter 1 of the book ("Band-limited audio") teaches :func:`degrade` and :func:`detect_cutoff`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr
from scipy import signal

from tsrlib.errors import AudioInputError, ClippingWarning, ConfigError

MODEL_SR: int = 24_000
"""Working sample rate of the embedded model, in Hz."""

MIN_CUTOFF_HZ: float = 500.0
"""Lowest input bandwidth tsrlib accepts, in Hz."""

MIN_SECONDS: float = 0.1
"""Shortest input the models, the searches and :func:`detect_cutoff` accept, in seconds (the corpus's shortest clip,
a bell, lasts 0.14 s): their STFTs need a few full windows to detect a cutoff and fill a band. The DSP baselines also
need one window of 1024 samples; the verifiers score shorter audio."""

MAX_SECONDS: float = 600.0
"""Longest input accepted by :func:`load` unless ``max_seconds`` says otherwise (10 minutes)."""

SILENCE_DBFS: float = -80.0
"""RMS level (dBFS) under which audio counts as silent."""

FilterName = Literal["butter", "cheby1", "ellip", "bessel", "random"]
FILTER_FAMILIES: tuple[str, ...] = ("butter", "cheby1", "ellip", "bessel")


# --------------------------------------------------------------------------------------------- checks
def check_audio(
    audio: np.ndarray, sr: int, *, name: str = "audio", allow_silent: bool = False, min_seconds: float = 0.0
) -> np.ndarray:
    """Validate mono audio and return it as contiguous float32 ``[T]``.

    Raises :class:`AudioInputError` with a one-line reason for: a non-positive sample rate, more than one
    dimension, zero samples, fewer than ``min_seconds`` (s; the models and baselines ask for :data:`MIN_SECONDS`),
    NaN or infinite samples, and (unless ``allow_silent``) an RMS level below :data:`SILENCE_DBFS`. Clipped audio
    (over 1% of samples at full scale) only warns, with a :class:`~tsrlib.errors.ClippingWarning`: it can still be
    upsampled, but the clipping distortion will be upsampled too.
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioInputError(f"{name}: sample rate must be a positive integer in Hz, got {sr!r}")
    x = np.asarray(audio)
    if x.ndim != 1:
        raise AudioInputError(f"{name}: expected mono audio of shape [T], got shape {tuple(x.shape)}; mix down first")
    if x.size == 0:
        raise AudioInputError(f"{name}: the audio is empty (0 samples)")
    if x.shape[0] < min_seconds * sr:
        raise AudioInputError(
            f"{name}: {x.shape[0]} samples at {sr} Hz ({1000 * x.shape[0] / sr:.1f} ms) is too short; "
            f"at least {min_seconds:g} s is needed"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise AudioInputError(f"{name}: expected floating-point samples, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioInputError(f"{name}: {bad} of {x.size} samples are NaN or infinite")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not allow_silent and rms_dbfs(x) < SILENCE_DBFS:
        raise AudioInputError(f"{name}: the audio is silent (RMS below {SILENCE_DBFS:.0f} dBFS)")
    clipped = float(np.mean(np.abs(x) >= 0.999))
    if clipped > 0.01:
        warnings.warn(
            f"{name}: {100 * clipped:.1f}% of samples are at full scale; the input looks clipped",
            ClippingWarning,
            stacklevel=2,
        )
    return x


def check_cutoff(cutoff_hz: float, sr: int) -> float:
    """Validate a band-limit frequency: ``MIN_CUTOFF_HZ <= cutoff_hz < sr / 2``. Returns it as float (Hz)."""
    try:
        c = float(cutoff_hz)
    except (TypeError, ValueError):
        raise AudioInputError(f"cutoff must be a number in Hz, got {cutoff_hz!r}") from None
    if not np.isfinite(c) or c < MIN_CUTOFF_HZ:
        shown = f"{c:.0f}" if np.isfinite(c) else f"{cutoff_hz}"
        raise AudioInputError(f"cutoff {shown} Hz is below the supported minimum of {MIN_CUTOFF_HZ:.0f} Hz")
    if c >= sr / 2:
        raise AudioInputError(f"cutoff {c:.0f} Hz is at or above the Nyquist frequency ({sr / 2:.0f} Hz at {sr} Hz)")
    return c


def band_cutoff(audio: np.ndarray, sr: int, cutoff_hz: float | None = None) -> float:
    """The cutoff (Hz) to super-resolve ``audio [T]`` at ``sr`` Hz from: ``cutoff_hz`` checked by
    :func:`check_cutoff`, or, when it is ``None``, :func:`detect_cutoff`'s estimate checked the same way, with an error
    that says the cutoff was detected and how to give it instead."""
    if cutoff_hz is not None:
        return check_cutoff(cutoff_hz, sr)
    detected = detect_cutoff(audio, sr)
    try:
        return check_cutoff(detected, sr)
    except AudioInputError as e:
        raise AudioInputError(f"detected {e}; if the input's band is wider, give the cutoff (--cutoff HZ)") from None


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level of ``audio`` in dBFS (a full-scale sine is -3 dBFS). Silence gives -inf."""
    r = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * np.log10(r) if r > 0 else float("-inf")


# ------------------------------------------------------------------------------------------- file I/O
def load(
    path: str | Path,
    sr: int | None = MODEL_SR,
    *,
    max_seconds: float | None = MAX_SECONDS,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Read an audio file (any format soundfile reads: wav, flac, ogg, ...) as mono float32.

    Multi-channel files are mixed down to mono, with a warning. With ``sr`` set, the audio is
    resampled to it (soxr, very high quality); ``sr=None`` keeps the file's rate.

    Returns ``(audio [T], sample_rate_hz)``. Raises :class:`AudioInputError` for a missing or
    unreadable file, for audio longer than ``max_seconds`` and for everything :func:`check_audio` rejects.
    """
    p = Path(path)
    if p.is_dir():
        raise AudioInputError(f"{p}: a folder, not an audio file")
    if not p.is_file():
        raise AudioInputError(f"{p}: no such file")
    try:
        info = sf.info(str(p))
    except Exception as e:  # soundfile raises several types for corrupt or unsupported files
        raise AudioInputError(f"{p}: cannot read audio ({str(e).splitlines()[0]})") from None
    if max_seconds is not None and info.duration > max_seconds:
        raise AudioInputError(
            f"{p}: {info.duration:.0f} s is longer than the {max_seconds:.0f} s limit; split the file or raise max_seconds"
        )
    try:
        x, file_sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioInputError(f"{p}: cannot decode audio ({str(e).splitlines()[0]})") from None
    if x.shape[1] > 1:
        warnings.warn(f"{p.name}: {x.shape[1]} channels mixed down to mono", stacklevel=2)
    x = x.mean(axis=1)
    x = check_audio(x, int(file_sr), name=p.name, allow_silent=allow_silent)
    if sr is not None and sr != file_sr:
        x = resample(x, int(file_sr), sr)
        file_sr = sr
    return x, int(file_sr)


def check_writable(path: str | Path) -> Path:
    """``path`` as a Path if :func:`save` can write audio there: not a folder, and an extension naming a format
    soundfile writes (wav, flac, ogg, mp3, aiff, ...). Raises :class:`AudioInputError` otherwise."""
    p = Path(path)
    if p.is_dir():
        raise AudioInputError(f"{p}: a folder; give a file name such as {p / 'out.wav'}")
    if p.suffix.lstrip(".").upper() not in sf.available_formats():
        raise AudioInputError(
            f"{p}: cannot write audio as {p.suffix or 'a file without an extension'}; use .wav, .flac, .ogg or .mp3"
        )
    return p


def save(path: str | Path, audio: np.ndarray, sr: int, *, subtype: str | None = None) -> Path:
    """Write mono ``audio [T]`` at ``sr`` Hz; the format follows the extension (wav, flac, ogg).

    Samples beyond [-1, 1] are clipped with a warning. WAV and FLAC are written as 16-bit PCM
    unless ``subtype`` says otherwise. Returns the path written.
    """
    p = Path(path)
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim != 1:
        raise AudioInputError(f"{p}: expected mono audio [T], got shape {tuple(x.shape)}")
    check_writable(p)  # before the clipping warning: a file that cannot be written says so, and only so
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 1.0:
        warnings.warn(f"{p.name}: peak {peak:.2f} exceeds full scale; clipping on write", stacklevel=2)
        x = np.clip(x, -1.0, 1.0)
    if subtype is None and p.suffix.lower() in (".wav", ".flac"):
        subtype = "PCM_16"
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), x, sr, subtype=subtype)
    return p


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample ``audio [T]`` from ``sr_in`` to ``sr_out`` Hz with soxr (very high quality). Length scales by the ratio."""
    if min(sr_in, sr_out) <= 0:
        raise AudioInputError(f"sample rates must be positive, got {sr_in} -> {sr_out} Hz")
    if sr_in == sr_out:
        return np.asarray(audio, dtype=np.float32)
    return soxr.resample(np.asarray(audio, dtype=np.float32), sr_in, sr_out, quality="VHQ").astype(np.float32)


# ------------------------------------------------------------------------------------------- loudness
@dataclass(frozen=True)
class Loudness:
    """A reversible level change: ``normalised = audio * 10**(gain_db / 20)``.

    Use :func:`normalize_loudness` on the way in and :meth:`undo` on the way out, so an upsampled
    file comes back at the level of the original.
    """

    gain_db: float

    def apply(self, audio: np.ndarray) -> np.ndarray:
        return (np.asarray(audio, dtype=np.float32) * np.float32(10 ** (self.gain_db / 20))).astype(np.float32)

    def undo(self, audio: np.ndarray) -> np.ndarray:
        return (np.asarray(audio, dtype=np.float32) * np.float32(10 ** (-self.gain_db / 20))).astype(np.float32)


def normalize_loudness(
    audio: np.ndarray, target_dbfs: float = -23.0, peak_limit: float = 0.99
) -> tuple[np.ndarray, Loudness]:
    """Scale ``audio [T]`` to an RMS level of ``target_dbfs`` (dBFS), never past ``peak_limit``.

    Returns ``(scaled audio, Loudness)``; ``Loudness.undo`` restores the original level exactly.
    Silent audio raises :class:`AudioInputError`, since no gain can bring it to the target.
    """
    level = rms_dbfs(audio)
    if not np.isfinite(level):
        raise AudioInputError("cannot normalise silent audio")
    gain_db = target_dbfs - level
    peak = float(np.max(np.abs(audio)))
    if peak * 10 ** (gain_db / 20) > peak_limit:
        gain_db = 20 * np.log10(peak_limit / peak)
    loud = Loudness(float(gain_db))
    return loud.apply(audio), loud


# ------------------------------------------------------------------------------------------- chunking
@dataclass(frozen=True)
class Chunks:
    """Fixed-length overlapping windows over a signal, and the way back.

    ``frames`` has shape ``[K, chunk]``; frame k starts at sample ``k * hop``; the last frame is
    zero-padded. :meth:`overlap_add` puts (processed) frames back together with raised-cosine
    crossfades over the ``overlap`` samples, so unprocessed frames give back the input exactly.
    """

    frames: np.ndarray
    hop: int
    overlap: int
    length: int

    def overlap_add(self, frames: np.ndarray | None = None) -> np.ndarray:
        """Recombine ``frames [K, chunk]`` (default: the stored ones) into a signal of ``length`` samples."""
        f = self.frames if frames is None else np.asarray(frames, dtype=np.float32)
        k, n = f.shape
        w = np.ones(n, dtype=np.float64)
        if self.overlap > 0 and k > 1:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(self.overlap) + 0.5) / self.overlap)
            w[: self.overlap] = ramp
            w[n - self.overlap :] = ramp[::-1]
        total = (k - 1) * self.hop + n
        out = np.zeros(total, dtype=np.float64)
        norm = np.zeros(total, dtype=np.float64)
        for i in range(k):
            s = i * self.hop
            out[s : s + n] += f[i] * w
            norm[s : s + n] += w
        return (out / np.maximum(norm, 1e-8))[: self.length].astype(np.float32)


def chunk(audio: np.ndarray, chunk: int, overlap: int) -> Chunks:
    """Cut ``audio [T]`` into frames of ``chunk`` samples that overlap by ``overlap`` samples.

    A signal no longer than ``chunk`` gives one frame. Raises ``ValueError`` unless ``0 <= overlap < chunk``.
    """
    if not 0 <= overlap < chunk:
        raise ValueError(f"need 0 <= overlap < chunk, got overlap={overlap}, chunk={chunk}")
    x = np.asarray(audio, dtype=np.float32)
    hop = chunk - overlap
    k = max(1, int(np.ceil(max(len(x) - overlap, 1) / hop)))
    padded = np.zeros((k - 1) * hop + chunk, dtype=np.float32)
    padded[: len(x)] = x
    frames = np.stack([padded[i * hop : i * hop + chunk] for i in range(k)])
    return Chunks(frames=frames, hop=hop, overlap=overlap, length=len(x))


# ------------------------------------------------------------------------------------------ degrade
def lowpass_sos(cutoff_hz: float, sr: int, family: str = "cheby1", order: int = 8) -> np.ndarray:
    """Second-order sections of a digital low-pass filter with its passband edge at ``cutoff_hz``.

    Families: ``butter`` (maximally flat), ``cheby1`` (0.1 dB passband ripple, steep), ``ellip``
    (0.1 dB ripple, 80 dB stop-band, steepest), ``bessel`` (linear phase, gentle roll-off).
    """
    wn = check_cutoff(cutoff_hz, sr) / (sr / 2)
    if family == "butter":
        return signal.butter(order, wn, btype="low", output="sos")
    if family == "cheby1":
        return signal.cheby1(order, 0.1, wn, btype="low", output="sos")
    if family == "ellip":
        return signal.ellip(order, 0.1, 80, wn, btype="low", output="sos")
    if family == "bessel":
        return signal.bessel(order, wn, btype="low", output="sos", norm="mag")
    raise ConfigError(f"unknown filter family {family!r}; choose one of {', '.join(FILTER_FAMILIES)} or 'random'")


def degrade(
    audio: np.ndarray,
    sr: int,
    cutoff_hz: float,
    filter: FilterName = "cheby1",
    *,
    order: int | None = None,
    seed: int | None = None,
) -> np.ndarray:
    """Simulate band-limited input: zero-phase low-pass of ``audio [T]`` at ``cutoff_hz`` Hz.

    As in AudioSR-style training, the filter family can vary: ``butter``, ``cheby1``, ``ellip``,
    ``bessel``, or ``random``, which draws the family and an order in [2, 10] from ``seed``
    (``numpy.random.default_rng(seed)``), so a model cannot learn one filter's fingerprint.
    Filtering runs forwards and backwards (``sosfiltfilt``): no phase shift, doubled attenuation.
    Output has the input's length and rate. The paper's headline bandwidths are 4000 and 8000 Hz.

    Returns float32 ``[T]``.
    """
    x = check_audio(audio, sr, name="degrade input")
    check_cutoff(cutoff_hz, sr)
    if filter == "random":
        rng = np.random.default_rng(seed)
        filter = FILTER_FAMILIES[int(rng.integers(len(FILTER_FAMILIES)))]  # type: ignore[assignment]
        order = int(rng.integers(2, 11)) if order is None else order
    order = 8 if order is None else int(order)
    if order < 1:
        raise ConfigError(f"filter order must be at least 1, got {order}")
    sos = lowpass_sos(cutoff_hz, sr, filter, order)
    y = signal.sosfiltfilt(sos, x.astype(np.float64))
    return y.astype(np.float32)


# ---------------------------------------------------------------------------------- cutoff detection
def mean_power_db(audio: np.ndarray, sr: int, n_fft: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Time-averaged power spectrum: ``(freqs_hz [F], power_db [F])`` with Welch's method (Hann, 50% overlap)."""
    n = min(n_fft, len(audio))
    f, p = signal.welch(np.asarray(audio, dtype=np.float64), fs=sr, nperseg=n, noverlap=n // 2, window="hann")
    return f, 10 * np.log10(np.maximum(p, 1e-20))


def detect_cutoff(
    audio: np.ndarray, sr: int, *, dynamic_range_db: float = 60.0, quantile: float = 0.995, drop_db: float = 10.0
) -> float:
    """Estimate the bandwidth (Hz) of ``audio [T]`` from its cumulative spectral energy.

    Plain cumulative energy fails on speech, whose energy sits far below the band edge. So the energy
    is counted on a log scale: each bin of the (100 Hz-smoothed) mean power spectrum contributes its
    level above a floor ``dynamic_range_db`` under the loudest bin, and a first estimate is where the
    cumulative sum reaches ``quantile`` of the total. That point lies in the filter's transition band,
    so the estimate then steps back to the last frequency whose level is within ``drop_db`` of the
    median level just below it (60-85 % of the first estimate): the top of the band's cliff.
    Accuracy is a few percent for sharp filters (Chebyshev, elliptic, Butterworth); gentle ones
    (Bessel) read higher, since their output really has energy past the nominal cutoff.
    """
    x = check_audio(audio, sr, name="detect_cutoff input", min_seconds=MIN_SECONDS)
    f, db = mean_power_db(x, sr)
    width = max(1, int(round(100.0 / (f[1] - f[0]))))
    db = np.convolve(db, np.ones(width) / width, mode="same")
    above = np.maximum(db - (db.max() - dynamic_range_db), 0.0)
    cum = np.cumsum(above)
    idx = min(int(np.searchsorted(cum, quantile * cum[-1])), len(f) - 1)
    below = (f >= 0.6 * f[idx]) & (f < 0.85 * f[idx])
    if below.any():
        ref = float(np.median(db[below]))
        kept = np.flatnonzero(db[: idx + 1] >= ref - drop_db)
        if kept.size:
            idx = int(kept[-1])
    return float(f[idx])
