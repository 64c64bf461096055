"""Loading, checks, resampling, loudness, chunking, degradation and cutoff detection."""

import warnings

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from tsrlib import audio
from tsrlib.errors import AudioInputError, ConfigError

SR = 24_000


# ------------------------------------------------------------------ degrade
def transfer_db(x, y, sr, lo_hz, hi_hz=np.inf):
    """Power of y over power of x in the band [lo_hz, hi_hz), in dB: the filter's measured gain there."""
    f, p_in = signal.welch(x, fs=sr, nperseg=2048)
    _, p_out = signal.welch(y, fs=sr, nperseg=2048)
    band = (f >= lo_hz) & (f < hi_hz)
    return 10 * np.log10(p_out[band].sum() / p_in[band].sum())


# stop-band edge (as a multiple of the cutoff) and the passband ripple allowed below 80 % of the cutoff, in dB;
# the Bessel filter trades a slow roll-off (and about 1 dB lost at 80 %) for its flat group delay
@pytest.mark.parametrize(
    "family,edge,ripple", [("ellip", 1.1, 0.5), ("cheby1", 1.25, 0.5), ("butter", 1.6, 0.5), ("bessel", 3.0, 1.5)]
)
@pytest.mark.parametrize("cutoff", [4000, 8000])
def test_degrade_removes_the_band_above_the_stopband(noise, family, edge, ripple, cutoff):
    y = audio.degrade(noise, SR, cutoff, family)
    assert y.shape == noise.shape and y.dtype == np.float32
    # the stop band starts at edge x cutoff, or just below Nyquist where that lies beyond it
    assert transfer_db(noise, y, SR, min(edge * cutoff, 0.95 * SR / 2)) < -60
    # the passband is kept: below 80 % of the cutoff the level hardly moves
    assert abs(transfer_db(noise, y, SR, 0, 0.8 * cutoff)) < ripple


def test_degrade_random_filter_is_seeded(noise):
    a = audio.degrade(noise, SR, 4000, "random", seed=3)
    b = audio.degrade(noise, SR, 4000, "random", seed=3)
    c = [audio.degrade(noise, SR, 4000, "random", seed=s) for s in range(4, 10)]
    np.testing.assert_array_equal(a, b)
    assert any(not np.allclose(a, x) for x in c)


@pytest.mark.parametrize(
    "cutoff,match", [(300, "below"), (12000, "Nyquist"), (20000, "Nyquist"), (float("nan"), "below")]
)
def test_degrade_rejects_bad_cutoffs(noise, cutoff, match):
    with pytest.raises(AudioInputError, match=match):
        audio.degrade(noise, SR, cutoff)


# ------------------------------------------------------------------ detect_cutoff
@pytest.mark.parametrize("cutoff", [2000, 3000, 4000, 6000, 8000, 10000])
@pytest.mark.parametrize("family", ["cheby1", "ellip", "butter"])
def test_detect_cutoff_finds_the_band_edge(noise, cutoff, family):
    est = audio.detect_cutoff(audio.degrade(noise, SR, cutoff, family), SR)
    assert est == pytest.approx(cutoff, rel=0.1)


def test_detect_cutoff_of_full_band_audio_is_near_nyquist(noise):
    assert audio.detect_cutoff(noise, SR) > 0.95 * SR / 2


# ------------------------------------------------------------------ checks and I/O
@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.zeros(1000, np.float32), "silent"),
        (np.array([0.1, np.nan, 0.2] * 100, np.float32), "NaN"),
        (np.ones((2, 100), np.float32), "mono"),
        (np.arange(100, dtype=np.int16), "floating"),
    ],
)
def test_check_audio_rejects_bad_input(bad, match):
    with pytest.raises(AudioInputError, match=match):
        audio.check_audio(bad, SR)


def test_check_audio_refuses_audio_shorter_than_asked(noise):
    n = int(audio.MIN_SECONDS * SR)
    assert len(audio.check_audio(noise[:n], SR, min_seconds=audio.MIN_SECONDS)) == n
    with pytest.raises(AudioInputError, match=f"{n - 1} samples at {SR} Hz .* too short"):
        audio.check_audio(noise[: n - 1], SR, min_seconds=audio.MIN_SECONDS)
    assert len(audio.check_audio(noise[:1] + 0.5, SR)) == 1  # no minimum unless asked: verifiers score short audio
    with pytest.raises(AudioInputError, match="too short"):
        audio.detect_cutoff(noise[:100], SR)


def test_band_cutoff_checks_a_given_cutoff_and_says_when_it_detected_one(noise):
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR).astype(np.float32)  # nothing above 300 Hz
    assert audio.band_cutoff(tone, SR, 4000) == 4000.0
    with pytest.raises(AudioInputError, match=r"^detected cutoff \d+ Hz is below .*give the cutoff"):
        audio.band_cutoff(tone, SR)
    with pytest.raises(AudioInputError, match=r"^cutoff 400 Hz is below"):
        audio.band_cutoff(tone, SR, 400.0)
    lo = audio.degrade(noise, SR, 6000)
    assert audio.band_cutoff(lo, SR) == audio.detect_cutoff(lo, SR)


def test_check_audio_warns_on_clipping(noise):
    with pytest.warns(UserWarning, match="clipped"):
        audio.check_audio(np.clip(noise * 100, -1, 1), SR)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_load_reads_common_formats_and_resamples(tmp_path, noise, ext):
    p = tmp_path / f"x.{ext}"
    sf.write(p, noise, SR)
    x, sr = audio.load(p, sr=None)
    assert sr == SR and len(x) == len(noise)
    y, sr2 = audio.load(p, sr=16_000)
    assert sr2 == 16_000 and len(y) == pytest.approx(len(noise) * 2 / 3, abs=2)


def test_load_mixes_stereo_down_with_a_notice(tmp_path, noise):
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([noise, 0.5 * noise], axis=1), SR, subtype="FLOAT")
    with pytest.warns(UserWarning, match="mixed down"):
        x, _ = audio.load(p, sr=None)
    np.testing.assert_allclose(x, 0.75 * noise, atol=1e-6)


def test_load_errors_are_clear(tmp_path, noise):
    with pytest.raises(AudioInputError, match="no such file"):
        audio.load(tmp_path / "missing.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    with pytest.raises(AudioInputError, match="cannot read"):
        audio.load(tmp_path / "corrupt.wav")
    sf.write(tmp_path / "long.wav", np.tile(noise, 3), SR)
    with pytest.raises(AudioInputError, match="longer than"):
        audio.load(tmp_path / "long.wav", max_seconds=5)
    with pytest.raises(AudioInputError, match="a folder, not an audio file"):
        audio.load(tmp_path)


@pytest.mark.parametrize("name,message", [("o.xyz", r"cannot write audio as \.xyz"), ("o", "without an extension")])
def test_save_refuses_a_format_it_cannot_write(tmp_path, noise, name, message):
    with pytest.raises(AudioInputError, match=message):
        audio.save(tmp_path / name, noise, SR)
    with pytest.raises(AudioInputError, match="a folder"):
        audio.save(tmp_path, noise, SR)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before the clipping warning, not after it
        with pytest.raises(AudioInputError, match=message):
            audio.save(tmp_path / name, 2 * noise / np.max(np.abs(noise)), SR)
    assert list(tmp_path.iterdir()) == []


def test_resample_and_degrade_refuse_impossible_settings(noise):
    with pytest.raises(AudioInputError, match="sample rates must be positive"):
        audio.resample(noise, SR, 0)
    with pytest.raises(ConfigError, match="filter order must be at least 1"):
        audio.degrade(noise, SR, 4000, order=0)


def test_save_clips_and_warns(tmp_path):
    with pytest.warns(UserWarning, match="full scale"):
        audio.save(tmp_path / "c.wav", np.array([0.5, 2.0, -3.0], np.float32), SR)
    x, _ = sf.read(tmp_path / "c.wav")
    assert np.max(np.abs(x)) <= 1.0


def test_resample_round_trip_keeps_the_band(noise):
    low = audio.degrade(noise, SR, 7000, "ellip")
    back = audio.resample(audio.resample(low, SR, 16_000), 16_000, SR)
    assert back.shape == low.shape
    assert np.sqrt(np.mean((back - low)[2000:-2000] ** 2)) < 1e-3 * np.sqrt(np.mean(low**2)) * 10


# ------------------------------------------------------------------ loudness
def test_loudness_normalisation_is_undone_exactly(noise):
    y, loud = audio.normalize_loudness(0.01 * noise, target_dbfs=-23)
    assert audio.rms_dbfs(y) == pytest.approx(-23, abs=1e-3)
    np.testing.assert_allclose(loud.undo(y), 0.01 * noise, rtol=1e-5, atol=1e-9)


def test_loudness_never_exceeds_the_peak_limit():
    x = np.zeros(1000, np.float32)
    x[10] = 0.5  # an impulse: RMS normalisation alone would push the peak far past 1
    y, loud = audio.normalize_loudness(x, target_dbfs=-10, peak_limit=0.9)
    assert np.max(np.abs(y)) == pytest.approx(0.9, rel=1e-5)
    with pytest.raises(AudioInputError):
        audio.normalize_loudness(np.zeros(100, np.float32))


# ------------------------------------------------------------------ chunking
@pytest.mark.parametrize("length", [1, 999, 1000, 4321, 10_000])
def test_chunk_overlap_add_is_identity(noise, length):
    x = noise[:length]
    ch = audio.chunk(x, chunk=1000, overlap=200)
    assert ch.frames.shape[1] == 1000
    np.testing.assert_allclose(ch.overlap_add(), x, atol=1e-6)
    np.testing.assert_allclose(ch.overlap_add(ch.frames * 2), 2 * x, atol=1e-6)


def test_chunk_crossfades_between_different_frames():
    ch = audio.chunk(np.zeros(3000, np.float32), chunk=1000, overlap=400)
    frames = np.stack([np.full(1000, float(i)) for i in range(len(ch.frames))])
    y = ch.overlap_add(frames)
    # inside an overlap the output moves monotonically from one frame's value to the next
    seg = y[600:1000]
    assert seg[0] == pytest.approx(0, abs=0.01) and seg[-1] == pytest.approx(1, abs=0.01)
    assert np.all(np.diff(seg) >= -1e-9)


def test_chunk_rejects_bad_overlap():
    with pytest.raises(ValueError):
        audio.chunk(np.zeros(10, np.float32), chunk=100, overlap=100)


def test_no_warning_for_clean_input(noise):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        audio.check_audio(noise, SR)
