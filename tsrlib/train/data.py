"""Training batches: random segments of corpus clips, band-limited with random cutoffs and filters.

Each example is a random crop of a training clip, low-passed at a cutoff drawn from a mix of the
paper's settings (4 and 8 kHz, jittered by 10 %) and a uniform range (2-11 kHz), with a random filter
family and order (:func:`tsrlib.audio.degrade` with ``filter="random"``), then brought to the model's
input level. So the model sees the inputs it will get, and cannot key on one filter's shape.

The removed band's envelope is also varied: the target is the input plus the removed band reshaped by
:func:`reshape_band`, a gain drawn uniformly within +-``hf_gain_db`` dB plus a spectral tilt drawn
uniformly within +-``hf_tilt_db`` dB per octave above the cutoff. Real recording chains (microphones,
rooms, codecs) differ in how much top octave they keep for the same low band; the synthetic voices do not,
and without this the model would learn an almost deterministic high band that leaves inference-time
search nothing to find. With ``band_code`` the gain and tilt are drawn through two standard normals that
the batch returns (``Batch.code``), and the trainer writes them into the noise (:func:`tsrlib.models.tiny.write_band_code`),
so the model learns to take the band's gain and tilt from its initial noise. ``tools/headroom_study.py``
measures what each option buys.

With ``code_source="measured"`` nothing is reshaped: the code is what the recording really does, the gain and
tilt of its removed band relative to blind band replication's estimate (:func:`band_offset`), mapped to standard
normals through their quantiles on the training set (:meth:`SegmentSampler.calibrate`) and partly blurred by noise
(``code_rho``). The model then learns the real spread of band levels, a prior fitted to recordings instead of a
uniform range.

Real recordings are often narrower than their sample rate: each clip's bandwidth (``params["bandwidth_hz"]``, which
:mod:`tsrlib.data.real` measures; the Nyquist frequency for clips without it) caps the cutoffs drawn for it, and
``Batch.bandwidth`` lets the loss ignore bins above it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from tsrlib import audio as tsa
from tsrlib.data import manifest as mf
from tsrlib.data.real import bandwidth_of
from tsrlib.errors import ConfigError, DataError
from tsrlib.models.tiny import LEVEL_DBFS, TRAINED_CUTOFFS_HZ


def reshape_band(band: np.ndarray, sr: int, cutoff_hz: float, gain_db: float, tilt_db: float) -> np.ndarray:
    """Scale the removed band ``band [T]`` by ``gain_db + tilt_db * log2(f / cutoff_hz)`` dB at each frequency.

    Below the cutoff only ``gain_db`` applies (the filter's transition band keeps its shape); ``tilt_db``
    is in dB per octave. Returns float32 ``[T]``.
    """
    spec = np.fft.rfft(band.astype(np.float64))
    f = np.fft.rfftfreq(len(band), 1.0 / sr)
    g_db = gain_db + tilt_db * np.log2(np.maximum(f, cutoff_hz) / cutoff_hz)
    return np.fft.irfft(spec * 10 ** (g_db / 20), n=len(band)).astype(np.float32)


def band_offset(band: np.ndarray, estimate: np.ndarray, sr: int, cutoff_hz: float, bandwidth_hz: float) -> np.ndarray:
    """How the true removed band ``band [T]`` differs from an estimate of it ``estimate [T]`` between ``cutoff_hz``
    and ``bandwidth_hz``: ``[gain dB, tilt dB/octave]``, a straight-line fit of their level ratio (dB) in 8
    log-spaced sub-bands against octaves above the cutoff, weighted by sub-band width."""
    f = np.fft.rfftfreq(len(band), 1 / sr)
    pt, pe = np.abs(np.fft.rfft(band)) ** 2, np.abs(np.fft.rfft(estimate)) ** 2
    hi = max(bandwidth_hz, cutoff_hz * 1.1)
    edges = cutoff_hz * (hi / cutoff_hz) ** np.linspace(0, 1, 9)
    u, d, w = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (f >= a) & (f < b)
        if sel.any():
            u.append(np.log2(np.sqrt(a * b) / cutoff_hz))
            d.append(10 * np.log10((pt[sel].sum() + 1e-12) / (pe[sel].sum() + 1e-12)))
            w.append(sel.sum())
    u, d, w = np.array(u), np.array(d), np.array(w, float)
    gain = float(np.average(d, weights=w))
    um = np.average(u, weights=w)
    var = np.average((u - um) ** 2, weights=w)
    tilt = float(np.average((u - um) * (d - gain), weights=w) / var) if var > 1e-9 else 0.0
    return np.array([gain, tilt])


@dataclass
class Batch:
    hr: torch.Tensor  # [B, T] full-band target at the model's level
    lr: torch.Tensor  # [B, T] band-limited input at the same gain
    cutoff: torch.Tensor  # [B] Hz
    code: torch.Tensor | None = None  # [B, 2] the band code (gain, tilt) as standard normals, with band_code
    bandwidth: torch.Tensor | None = None  # [B] Hz: the target's real bandwidth (bins above it carry no signal)


class SegmentSampler:
    """Holds the clips of one split in memory and draws :class:`Batch` es from a numpy generator."""

    def __init__(
        self,
        manifest_path,
        split: str = "train",
        domains=mf.DOMAINS,
        segment_seconds: float = 0.75,
        sr: int = tsa.MODEL_SR,
        cutoff_range: tuple[float, float] = TRAINED_CUTOFFS_HZ,
        hf_gain_db: float = 0.0,
        hf_tilt_db: float = 0.0,
        band_code: bool = False,
        code_source: str = "augment",
        code_rho: float = 1.0,
    ):
        """``manifest_path``: one manifest, or several separated by commas (their clips are pooled).

        ``code_rho`` (measured codes): the code is ``rho z + sqrt(1 - rho^2) e`` for the measured standard normal ``z``
        and fresh noise ``e``, so it tells the model only part of the offset and the model still predicts the rest
        from the input; at inference random codes then spread candidates over less than the whole range of recordings.
        """
        import pandas as pd

        if code_source not in ("augment", "measured"):
            raise ConfigError(f"code_source must be augment or measured, got {code_source!r}")
        paths = [p.strip() for p in str(manifest_path).split(",") if p.strip()]
        df = pd.concat([mf.load(p, split=split) for p in paths], ignore_index=True)
        df = df[df.domain.isin(domains)]
        if df.empty:
            raise DataError(f"{manifest_path}: no {split} clips in domains {domains}")
        self.clips = [tsa.load(p, sr=sr, allow_silent=True)[0] for p in df.abspath]
        self.bandwidths = [min(bandwidth_of(q, sr / 2), sr / 2) for q in df.params]
        self.domains = list(df.domain)
        self.groups = [f"{src}/{spk}" for src, spk in zip(df.source, df.speaker.fillna(""))]  # a source, or a voice
        self.code_source = code_source
        self.code_rho = float(code_rho)
        self.code_table: np.ndarray | None = None  # [K, 2] sorted measured offsets, set by calibrate()
        self.n = int(segment_seconds * sr)
        self.sr = sr
        self.cutoff_range = cutoff_range
        self.hf_gain_db = hf_gain_db
        self.hf_tilt_db = hf_tilt_db
        self.band_code = band_code

    def draw_cutoff(self, rng: np.random.Generator, bandwidth: float | None = None) -> float:
        """A cutoff (Hz): half the time 4 or 8 kHz +-10 %, else uniform in ``cutoff_range``; below 0.9 ``bandwidth``."""
        if rng.uniform() < 0.5:
            c = float(rng.choice([4000.0, 8000.0]) * rng.uniform(0.9, 1.1))
        else:
            c = float(rng.uniform(*self.cutoff_range))
        if (
            bandwidth is not None and bandwidth < self.sr / 2 - 1 and c > 0.9 * bandwidth
        ):  # narrow clips: only what they hold
            c = float(rng.uniform(self.cutoff_range[0], max(0.9 * bandwidth, self.cutoff_range[0] + 1)))
        return c

    def crop(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """A random segment ``[n]`` above -50 dBFS (20 tries) of a random clip, and that clip's bandwidth (Hz)."""
        for _ in range(20):
            i = int(rng.integers(len(self.clips)))
            x = self.clips[i]
            if len(x) < self.n:
                x = np.pad(x, (0, self.n - len(x)))
            s = int(rng.integers(0, len(x) - self.n + 1))
            seg = x[s : s + self.n]
            if tsa.rms_dbfs(seg) > -50:
                return seg, self.bandwidths[i]
        return seg, self.bandwidths[i]

    def measured_offset(self, x: np.ndarray, y: np.ndarray, c: float, bw: float) -> np.ndarray:
        """:func:`band_offset` of target ``x`` against blind band replication of its input ``y`` (seed 0)."""
        from tsrlib.models import baselines

        return band_offset(x - y, baselines.band_replication(y, self.sr, c) - y, self.sr, c, bw)

    def calibrate(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Measure :meth:`measured_offset` on ``n`` random training examples and keep their sorted values as the
        quantile table that maps offsets to standard normals. Returns the table ``[n, 2]``."""
        vals = []
        with warnings.catch_warnings():  # as in batch()
            warnings.simplefilter("ignore")
            for _ in range(n):
                x, bw = self.crop(rng)
                c = self.draw_cutoff(rng, bw)
                y = tsa.degrade(x, self.sr, c, "random", seed=int(rng.integers(2**31)))
                vals.append(self.measured_offset(x, y, c, bw))
        self.code_table = np.sort(np.array(vals), axis=0)
        return self.code_table

    def to_code(self, offset: np.ndarray) -> np.ndarray:
        """An offset ``[2]`` as standard normals through the calibrated quantiles (clipped to +-3)."""
        k = len(self.code_table)
        q = [np.interp(offset[j], self.code_table[:, j], (np.arange(k) + 0.5) / k) for j in range(2)]
        return np.clip(stats.norm.ppf(q), -3, 3)

    def batch(self, size: int, rng: np.random.Generator) -> Batch:
        with warnings.catch_warnings():  # a few real recordings touch full scale; that is no reason to warn per crop
            warnings.simplefilter("ignore")
            return self._batch(size, rng)

    def _batch(self, size: int, rng: np.random.Generator) -> Batch:
        hr, lr, cut, codes, bws = [], [], [], [], []
        if self.band_code and self.code_source == "measured" and self.code_table is None:
            raise ValueError("measured band codes need a quantile table: call calibrate() first")
        for _ in range(size):
            x, bw = self.crop(rng)
            c = self.draw_cutoff(rng, bw)
            y = tsa.degrade(x, self.sr, c, "random", seed=int(rng.integers(2**31)))
            bws.append(bw)
            if self.band_code and self.code_source == "measured":  # the recording's own offset from the DSP estimate,
                z = self.to_code(self.measured_offset(x, y, c, bw))  # blended with noise: corr(code, offset) = code_rho
                codes.append(self.code_rho * z + math.sqrt(1 - self.code_rho**2) * rng.standard_normal(2))
            elif self.band_code:  # gain and tilt uniform as below, drawn through standard normals the noise will carry
                z = rng.standard_normal(2)
                u = [math.erf(v / math.sqrt(2)) for v in z]  # uniform in (-1, 1)
                x = y + reshape_band(x - y, self.sr, c, self.hf_gain_db * u[0], self.hf_tilt_db * u[1])
                codes.append(z)
            elif self.hf_tilt_db:
                g, tilt = rng.uniform(-self.hf_gain_db, self.hf_gain_db), rng.uniform(-self.hf_tilt_db, self.hf_tilt_db)
                x = y + reshape_band(x - y, self.sr, c, g, tilt)
            elif self.hf_gain_db:  # the same draws as before the tilt existed, so older runs reproduce
                x = y + (x - y) * np.float32(10 ** (rng.uniform(-self.hf_gain_db, self.hf_gain_db) / 20))
            level = max(tsa.rms_dbfs(y), tsa.rms_dbfs(x) - 30)  # a nearly empty low band must not explode the gain
            gain = 10 ** ((LEVEL_DBFS - level + rng.uniform(-3, 3)) / 20)
            hr.append(x * gain)
            lr.append(y * gain)
            cut.append(c)
        return Batch(
            torch.from_numpy(np.stack(hr)).float(),
            torch.from_numpy(np.stack(lr)).float(),
            torch.tensor(cut, dtype=torch.float32),
            torch.from_numpy(np.stack(codes)).float() if codes else None,
            torch.tensor(bws, dtype=torch.float32),
        )
