"""The DSP baselines on tones and coloured noise: where their energy lands, at which level; the oracle gain;
the model's band-replication prior; keeping the input's band above the model's."""

import dataclasses

import numpy as np
import pytest
import torch

from tsrlib import audio, metrics, sampler
from tsrlib.errors import ConfigError
from tsrlib.evaluate import band_level_db
from tsrlib.models import baselines, tiny
from tsrlib.train.data import band_offset, reshape_band
from tsrlib.upsample import crossover, to_output_rate

SR = 24_000


def tone(f: float, seconds: float = 2.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f * t)).astype(np.float32)


def coloured_noise(slope_db_per_octave: float, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """White noise shaped to ``slope_db_per_octave`` above 500 Hz (flat below), 0.1 RMS."""
    n = int(seconds * SR)
    spec = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 500.0)
    x = np.fft.irfft(spec * 10 ** (slope_db_per_octave * np.log2(f / 500.0) / 20), n)
    return (0.1 * x / x.std()).astype(np.float32)


def band_db(x: np.ndarray, f: float, width_hz: float = 150.0, sr: int = SR) -> float:
    """Energy (dB) of ``x`` within ``width_hz`` of ``f``: random-phase copies of a tone are narrowband noise."""
    p = np.abs(np.fft.rfft(x)) ** 2
    return float(10 * np.log10(p[np.abs(np.fft.rfftfreq(len(x), 1 / sr) - f) <= width_hz].sum() + 1e-20))


def test_band_replication_copies_a_tone_up_by_half_octaves_of_the_cutoff_at_minus_6_db_per_octave():
    # A 3 kHz tone under a 4 kHz cutoff sits 1 kHz into the source octave [2, 4) kHz; walking that octave upward
    # cyclically puts copies at 4 + 1 = 5 kHz, then every 2 kHz: 7, 9, 11 kHz, each at (3 kHz / f) of the tone's
    # STFT magnitude. Re-synthesised with random phases, overlapping frames add incoherently, which costs a level
    # offset that is the same for every copy (about -6 dB for a Hann window at 75 % overlap).
    x = tone(3000.0)
    y = baselines.band_replication(x, SR, 4000.0)
    flat = baselines.band_replication(x, SR, 4000.0, tilt_db_per_octave=0.0)
    base = band_db(x, 3000.0)
    copies = [5000.0, 7000.0, 9000.0, 11000.0]
    offsets = [band_db(flat, f) - base for f in copies]
    assert np.ptp(offsets) < 1.5 and -8.0 < np.mean(offsets) < -4.0
    for f, off in zip(copies, offsets):
        assert band_db(y, f) - base == pytest.approx(off + 20 * np.log10(3000.0 / f), abs=0.3), f
    for f in (6000.0, 8000.0, 10000.0):  # between the copies: nothing
        assert band_db(y, f) < base - 40
    below = audio.degrade(y, SR, 3800.0, "cheby1")  # the given band is untouched
    assert band_db(below, 3000.0) == pytest.approx(band_db(audio.degrade(x, SR, 3800.0, "cheby1"), 3000.0), abs=0.01)


def slope_db_per_octave(f: np.ndarray, db: np.ndarray) -> float:
    return float(np.polyfit(np.log2(f), db, 1)[0])


@pytest.mark.parametrize("slope", [-3.0, -9.0])
def test_sbr_continues_the_envelope_slope_of_the_octave_below(slope):
    x = coloured_noise(slope)
    lr = audio.degrade(x, SR, 4000.0, "cheby1")
    f, db_true = audio.mean_power_db(x, SR)
    _, db_sbr = audio.mean_power_db(baselines.sbr(lr, SR, 4000.0), SR)
    _, db_br = audio.mean_power_db(baselines.band_replication(lr, SR, 4000.0), SR)
    band = (f >= 5000) & (f < 11500)
    assert slope_db_per_octave(f[band], db_sbr[band]) == pytest.approx(slope, abs=1.5)
    assert slope_db_per_octave(f[band], db_br[band]) == pytest.approx(-6.0, abs=1.5)  # band replication's fixed tilt
    # the same incoherent re-synthesis offset as band replication's (see the test above)
    assert -8.0 < np.mean(db_sbr[band] - db_true[band]) < -4.0


def test_baselines_beat_the_band_limited_input_and_the_oracle_gain_finds_a_known_scale():
    x = coloured_noise(-6.0)
    lr = audio.degrade(x, SR, 4000.0, "cheby1")
    for name, f in baselines.METHODS.items():
        assert metrics.lsd(x, f(lr, SR, 4000.0))[0] < 0.5 * metrics.lsd(x, lr)[0], name
    too_quiet = lr + 0.25 * (x - lr)  # the true band at -12 dB
    out, g = baselines.oracle_gain(too_quiet, lr, x)
    assert g == pytest.approx(20 * np.log10(4), abs=0.5)
    assert metrics.lsd(x, out)[0] < 0.5 * metrics.lsd(x, too_quiet)[0]


def test_baselines_refuse_bad_input_clearly():
    with pytest.raises(audio.AudioInputError, match="silent"):
        baselines.band_replication(np.zeros(SR, np.float32), SR, 4000.0)
    with pytest.raises(audio.AudioInputError, match="Nyquist"):
        baselines.sbr(tone(1000.0), SR, 12000.0)
    short = tone(1000.0)[: int(0.05 * SR)]  # 50 ms: fewer samples than a few STFT windows
    for name, f in baselines.METHODS.items():
        with pytest.raises(audio.AudioInputError, match="too short"):
            f(short, SR, 4000.0)
        with pytest.raises(audio.AudioInputError, match="1000 samples at 8000 Hz .* too short"):
            f(tone(1000.0)[:1000], 8000, 3000.0)  # 0.125 s, but under the 1024 samples of one window


def test_band_offset_reads_back_a_known_gain_and_tilt():
    est = baselines.band_replication(audio.degrade(coloured_noise(-6.0), SR, 4000.0, "cheby1"), SR, 4000.0)
    band = est - audio.degrade(est, SR, 4000.0, "cheby1")
    true = reshape_band(band, SR, 4000.0, 5.0, -2.0)
    gain, tilt = band_offset(true, band, SR, 4000.0, 12000.0)
    edges = 4000.0 * 3.0 ** np.linspace(0, 1, 9)  # the 8 log-spaced sub-bands from the cutoff to the bandwidth
    u, w = np.log2(np.sqrt(edges[:-1] * edges[1:]) / 4000.0), np.diff(edges)
    assert gain == pytest.approx(5.0 - 2.0 * np.average(u, weights=w), abs=0.5)  # the mean level offset over the band
    assert tilt == pytest.approx(-2.0, abs=0.3)


def test_an_untrained_band_replication_prior_samples_the_dsp_estimates_level():
    """The network's output starts at zero: with the prior, a sample's invented band sits near band replication's level
    (without it, at the default data scale, far from it)."""
    x = coloured_noise(-6.0, seconds=1.5)
    lr = audio.degrade(x, SR, 4000.0, "cheby1")
    ref_db = band_level_db(baselines.band_replication(lr, SR, 4000.0), SR, 5000.0)
    levels = {}
    for prior in ("band-replication", "none"):
        torch.manual_seed(0)
        m = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), prior=prior)).eval()
        y = sampler.generate(m, m.condition(lr, SR, 4000.0), seed=0, indices=range(2), steps=10).audio
        levels[prior] = [band_level_db(r, SR, 5000.0) for r in y]
    # Gaussian samples in the compressed domain sit a few dB under the mean log-level of the copy they are drawn
    # around (training learns that correction); without the prior the band starts at the data's default scale.
    gap = {k: max(abs(v - ref_db) for v in vs) for k, vs in levels.items()}
    assert gap["band-replication"] < 5.0
    assert gap["none"] > gap["band-replication"] + 3.0


def test_crossover_is_complementary():
    x = coloured_noise(-3.0, seconds=1.0)
    np.testing.assert_allclose(crossover(x, x, SR, 8000.0), x, atol=1e-5)
    lo = crossover(x, np.zeros_like(x), SR, 8000.0, 1000.0)
    assert band_level_db(lo, SR, 9000.0) < band_level_db(x, SR, 9000.0) - 60


def test_output_above_the_models_band_keeps_the_inputs_own_content():
    """A full-band 44.1 kHz input upsampled to 48 kHz keeps its band above 12 kHz; a band-limited one gets no notice."""
    rng = np.random.default_rng(1)
    x = (0.1 * rng.standard_normal(2 * 44_100)).astype(np.float32)
    model_out = audio.degrade(audio.resample(x, 44_100, SR), SR, 11_000.0, "cheby1")  # what a 24 kHz model returns
    y, note = to_output_rate(model_out, SR, x, 44_100, 48_000)
    assert note is not None and "beyond the model's 12000 Hz band" in note
    ref = audio.resample(x, 44_100, 48_000)
    f, db_y = audio.mean_power_db(y, 48_000)
    _, db_x = audio.mean_power_db(ref, 48_000)
    keep = (f >= 12_500) & (f < 21_000)
    assert np.abs(db_y[keep] - db_x[keep]).max() < 1.0
    narrow = audio.degrade(x, 44_100, 4000.0, "cheby1")
    y2, note2 = to_output_rate(model_out, SR, narrow, 44_100, 48_000)
    assert note2 is None and len(y2) == 2 * len(model_out)


def test_prior_smoothing_sets_the_priors_resolution_and_round_trips(tmp_path):
    lr = audio.degrade(coloured_noise(-6.0, seconds=1.0), SR, 4000.0, "cheby1")
    m = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), prior="band-replication", prior_smoothing=(1, 1)))
    cond = m.condition(lr, SR, 4000.0).features
    f = m.cfg.bins
    got = m.prior_log_sd(cond["cond"], cond["mask"])[0]
    hi = m.codec.bin_freqs() >= 4000.0
    per_bin = 0.5 * torch.log((cond["cond"][0, :f] ** 2 + cond["cond"][0, f:] ** 2).clamp_min(1e-6) / 2)
    torch.testing.assert_close(got[hi], per_bin[hi])
    smooth = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), prior="band-replication"))
    assert smooth.prior_log_sd(cond["cond"], cond["mask"])[0][hi].std() < got[hi].std()  # averaging evens it out
    m.save(tmp_path / "m.safetensors")
    assert tiny.load(tmp_path / "m.safetensors").cfg.prior_smoothing == (1, 1)


def test_silence_gate_invents_nothing_where_the_input_is_silent():
    x = coloured_noise(-6.0, seconds=1.5)
    x[SR // 2 : SR] = 0.0  # half a second of digital silence, as between recorded words
    lr = audio.degrade(x, SR, 4000.0, "cheby1")
    lr[SR // 2 + 2000 : SR - 2000] = 0.0  # the filter's ringing aside, silent
    torch.manual_seed(0)
    m = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), prior="band-replication", silence_gate_db=-60.0))
    cond = m.condition(lr, SR, 4000.0)
    silent = m.silent_frames(cond)
    t = np.arange(len(silent)) * m.cfg.hop
    assert silent[(t > SR // 2 + 3000) & (t < SR - 3000)].all() and not silent[t < SR // 2 - 3000].any()
    x0 = torch.randn(1, *m.noise_shape(cond))  # any candidate: the gate acts when decoding
    gated = m.decode(x0, cond)[0]
    m.cfg = dataclasses.replace(m.cfg, silence_gate_db=None)
    open_ = m.decode(x0, cond)[0]
    gap = slice(SR // 2 + 3000, SR - 3000)
    assert np.abs(gated[gap]).max() < 1e-6 < np.abs(open_[gap]).max()
    np.testing.assert_allclose(gated[: SR // 2 - 3000], open_[: SR // 2 - 3000], atol=1e-6)  # elsewhere untouched


def test_envelope_cap_lowers_only_the_frames_above_the_copy_shifted_by_the_candidates_gain():
    torch.manual_seed(0)
    f, frames, compress = 33, 20, 0.3
    mask = torch.zeros(1, f)
    mask[0, :16] = 1.0  # the given band; the cap acts on bins 16 and up
    envelope = torch.randn(1, 2 * f, frames)
    band = torch.cat([1 - mask[0]] * 2)[None, :, None].bool()  # [1, 2F, 1]
    quiet = torch.where(band, envelope * 0.5**compress, torch.randn(1, 2 * f, frames))  # the copy, 6 dB down
    loud = quiet.clone()
    loud[:, :, 3] = torch.where(band[:, :, 0], quiet[:, :, 3] * 10 ** (12 / 20 * compress), quiet[:, :, 3])  # +12 dB
    z = torch.cat([quiet, loud])  # two candidates with the same gain, one with a frame 12 dB above its envelope
    out = tiny.cap_band_envelope(z, envelope, mask, compress, cap_db=0.0)
    torch.testing.assert_close(out[0], quiet[0])  # following its envelope: untouched
    torch.testing.assert_close(out[1], quiet[0])  # the loud frame comes back to -6 dB, nothing else moves

    def band_power(x: torch.Tensor) -> torch.Tensor:
        return ((x[:f] ** 2 + x[f:] ** 2) ** (1 / compress))[16:].sum(0)

    capped = tiny.cap_band_envelope(z, envelope, mask, compress, cap_db=6.0)[1]
    ratio_db = 10 * torch.log10(band_power(capped) / band_power(quiet[0]))
    assert abs(float(ratio_db[3]) - 6.0) < 1e-3  # lowered to 6 dB above its envelope, no further
    torch.testing.assert_close(ratio_db[torch.arange(frames) != 3], torch.zeros(frames - 1), atol=1e-4, rtol=0)
    silent = torch.where(band, torch.zeros_like(envelope), envelope)  # a copy with no band: nothing to follow
    torch.testing.assert_close(tiny.cap_band_envelope(z, silent, mask, compress, cap_db=0.0), z)


def test_envelope_cap_is_a_decode_setting_of_band_replication_models():
    with pytest.raises(ConfigError, match="needs prior='band-replication'"):
        tiny.ModelConfig(envelope_cap_db=0.0)
    with pytest.raises(ConfigError, match="finite"):
        tiny.ModelConfig(prior="band-replication", envelope_cap_db=float("nan"))
    assert "envelope_cap_db" not in repr(tiny.ModelConfig(prior="band-replication"))  # old fingerprints hold
    x = coloured_noise(-6.0, seconds=1.5)
    x[SR // 2 : SR] *= 1e-3  # a quiet stretch, 60 dB down, where an uncapped band stays loud
    lr = audio.degrade(x, SR, 4000.0, "cheby1")
    torch.manual_seed(0)
    m = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), prior="band-replication", envelope_cap_db=0.0))
    cond = m.condition(lr, SR, 4000.0)
    x0 = torch.randn(2, *m.noise_shape(cond))
    capped = m.decode(x0, cond)
    m.cfg = dataclasses.replace(m.cfg, envelope_cap_db=1e6)  # a cap nothing reaches
    far = m.decode(x0, cond)
    m.cfg = dataclasses.replace(m.cfg, envelope_cap_db=None)
    open_ = m.decode(x0, cond)
    np.testing.assert_allclose(far, open_, atol=1e-6)
    gap = slice(SR // 2 + 3000, SR - 3000)
    hi_db = [band_level_db(y[gap], SR, 4000.0) for y in (capped[0], open_[0])]
    assert hi_db[0] < hi_db[1] - 10  # the quiet stretch's band follows the copy down
