"""LSD against hand-computed values and an independent numpy implementation."""

import numpy as np
import pytest

from tsrlib import metrics
from tsrlib.errors import AudioInputError

SR = 24_000


def numpy_lsd(ref, est, n_fft=2048, hop=512, lo=None, hi=None, sr=SR):
    """Reference implementation written from the definition: centred frames, reflect padding, periodic Hann."""

    def logpow(x):
        x = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
        frames = np.stack([x[i : i + n_fft] * win for i in range(0, len(x) - n_fft + 1, hop)])
        return np.log10(np.maximum(np.abs(np.fft.rfft(frames, axis=1)) ** 2, 1e-8))

    d = (logpow(ref) - logpow(est)) ** 2
    f = np.arange(n_fft // 2 + 1) * sr / n_fft
    m = np.ones_like(f, dtype=bool)
    if lo is not None:
        m &= f >= lo
    if hi is not None:
        m &= f < hi
    return np.mean(np.sqrt(d[:, m].mean(axis=1)))


def test_identical_signals_give_zero(noise):
    assert metrics.lsd(noise, noise)[0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("gain", [0.5, 2.0, 10 ** (6 / 20), 10 ** (-3 / 20)])
def test_gain_gives_twice_log10_gain(noise, gain):
    # Noise at -20 dBFS keeps every bin far above the clamp, so the closed form holds exactly.
    x = noise.astype(np.float64)
    assert metrics.lsd(x, gain * x)[0] == pytest.approx(abs(2 * np.log10(gain)), rel=1e-9)


def test_matches_independent_numpy_implementation(noise):
    rng = np.random.default_rng(1)
    est = noise + 0.05 * rng.standard_normal(len(noise)).astype(np.float32)
    assert metrics.lsd(noise, est)[0] == pytest.approx(numpy_lsd(noise, est), rel=1e-9)
    assert metrics.lsd_hf(noise, est, SR, 4000)[0] == pytest.approx(numpy_lsd(noise, est, lo=4000), rel=1e-9)
    assert metrics.lsd_lf(noise, est, SR, 4000)[0] == pytest.approx(numpy_lsd(noise, est, hi=4000), rel=1e-9)


def test_empty_band_sits_at_the_clamp(noise):
    # Digital silence is clamped at log10(1e-8) = -8, so an empty spectrum is far from any real one.
    silence = np.zeros_like(noise)
    value = metrics.lsd(noise, silence)[0]
    assert value == pytest.approx(numpy_lsd(noise, silence), rel=1e-9)
    assert value > 5


def test_batch_of_candidates_broadcasts_reference(noise):
    rng = np.random.default_rng(2)
    cands = np.stack([noise + s * rng.standard_normal(len(noise)) for s in (0.01, 0.1, 1.0)])
    batch = metrics.lsd(noise, cands)
    single = [metrics.lsd(noise, c)[0] for c in cands]
    assert batch.shape == (3,)
    np.testing.assert_allclose(batch, single, rtol=1e-12)
    assert batch[0] < batch[1] < batch[2]


def test_hf_and_lf_split_the_error(noise):
    from tsrlib.audio import degrade

    low = degrade(noise, SR, 4000, "ellip")
    assert metrics.lsd_lf(noise, low, SR, 3500)[0] < 0.05  # the low band is kept
    assert metrics.lsd_hf(noise, low, SR, 4500)[0] > 3  # the high band is gone


def test_length_mismatch_and_band_without_rate_raise(noise):
    with pytest.raises(ValueError, match="length"):
        metrics.lsd(noise, noise[:-10])
    with pytest.raises(ValueError, match="sample rate"):
        metrics.lsd(noise, noise, lo_hz=1000)


def test_audio_too_short_for_the_stft_is_refused_clearly(noise):
    n = metrics.N_FFT // 2
    assert metrics.lsd(noise[: n + 1], noise[: n + 1])[0] == 0.0  # the shortest that the reflection padding takes
    with pytest.raises(AudioInputError, match=f"{n} samples are too short for the {metrics.N_FFT}-sample STFT"):
        metrics.lsd(noise[:n], noise[:n])
