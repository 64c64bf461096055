"""Log-spectral distance (LSD): the one definition every chapter, verifier and test uses.

The field (AudioSR's evaluation code, AP-BWE, NVSR) computes, on a Hann-windowed STFT with
``n_fft = 2048`` and ``hop = 512`` at the evaluation rate::

    P = log10( max(|S|^2, 1e-8) )                          # per frame t, bin f
    LSD = mean_t sqrt( mean_f (P_ref - P_est)^2 )

This uses log base 10 of the *power*. NU-Wave's code uses the natural log, which is ln(10) = 2.3
times larger, so numbers from different papers are not always comparable.

Pitfall: LSD is not gain-invariant. A pure gain ``g`` shifts every log-power by ``2 log10 g``, so
``LSD(x, g x) = |2 log10 g|`` (0.60 for g = 2, i.e. +6 dB) wherever no bin hits the clamp. A model
whose output level drifts loses LSD without changing timbre; match levels before comparing
(the book's Chapter 1 shows this). A second pitfall: LSD rewards *any* energy in an empty band,
so noise at the right level lowers it (see ``tsrlib.models.baselines``, issue "embedded model").

``lsd_hf`` restricts the mean over bins to bins at or above a cutoff (the band the model invents);
``lsd_lf`` to the bins below it (the band it was given).
"""

from __future__ import annotations

import numpy as np
import torch

from tsrlib.errors import AudioInputError

N_FFT: int = 2048
HOP: int = 512
CLAMP: float = 1e-8


def _as_batch(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float64)
    return t.unsqueeze(0) if t.ndim == 1 else t


def log_power(audio: np.ndarray | torch.Tensor, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """``log10(max(|STFT|^2, 1e-8))`` of ``audio [T]`` or ``[N, T]``, shape ``[N, n_fft // 2 + 1, frames]``.

    Hann window, centred frames with reflection padding (as ``librosa.stft``), float64. The padding needs more than
    ``n_fft // 2`` samples (43 ms at 24 kHz for the default); shorter audio raises :class:`AudioInputError`.
    """
    x = _as_batch(audio)
    if x.shape[-1] <= n_fft // 2:
        raise AudioInputError(
            f"{x.shape[-1]} samples are too short for the {n_fft}-sample STFT of the LSD: it needs more than {n_fft // 2}"
        )
    spec = torch.stft(
        x,
        n_fft=n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft, dtype=x.dtype),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    return torch.log10(torch.clamp(spec.abs().square(), min=CLAMP))


def _band_mask(sr: int, n_fft: int, lo_hz: float | None, hi_hz: float | None) -> torch.Tensor:
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sr / n_fft
    mask = torch.ones_like(freqs, dtype=torch.bool)
    if lo_hz is not None:
        mask &= freqs >= lo_hz
    if hi_hz is not None:
        mask &= freqs < hi_hz
    if not mask.any():
        raise ValueError(f"no STFT bin lies in [{lo_hz}, {hi_hz}) Hz at sr={sr}, n_fft={n_fft}")
    return mask


def lsd(
    ref: np.ndarray | torch.Tensor,
    est: np.ndarray | torch.Tensor,
    sr: int | None = None,
    *,
    lo_hz: float | None = None,
    hi_hz: float | None = None,
    n_fft: int = N_FFT,
    hop: int = HOP,
) -> np.ndarray:
    """Log-spectral distance between ``ref [T]`` and each row of ``est [T]`` or ``[N, T]``.

    Both must be at the same rate (the evaluation rate) and length; ``ref`` broadcasts over N
    candidates. With ``lo_hz``/``hi_hz`` (which need ``sr``) the mean over bins is restricted to that
    band. Returns a float64 array of shape ``[N]`` (``[1]`` for single inputs); 0 means identical.
    """
    r, e = _as_batch(ref), _as_batch(est)
    if r.shape[-1] != e.shape[-1]:
        raise ValueError(f"ref and est differ in length: {r.shape[-1]} vs {e.shape[-1]} samples")
    diff2 = (log_power(r, n_fft, hop) - log_power(e, n_fft, hop)).square()
    if lo_hz is not None or hi_hz is not None:
        if sr is None:
            raise ValueError("a band limit needs the sample rate sr")
        diff2 = diff2[:, _band_mask(sr, n_fft, lo_hz, hi_hz), :]
    return diff2.mean(dim=1).sqrt().mean(dim=1).numpy()


def lsd_hf(ref, est, sr: int, cutoff_hz: float, **kw) -> np.ndarray:
    """LSD over the bins at or above ``cutoff_hz``: the band a super-resolution model must invent. Shape ``[N]``."""
    return lsd(ref, est, sr, lo_hz=cutoff_hz, **kw)


def lsd_lf(ref, est, sr: int, cutoff_hz: float, **kw) -> np.ndarray:
    """LSD over the bins below ``cutoff_hz``: the band the input already carries. Shape ``[N]``."""
    return lsd(ref, est, sr, hi_hz=cutoff_hz, **kw)
