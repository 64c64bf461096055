"""The embedded model: codec, consistency step, persistence, baselines, and the shipped weights."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from tsrlib import audio, metrics, sampler
from tsrlib.errors import CheckpointError, ConfigError
from tsrlib.models import baselines, tiny

SR = 24_000


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    m = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2))).eval()
    for p in m.net.out.parameters():  # the output layer starts at zero; give it something to say
        torch.nn.init.normal_(p, std=0.05)
    return m


@pytest.fixture
def speechlike():
    """3 s of a pitched, formant-ish signal with energy up to 11 kHz."""
    t = np.arange(3 * SR) / SR
    rng = np.random.default_rng(0)
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 70)) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.02 * rng.standard_normal(len(t))
    return (0.1 * x / np.std(x)).astype(np.float32)


def test_codec_round_trip(speechlike):
    codec = tiny.STFTCodec(tiny.ModelConfig())
    x = torch.from_numpy(speechlike)[None]
    z = codec.encode(x)
    assert z.shape == (1, 514, codec.frames(len(speechlike)))
    torch.testing.assert_close(codec.decode(z, len(speechlike)), x, atol=1e-4, rtol=0)


def test_decode_keeps_the_input_band_and_its_level(random_model, speechlike):
    lr = audio.degrade(speechlike, SR, 4000, "ellip")
    cond = random_model.condition(0.3 * lr, SR, 4000)
    out = sampler.generate(random_model, cond, seed=0, indices=range(2), steps=3, eta=1.0).audio
    assert out.shape == (2, len(lr))
    # below the crossfade, the output is the input, its level restored too: within 1 dB (LSD 0.1), the rest
    # being leakage of the invented band through the STFT's overlapping frames
    assert metrics.lsd_lf(0.3 * lr, out, SR, 4000 - random_model.cfg.crossfade_hz).max() < 0.1
    # above it, the model wrote something: different candidates differ
    assert metrics.lsd_hf(out[0], out[1:], SR, 4500)[0] > 0.1


def test_condition_detects_cutoff_and_resamples(random_model, speechlike):
    lr16 = audio.resample(audio.degrade(speechlike, SR, 6000), SR, 16_000)
    cond = random_model.condition(lr16, 16_000)
    assert cond.sr == SR and cond.extra["length"] == len(speechlike)
    assert cond.cutoff_hz == pytest.approx(6000, rel=0.1)
    assert random_model.noise_shape(cond) == (514, len(speechlike) // 128 + 1)


def test_condition_refuses_short_input_and_notes_an_untrained_cutoff(random_model, speechlike, recwarn):
    with pytest.raises(audio.AudioInputError, match="too short"):
        random_model.condition(speechlike[: int(0.05 * SR)], SR, 4000.0)
    lo, hi = tiny.TRAINED_CUTOFFS_HZ
    for cutoff in (lo, 4000.0, 1.05 * hi):  # above the range (a full-band input, say) there is little to invent
        random_model.condition(speechlike, SR, cutoff)
    assert not [w for w in recwarn if "trained down to" in str(w.message)]
    with pytest.warns(UserWarning, match=f"cutoff {0.9 * lo:.0f} Hz is below the {lo:.0f} Hz the model was trained"):
        random_model.condition(speechlike, SR, 0.9 * lo)


def test_save_load_round_trip(random_model, speechlike, tmp_path):
    path = random_model.save(tmp_path / "m.safetensors")
    loaded = tiny.load(path)
    assert loaded.cfg == random_model.cfg
    cond = random_model.condition(audio.degrade(speechlike, SR, 4000), SR, 4000)
    a = sampler.generate(random_model, cond, seed=1, indices=range(2), steps=4).audio
    b = sampler.generate(loaded, cond, seed=1, indices=range(2), steps=4).audio
    assert np.max(np.abs(a - b)) < 1e-2  # fp16 weights


def test_missing_or_foreign_checkpoint_gives_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="tsr train"):
        tiny.load(tmp_path / "nothing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a tsrlib checkpoint"):
        tiny.load(tmp_path / "junk.safetensors")
    with pytest.raises(CheckpointError, match="no shipped model 'tiny-rael'.*tiny-real"):
        tiny.load("tiny-rael")


def test_guidance_is_refused(random_model, speechlike):
    cond = random_model.condition(audio.degrade(speechlike, SR, 4000), SR, 4000)
    with pytest.raises(ValueError, match="guidance"):
        random_model.denoise(torch.zeros(1, 514, 10), torch.ones(1), cond, guidance_scale=3.0)


def test_oracle_noise_fill_beats_the_input_and_finds_a_level(speechlike):
    lr = audio.degrade(speechlike, SR, 4000)
    filled, gain = baselines.oracle_noise_fill(lr, speechlike, SR, 4000)
    assert -100 < gain < 0
    assert metrics.lsd(speechlike, filled)[0] < 0.7 * metrics.lsd(speechlike, lr)[0]
    worse = baselines.noise_fill(lr, SR, 4000, gain + 12)
    assert metrics.lsd(speechlike, worse)[0] > metrics.lsd(speechlike, filled)[0]


def test_long_input_is_chunked_and_reproducible(random_model, speechlike):
    from tsrlib.upsample import upsample

    x = audio.degrade(np.tile(speechlike, 3), SR, 4000)  # 9 s, chunks of 4 s with 1 s overlap
    a = upsample(
        random_model, x, SR, cutoff_hz=4000, seed=2, indices=(0, 1), steps=2, chunk_seconds=4, overlap_seconds=1
    )
    b = upsample(random_model, x, SR, cutoff_hz=4000, seed=2, indices=(1,), steps=2, chunk_seconds=4, overlap_seconds=1)
    assert a.audio.shape == (2, len(x))
    np.testing.assert_allclose(a.audio[1], b.audio[0], atol=1e-5)
    assert a.nfe == 3 * 2 * 2  # chunks x candidates x steps


def plain_and_extended(**option):
    """A small random model whose zero-initialised layers were given weights, and the same weights loaded into a
    model with ``option`` on; returns ``(plain, extended, names of the extended model's missing weights)``."""
    torch.manual_seed(0)
    plain = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2))).eval()
    for p in [*plain.net.out.parameters(), *(b.conv2.weight for b in plain.net.blocks)]:  # zero at init
        torch.nn.init.normal_(p, std=0.05)
    extended = tiny.TinySR(tiny.ModelConfig(hidden=32, dilations=(1, 2), **option)).eval()
    missing, unexpected = extended.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing
    return plain, extended, missing


def test_global_context_starts_silent_and_keeps_examples_apart(speechlike):
    local, glob, missing = plain_and_extended(global_context=True)
    assert all(".glob." in k for k in missing)
    cond = glob.condition(audio.degrade(speechlike, SR, 4000), SR, 4000)
    x = sampler.CandidateNoise(seed=0, indices=range(3)).initial(glob.noise_shape(cond))
    t = torch.full((3,), 0.5)
    # zero-initialised, the clip-wide branch changes nothing
    torch.testing.assert_close(glob.denoise(x, t, cond)[0], local.denoise(x, t, cond)[0])
    for blk in glob.net.blocks:
        torch.nn.init.normal_(blk.glob.weight, std=0.1)
    v = glob.denoise(x, t, cond)[0]
    assert not torch.allclose(v, local.denoise(x, t, cond)[0])
    # each example's clip-wide mean is its own: a candidate alone equals it in a batch
    torch.testing.assert_close(glob.denoise(x[1:2], t[1:2], cond)[0], v[1:2], atol=1e-5, rtol=1e-4)


def test_band_code_is_written_exactly_and_the_noise_stays_white():
    g = torch.Generator().manual_seed(0)
    model = tiny.TinySR(tiny.ModelConfig(hidden=16, dilations=(1,)))
    mask = model.band_mask(torch.tensor([4000.0, 8000.0, 11000.0, 6000.0]), 4)
    noise = torch.randn(4, 2 * model.cfg.bins, 50, generator=g)
    code = torch.randn(4, 2, generator=g)
    coded = tiny.write_band_code(noise, mask, code)
    torch.testing.assert_close(tiny.read_band_code(coded, mask), code, atol=1e-4, rtol=1e-4)
    known = torch.cat([mask, mask], 1).bool()
    assert torch.equal(coded[known], noise[known])  # the given band's noise is untouched
    # over many draws with code ~ N(0, 1), every value of the coded noise is still N(0, 1) and uncorrelated
    n = torch.randn(4000, 2 * model.cfg.bins, 4, generator=g)
    m = model.band_mask(torch.full((4000,), 9000.0), 4000)
    c = tiny.write_band_code(n, m, torch.randn(4000, 2, generator=g))
    hf = c[:, ~torch.cat([m[0], m[0]]).bool()]  # [4000, bins of the band, 4]
    assert abs(hf.mean()) < 0.01 and abs(hf.std() - 1) < 0.01
    pairs = hf[:, 0, :2]  # two frames of one bin: their correlation stays ~0
    assert abs(torch.corrcoef(pairs.T)[0, 1]) < 0.05


def test_a_code_prior_moves_each_candidates_gain_code_and_nothing_else(speechlike):
    cfg = tiny.ModelConfig(hidden=16, dilations=(1,), band_code=True)
    plain, shifted = tiny.TinySR(cfg), tiny.TinySR(replace(cfg, code_prior=(-1.5, 0.5)))
    cond = plain.condition(audio.degrade(speechlike, SR, 4000), SR, 4000)
    x = sampler.CandidateNoise(seed=0, indices=range(4)).initial(plain.noise_shape(cond))
    assert plain.initial_noise(x, cond) is x  # no prior: the noise as drawn
    y = shifted.initial_noise(x, cond)
    mask = cond.features["mask"].expand(4, -1)
    z, w = tiny.read_band_code(x, mask), tiny.read_band_code(y, mask)
    torch.testing.assert_close(w[:, 0], -1.5 + 0.5 * z[:, 0], atol=1e-4, rtol=1e-4)  # gain: mean + std z
    torch.testing.assert_close(w[:, 1], z[:, 1], atol=1e-4, rtol=1e-4)  # tilt: as drawn
    known = torch.cat([mask, mask], 1).bool()
    assert torch.equal(y[known], x[known])  # the given band's noise is untouched
    band = ~known[0]
    real = band.clone()
    real[mask.shape[1] :] = False
    shift = (y - x)[:, real]  # one offset per candidate over the band's real parts: the deviations are kept
    assert (shift.std((1, 2)) < 1e-5).all() and (shift.mean((1, 2)).abs() > 1e-4).all()
    # the sampler's starting noise is the hook's output, candidate by candidate
    torch.testing.assert_close(sampler.initial_noise(shifted, cond, sampler.CandidateNoise(0, [2])), y[2:3])


def test_a_code_prior_is_two_numbers_on_a_band_code_model_and_round_trips():
    cfg = tiny.ModelConfig(band_code=True, code_prior=(-1, 2))
    assert cfg.code_prior == (-1.0, 2.0) and "code_prior=(-1.0, 2.0)" in repr(cfg)
    assert tiny.ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    # a config without one reprs (and so fingerprints) as configs did before the field existed
    assert "code_prior" not in repr(tiny.ModelConfig(band_code=True))
    assert tiny.parse_code_prior("-1.5:1") == (-1.5, 1.0) and tiny.parse_code_prior("none") is None
    for bad, message in [
        ({"code_prior": (-1.5, 1)}, "needs a band_code model"),
        ({"band_code": True, "code_prior": (-1.5, 0)}, "std > 0"),
        ({"band_code": True, "code_prior": (float("nan"), 1)}, "finite"),
        ({"band_code": True, "code_prior": ("a", "b")}, "two numbers"),
    ]:
        with pytest.raises(ConfigError, match=message):
            tiny.ModelConfig(**bad)
    with pytest.raises(ConfigError, match="MEAN:STD"):
        tiny.parse_code_prior("-1.5")


def test_band_code_starts_silent_then_steers_each_candidate_alone(speechlike):
    plain, coded, missing = plain_and_extended(band_code=True)
    assert all(k.startswith("net.code.") for k in missing)
    cond = coded.condition(audio.degrade(speechlike, SR, 4000), SR, 4000)
    x = sampler.CandidateNoise(seed=0, indices=range(3)).initial(coded.noise_shape(cond))
    t = torch.full((3,), 0.9)
    torch.testing.assert_close(
        coded.denoise(x, t, cond)[0], plain.denoise(x, t, cond)[0]
    )  # zero-initialised: no change
    torch.nn.init.normal_(coded.net.code[2].weight, std=0.1)
    mask = cond.features["mask"].expand(3, -1)
    flipped = tiny.write_band_code(x, mask, -tiny.read_band_code(x, mask))
    v, w = coded.denoise(x, t, cond)[0], coded.denoise(flipped, t, cond)[0]
    assert not torch.allclose(v, plain.denoise(x, t, cond)[0])
    # the code moves the output far more than the tiny change it makes to the noise itself
    assert (v - w).abs().mean() > 10 * (plain.denoise(x, t, cond)[0] - plain.denoise(flipped, t, cond)[0]).abs().mean()
    torch.testing.assert_close(coded.denoise(x[2:], t[2:], cond)[0], v[2:], atol=1e-5, rtol=1e-4)  # alone = in a batch
