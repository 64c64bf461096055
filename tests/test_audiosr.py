"""The AudioSR backend on randomly initialised models of the package's own classes (reduced widths; the full size is a
slow test): batched explicit noises, batch independence, guidance, intermediate levels, decoding, NFE, checkpoints."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from tests.extras import skip_unless
from tsrlib import sampler, schedule
from tsrlib.errors import CheckpointError, TsrError
from tsrlib.models import audiosr as A
from tsrlib.search import EarlyRejection, RandomSearch, SearchOverPaths

IN_SR = 16_000


@pytest.fixture(scope="module", autouse=True)
def audiosr_installed() -> None:
    """Skip where the audiosr package (or what its classes import) is absent; in CI, which installs it, fail."""
    try:
        A.import_audiosr()
    except A.MissingDependencyError as e:
        skip_unless(False, str(e))


@pytest.fixture(scope="module")
def model() -> A.AudioSR:
    return A.random_init(reduced=True, seed=0)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """1.5 s at 16 kHz: a decaying 220 Hz tone with its harmonics and a little noise."""
    t = np.arange(int(1.5 * IN_SR)) / IN_SR
    x = sum(0.2 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 8)) * np.exp(-t)
    return (x + 0.005 * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def cond(model, clip):
    return model.condition(clip, IN_SR, 4000.0)


def test_condition_pads_to_the_frame_unit_and_encodes_a_latent(model, cond, clip):
    n48 = len(clip) * 3  # 16 kHz -> 48 kHz
    assert cond.sr == A.SR and len(cond.audio) == n48 and cond.extra["length"] == n48
    frames = 2 * 128  # 1.5 s padded to 2 x 1.28 s, 100 mel frames per second
    assert cond.features["mel"].shape == (1, frames, A.N_MELS)
    assert model.noise_shape(cond) == (16, frames // 8, 32)
    assert cond.features["cond"].shape == (1, 16, frames // 8, 32)
    assert cond.extra["gain"] == pytest.approx(0.5 / np.max(np.abs(cond.audio - cond.audio.mean())), rel=1e-5)
    # the mel bins kept from the input are those wholly below the 4 kHz cutoff
    k = cond.extra["mel_cutoff_bin"]
    assert model._mel_top_hz[k - 1] <= 4000 < model._mel_top_hz[k]


def test_model_time_matches_the_models_own_noise_levels(model):
    """tsrlib's time t and the fractional DDPM step it maps to have the same signal-to-noise ratio."""
    t = torch.linspace(0.02, 0.98, 25, dtype=torch.float64)
    tau = model.model_time(t).double()
    ac = model.ld.alphas_cumprod.double()
    lo, frac = tau.floor().long(), tau - tau.floor()
    ac_tau = torch.exp((1 - frac) * torch.log(ac[lo]) + frac * torch.log(ac[(lo + 1).clamp_max(999)]))
    a, _ = schedule.alpha_sigma(t)
    np.testing.assert_allclose(ac_tau.numpy(), (a**2).numpy(), rtol=0.02)
    assert torch.all(tau[1:] > tau[:-1])  # noisier time, later step


def test_guidance_is_one_batch_of_the_two_upstream_passes(model, cond):
    """v with guidance g equals upstream's v_u + g (v_c - v_u) from a conditional and an unconditional pass."""
    x = torch.randn((2, *model.noise_shape(cond)), generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.7, 0.3])
    v, evals = model.denoise(x, t, cond, 3.5)
    v_c, e_c = model.denoise(x, t, cond, 1.0)
    uncond = dataclasses.replace(
        cond, features={**cond.features, "cond": torch.full_like(cond.features["cond"], -11.4981)}
    )
    v_u, _ = model.denoise(x, t, uncond, 1.0)
    assert (evals, e_c) == (2, 1)
    torch.testing.assert_close(v, v_u + 3.5 * (v_c - v_u), rtol=1e-4, atol=1e-4)
    assert (v - v_c).abs().max() > 1e-3  # guidance changes the prediction


def test_explicit_noises_batched_match_each_candidate_alone(model, cond):
    noise = sampler.CandidateNoise(7, [0, 1, 2])
    x_T = noise.initial(model.noise_shape(cond))
    batch, nfe = sampler.sample_from(model, cond, x_T, noise, steps=3, eta=1.0, guidance_scale=3.5)
    assert nfe == 3 * 3 * 2
    for k in range(3):
        alone = sampler.CandidateNoise(7, [k])
        one, _ = sampler.sample_from(model, cond, alone.initial(model.noise_shape(cond)), alone, steps=3, eta=1.0)
        assert not torch.allclose(one[0], batch[k], atol=1e-4)  # unguided differs from guided ...
        alone = sampler.CandidateNoise(7, [k])
        one, _ = sampler.sample_from(
            model, cond, alone.initial(model.noise_shape(cond)), alone, steps=3, eta=1.0, guidance_scale=3.5
        )
        torch.testing.assert_close(one[0], batch[k], rtol=1e-4, atol=1e-4)  # ... and candidate k ignores its batch


def test_generate_is_deterministic_per_seed_and_counts_guided_nfe(model, cond):
    a = sampler.generate(model, cond, 3, [0, 1], steps=3, guidance_scale=3.5)
    b = sampler.generate(model, cond, 3, [0, 1], steps=3, guidance_scale=3.5)
    c = sampler.generate(model, cond, 4, [0, 1], steps=3, guidance_scale=3.5)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert (a.x0 - c.x0).abs().max() > 0.1 and not np.array_equal(a.audio, c.audio)  # random weights: a faint band
    assert a.nfe == 2 * 3 * 2
    assert sampler.generate(model, cond, 3, [0, 1], steps=3, guidance_scale=1.0).nfe == 2 * 3


def _compiled_run(cond, monkeypatch=None) -> None:
    """Sample 2 candidates, compile the UNet, sample again: the same audio, every UNet call through the compiled one,
    and the weights, their names and the fingerprint unchanged. With ``monkeypatch``, ``torch.compile`` is replaced by
    a pass-through (what tsrlib does around the compiled call); without it, dynamo really traces the UNet (eager
    backend: no code generation)."""
    from tsrlib.search.cache import model_fingerprint

    eager = A.random_init(reduced=True, seed=0)  # its own model: the module fixture stays uncompiled
    keys, print_ = list(eager.state_dict()), model_fingerprint(eager)
    want = sampler.generate(eager, cond, 3, [0, 1], steps=2, guidance_scale=3.5)
    asked, steps = [], []
    if monkeypatch is not None:
        monkeypatch.setattr(torch, "compile", lambda fn, **kw: asked.append(kw) or fn)
        monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    assert eager.compile(backend="eager") is eager and eager.compile(backend="eager")._graph_step is eager._graph_step
    step = eager._graph_step
    calls = []
    step.__dict__["compiled"] = lambda *a, compiled=step.compiled, **k: calls.append(a[0].shape[0]) or compiled(*a, **k)
    got = sampler.generate(eager, cond, 3, [0, 1], steps=2, guidance_scale=3.5)
    assert calls == [4, 4]  # every UNet call went through the compiled one: 2 steps, cond and uncond of 2 candidates
    np.testing.assert_array_equal(got.audio, want.audio)
    assert eager.ld.model.diffusion_model is not step  # swapped in only while denoise runs
    assert list(eager.state_dict()) == keys and model_fingerprint(eager) == print_
    if monkeypatch is not None:
        assert asked == [{"backend": "eager"}] and len(steps) == 2  # compiled once; a graph step per UNet call
        A.AudioSR(eager.ld, eager.cfg).compile()
        assert asked[-1] == {"backend": "inductor", "mode": "reduce-overhead"}  # the default: CUDA graphs


def test_a_compiled_unet_samples_the_same_and_keeps_the_weights_and_their_names(cond, monkeypatch):
    _compiled_run(cond, monkeypatch)


@pytest.mark.slow
def test_dynamo_traces_the_unet_to_the_same_samples(cond):
    _compiled_run(cond)  # about 5 min on 2 busy cores


def test_an_intermediate_stop_and_restart_equals_the_whole_run(model, cond):
    ts = schedule.timesteps(4)
    x_T = sampler.CandidateNoise(0, [0, 1]).initial(model.noise_shape(cond))
    whole = sampler.sample_ddim(model, cond, x_T, ts, guidance_scale=3.5)
    mid = sampler.sample_ddim(model, cond, x_T, ts, stop=2, guidance_scale=3.5)
    rest = sampler.sample_ddim(model, cond, mid.x, ts, start=2, guidance_scale=3.5)
    assert (mid.stop, mid.nfe, rest.nfe, whole.nfe) == (2, 2 * 2 * 2, 2 * 2 * 2, 2 * 4 * 2)
    torch.testing.assert_close(rest.x, whole.x, rtol=1e-4, atol=1e-4)


def test_decoding_keeps_length_loudness_and_the_inputs_low_band(model, cond):
    x0 = sampler.CandidateNoise(0, [0, 1]).initial(model.noise_shape(cond))
    mel = model.decode_mel(x0, cond)
    k = cond.extra["mel_cutoff_bin"]
    assert mel.shape == (2, 256, A.N_MELS)
    torch.testing.assert_close(mel[..., :k], cond.features["mel"].expand(2, -1, -1)[..., :k])
    y = model.decode(x0, cond)
    assert y.shape == (2, len(cond.audio)) and y.dtype == np.float32 and np.isfinite(y).all()
    spec_in = np.abs(np.fft.rfft(cond.audio))
    f = np.fft.rfftfreq(len(cond.audio), 1 / A.SR)
    low = f < 3000  # below the crossover: the input, at its own level (not upstream's 0.5 peak)
    for yk in y:
        spec = np.abs(np.fft.rfft(yk))
        np.testing.assert_allclose(spec[low], spec_in[low], rtol=1e-3, atol=1e-3 * spec_in.max())


def test_random_search_and_paths_count_guided_nfe(model, clip):
    res = RandomSearch(n=3, steps=3).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    assert res.searcher["guidance_scale"] == 3.5  # the model's default, recorded
    assert res.nfe == 3 * 3 * 2 == RandomSearch(n=3, steps=3, guidance_scale=3.5).nfe()
    assert res.sr == A.SR and res.audio.shape == (len(clip) * 3,)
    paths = SearchOverPaths(n=2, m=2, delta_f=1, delta_b=2, steps=4)
    res = paths.run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    assert res.nfe == SearchOverPaths(n=2, m=2, delta_f=1, delta_b=2, steps=4, guidance_scale=3.5).nfe()
    assert res.nfe == 2 * paths.nfe()  # every step runs cond and uncond
    assert RandomSearch(steps=3, guidance_scale=3.5).fit(24).n == 4 and RandomSearch(steps=3).fit(24).n == 8


def test_early_rejection_finishes_random_searchs_candidates_from_decoded_previews(model, clip):
    """Previews are intermediate x0s decoded through the VAE and vocoder; the kept paths finish as random search's."""
    s = EarlyRejection(n=4, keep=2, reject_at=1, steps=3)
    res = s.run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0, seed=2)
    guided = EarlyRejection(n=4, keep=2, reject_at=1, steps=3, guidance_scale=3.5)
    assert res.nfe == 2 * (4 * 1 + 2 * 2) == guided.nfe() < RandomSearch(n=4, steps=3, guidance_scale=3.5).nfe()
    previews = [c for c in res.candidates if not c.final]
    finals = [c for c in res.candidates if c.final]
    assert len(previews) == 4 and len(finals) == 2 and {c.level for c in previews} == {1}
    frame = res.frame()
    (axis,) = res.candidates[0].scores  # mbr's one axis, higher is better
    assert sorted(c.parent for c in finals) == sorted(frame[~frame.final].nlargest(2, axis).id)
    full = RandomSearch(n=4, steps=3).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0, seed=2)
    by_noise = {c.noise: full.audio_of[c.id] for c in full.candidates}
    # random weights invent a faint band: candidates differ by about 1e-5, so compare far below that
    assert min(np.abs(by_noise["k=0"] - by_noise[f"k={k}"]).max() for k in (1, 2, 3)) > 5e-6
    for c in finals:
        np.testing.assert_allclose(res.audio_of[c.id], by_noise[c.noise], rtol=0, atol=5e-7)
    keep_all = EarlyRejection(n=3, keep=3, reject_at=2, steps=3).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    base = RandomSearch(n=3, steps=3).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    np.testing.assert_allclose(keep_all.audio, base.audio, rtol=0, atol=5e-7)


def test_a_saved_checkpoint_loads_to_the_same_model(model, cond, clip, tmp_path):
    path = model.save(tmp_path / "ckpt.pt")
    again = A.load(path)
    assert again.cfg == model.cfg and again.name == "ckpt"
    a = sampler.generate(model, cond, 0, [0], steps=2, guidance_scale=3.5).audio
    b = sampler.generate(again, again.condition(clip, IN_SR, 4000.0), 0, [0], steps=2, guidance_scale=3.5).audio
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_missing_or_wrong_checkpoints_say_what_to_fetch(model, tmp_path):
    with pytest.raises(CheckpointError, match="huggingface.co/haoheliu/audiosr_basic"):
        A.load(None)
    with pytest.raises(CheckpointError, match="not found.*audiosr_basic"):
        A.load(tmp_path / "pytorch_model.bin")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'state_dict'"):
        A.load(tmp_path / "other.pt")
    state = {k: v for k, v in model.ld.state_dict().items() if not k.startswith("model.")}
    torch.save({"state_dict": state, "tsr_config": model.cfg}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="weights missing.*not an AudioSR checkpoint"):
        A.load(tmp_path / "partial.pt")
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        A.load(tmp_path / "junk.bin")


def test_placeholders_stand_only_for_what_super_resolution_never_calls():
    A.import_audiosr()
    for mod in A.OPTIONAL_IMPORTS:  # the rest of the process sees the real packages (or their absence)
        assert not isinstance(sys.modules.get(mod), A._Placeholder)
    clap = sys.modules["audiosr.clap.training.data"]
    assert isinstance(clap, A._Placeholder)
    with pytest.raises(A.MissingDependencyError, match="roberta-base"):
        clap.get_audio_features()


def test_cli_random_search_on_a_random_init_checkpoint(model, clip, tmp_path):
    ckpt = model.save(tmp_path / "audiosr-random.pt")
    sf.write(tmp_path / "in.wav", clip, IN_SR)
    args = ["upsample", tmp_path / "in.wav", "-o", tmp_path / "out.wav", "--model", "audiosr", "--checkpoint", ckpt]
    args += ["--search", "random", "--n", "2", "--steps", "3", "--cutoff", "4000", "--report", tmp_path / "r.json"]
    r = subprocess.run([sys.executable, "-m", "tsrlib.cli", *map(str, args)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["nfe"] == 2 * 3 * 2 and out["candidates"] == 2 and out["sample_rate"] == A.SR
    assert out["search"]["guidance_scale"] == 3.5
    y, sr = sf.read(tmp_path / "out.wav")
    assert sr == A.SR and len(y) == len(clip) * 3
    r = subprocess.run(
        [sys.executable, "-m", "tsrlib.cli", "upsample", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav")]
        + ["--model", "audiosr"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr and "audiosr_basic" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "tsrlib.cli", "upsample", str(tmp_path / "in.wav"), "-o", str(tmp_path / "o.wav")]
        + ["--compile"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr and "--compile is for --model audiosr" in r.stderr


def test_denoiser_flops_count_what_a_guided_step_of_the_real_model_computes(model, cond):
    """The meta-device count equals FlopCounterMode's count of a real guided step (batch of 3, on the CPU) per
    candidate; without guidance it is half; the latent shape it counts on is the one condition() encodes."""
    from torch.utils.flop_counter import FlopCounterMode

    assert A.latent_shape(model.cfg, 1.5) == model.noise_shape(cond)  # 1.5 s pads to 2 x 1.28 s
    assert A.latent_shape(A.config(False), 5.12) == (16, 64, 32) == A.latent_shape(A.config(False), 0.5)
    x_t = torch.randn(3, *model.noise_shape(cond))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.denoise(x_t, torch.full((3,), 0.5), cond)
    per_candidate = A.denoiser_flops(model.cfg, 1.5)
    assert counter.get_total_flops() == 3 * per_candidate > 0
    assert A.denoiser_flops(model.cfg, 1.5, guided=False) * 2 == per_candidate
    assert A.denoiser_flops(A.config(False), 5.12) > 10 * A.denoiser_flops(A.config(True), 5.12)  # the real widths
    with pytest.raises(TsrError, match="positive"):
        A.latent_shape(model.cfg, 0.0)


@pytest.mark.slow
def test_the_full_size_model_runs_one_guided_step_on_5_12_s():
    """The package's basic configuration at its real widths (random weights): shapes, one guided step, decoding."""
    full = A.random_init(reduced=False)
    assert sum(p.numel() for p in full.ld.model.parameters()) > 100e6  # the UNet alone: hundreds of millions
    x = np.random.default_rng(0).standard_normal(int(5.12 * IN_SR)).astype(np.float32) * 0.1
    cond = full.condition(x, IN_SR, 4000.0)
    assert full.noise_shape(cond) == (16, 64, 32)
    out = sampler.sample_ddim(
        full, cond, torch.randn(1, 16, 64, 32), schedule.timesteps(1), guidance_scale=3.5, amp=False
    )
    assert out.nfe == 2
    assert full.decode(out.x, cond).shape == (1, 5 * IN_SR * 3 + int(0.12 * IN_SR) * 3)


def test_upstream_generate_batch_runs_on_the_same_model_and_input(model, cond):
    """The batch tsrlib hands upstream's own one-candidate path (what bench/audiosr.py times) is the one it expects:
    its output is the padded input's length, peak-normalised to 0.5 as upstream does."""
    y = model.ld.generate_batch(model.upstream_batch(cond), ddim_steps=4, unconditional_guidance_scale=3.5)
    assert y.shape[:2] == (1, 1) and abs(y.shape[-1] - 2 * 1.28 * A.SR) <= A.HOP
    assert np.abs(y).max() == pytest.approx(0.5, abs=1e-3)


def test_importing_audiosr_leaves_the_matplotlib_backend_alone():
    """audiosr calls matplotlib.use("Agg") on import, which would turn a notebook's figures off."""
    code = (
        "import matplotlib.pyplot, matplotlib; from tsrlib.models import audiosr; audiosr.import_audiosr(); "
        "print(matplotlib.get_backend())"
    )
    env = {**__import__("os").environ, "MPLBACKEND": "svg"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "svg"


def test_the_candidate_cache_tells_guidance_and_checkpoints_apart(model, clip, tmp_path):
    from tsrlib.search.cache import CandidateCache, model_fingerprint

    x_T = torch.zeros(1, 2)
    keys = {CandidateCache.key("in", x_T, 3, 0.0, "ddim", None, g) for g in (1.0, 2.0, 3.5)}
    assert len(keys) == 3 and CandidateCache.key("in", x_T, 3, 0.0, "ddim", None) in keys
    other = A.random_init(reduced=True, seed=1)
    assert model_fingerprint(model) != model_fingerprint(other)
    # a cached guided search replays from the cache, and the unguided one does not read its candidates
    cache = tmp_path / "cache"
    first = RandomSearch(n=2, steps=2, cache=cache).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    again = RandomSearch(n=2, steps=2, cache=cache).run(model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0)
    plain = RandomSearch(n=2, steps=2, cache=cache, guidance_scale=1.0).run(
        model, clip, "mbr", sr=IN_SR, cutoff_hz=4000.0
    )
    assert (first.cache_hits, again.cache_hits, plain.cache_hits) == (0, 2, 0)
    np.testing.assert_array_equal(first.audio, again.audio)


def test_a_missing_audiosr_package_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "audiosr" else real(name, *a))
    monkeypatch.delitem(sys.modules, "audiosr.latent_diffusion.models.ddpm")
    with pytest.raises(A.MissingDependencyError, match=r"pip install --no-deps audiosr==0\.0\.7"):
        A.import_audiosr()


@pytest.mark.slow
@pytest.mark.parametrize(
    "chapter", ["03-verifiers", "04-random-search", "05-zero-order-search", "06-search-over-paths"]
)
def test_a_search_chapter_runs_on_audiosr(chapter, model, tiny_corpus, tmp_path):
    """Chapters 3-6 with `-p model_name audiosr -p checkpoint FILE` (here the reduced model's random weights)."""
    import papermill

    from tests.conftest import ROOT

    ckpt = model.save(tmp_path / "audiosr-random.pt")
    params = {"corpus_dir": str(tiny_corpus), "model_name": "audiosr", "checkpoint": str(ckpt), "steps": 8}
    params |= {"clips_per_domain": 1, "n_candidates": 4, "results_dir": str(tmp_path / "results")}
    out = papermill.execute_notebook(
        str(ROOT / "book" / f"{chapter}.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters=params,
        cwd=str(ROOT),
        kernel_name="python3",
        progress_bar=False,
    )
    logs = list((tmp_path / "results").glob("*.csv"))
    assert logs and out.metadata.papermill.exception is None


def test_models_load_dispatches_by_name(model, tmp_path):
    from tsrlib import models
    from tsrlib.errors import ConfigError

    ckpt = model.save(tmp_path / "m.pt")
    assert isinstance(models.load("audiosr", checkpoint=ckpt), A.AudioSR)
    assert models.load("tiny-real").sr == 24_000
    with pytest.raises(CheckpointError, match="needs a local checkpoint"):
        models.load("audiosr", checkpoint="")
    with pytest.raises(ConfigError, match="checkpoint is for the audiosr model"):
        models.load("tiny-real", checkpoint=ckpt)


def test_upsample_chunks_a_long_input_at_the_models_length_with_guidance(model, clip, monkeypatch):
    """Without a search, a file longer than the model's chunk is cut into chunks, each guided (2 NFE per step)."""
    from tsrlib.upsample import upsample

    one = upsample(model, clip, IN_SR, cutoff_hz=4000.0, steps=2)
    assert one.audio.shape == (1, len(clip) * 3) and one.nfe == 2 * 2 and one.sr == A.SR
    monkeypatch.setattr(model, "max_chunk_seconds", 1.0)
    chunked = upsample(model, clip, IN_SR, cutoff_hz=4000.0, steps=2, overlap_seconds=0.25)
    assert chunked.audio.shape == one.audio.shape and chunked.nfe == 2 * one.nfe  # 1.5 s in two 1 s chunks
