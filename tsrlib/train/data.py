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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from tsrlib import audio as tsa
from tsrlib.data import manifest as mf
from tsrlib.models.tiny import LEVEL_DBFS


def reshape_band(band: np.ndarray, sr: int, cutoff_hz: float, gain_db: float, tilt_db: float) -> np.ndarray:
    """Scale the removed band ``band [T]`` by ``gain_db + tilt_db * log2(f / cutoff_hz)`` dB at each frequency.

    Below the cutoff only ``gain_db`` applies (the filter's transition band keeps its shape); ``tilt_db``
    is in dB per octave. Returns float32 ``[T]``.
    """
    spec = np.fft.rfft(band.astype(np.float64))
    f = np.fft.rfftfreq(len(band), 1.0 / sr)
    g_db = gain_db + tilt_db * np.log2(np.maximum(f, cutoff_hz) / cutoff_hz)
    return np.fft.irfft(spec * 10 ** (g_db / 20), n=len(band)).astype(np.float32)


@dataclass
class Batch:
    hr: torch.Tensor  # [B, T] full-band target at the model's level
    lr: torch.Tensor  # [B, T] band-limited input at the same gain
    cutoff: torch.Tensor  # [B] Hz
    code: torch.Tensor | None = None  # [B, 2] the band code (gain, tilt) as standard normals, with band_code


class SegmentSampler:
    """Holds the clips of one split in memory and draws :class:`Batch` es from a numpy generator."""

    def __init__(self, manifest_path, split: str = "train", domains=mf.DOMAINS, segment_seconds: float = 0.75,
                 sr: int = tsa.MODEL_SR, cutoff_range: tuple[float, float] = (2000.0, 11000.0), hf_gain_db: float = 0.0,
                 hf_tilt_db: float = 0.0, band_code: bool = False):
        df = mf.load(manifest_path, split=split)
        df = df[df.domain.isin(domains)]
        if df.empty:
            raise ValueError(f"{manifest_path}: no {split} clips in domains {domains}")
        self.clips = [tsa.load(p, sr=sr)[0] for p in df.abspath]
        self.domains = list(df.domain)
        self.n = int(segment_seconds * sr)
        self.sr = sr
        self.cutoff_range = cutoff_range
        self.hf_gain_db = hf_gain_db
        self.hf_tilt_db = hf_tilt_db
        self.band_code = band_code

    def draw_cutoff(self, rng: np.random.Generator) -> float:
        if rng.uniform() < 0.5:
            return float(rng.choice([4000.0, 8000.0]) * rng.uniform(0.9, 1.1))
        return float(rng.uniform(*self.cutoff_range))

    def crop(self, rng: np.random.Generator) -> np.ndarray:
        for _ in range(20):
            x = self.clips[int(rng.integers(len(self.clips)))]
            if len(x) < self.n:
                x = np.pad(x, (0, self.n - len(x)))
            s = int(rng.integers(0, len(x) - self.n + 1))
            seg = x[s : s + self.n]
            if tsa.rms_dbfs(seg) > -50:
                return seg
        return seg

    def batch(self, size: int, rng: np.random.Generator) -> Batch:
        hr, lr, cut, codes = [], [], [], []
        for _ in range(size):
            x = self.crop(rng)
            c = self.draw_cutoff(rng)
            y = tsa.degrade(x, self.sr, c, "random", seed=int(rng.integers(2**31)))
            if self.band_code:  # gain and tilt uniform as below, drawn through standard normals the noise will carry
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
        return Batch(torch.from_numpy(np.stack(hr)).float(), torch.from_numpy(np.stack(lr)).float(),
                     torch.tensor(cut, dtype=torch.float32),
                     torch.from_numpy(np.stack(codes)).float() if codes else None)
