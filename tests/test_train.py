"""The trainer: it learns, logs, checkpoints, and resumes to the very same weights; its plug-in points work."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from tsrlib.models import tiny
from tsrlib.train import trainer
from tsrlib.train.timesteps import UniformTimesteps


def config(corpus, out, **kw):
    base = dict(
        manifest=str(corpus / "manifest.csv"),
        out=str(out),
        steps=6,
        batch=2,
        segment_seconds=0.25,
        hidden=16,
        val_every=6,
        ckpt_every=3,
        log_every=2,
        val_clips=1,
        seed=3,
        device="cpu",
        warmup=2,
    )
    return trainer.TrainConfig.from_options(**{**base, **kw})


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_resume_after_a_kill_gives_identical_weights(tiny_corpus, tmp_path, monkeypatch):
    straight = trainer.train(config(tiny_corpus, tmp_path / "a"), log=lambda m: None)
    log = pd.read_csv(tmp_path / "a" / "log.csv")
    assert list(log.step) == [2, 4, 6] and log.val_lsd_4k.notna().iloc[-1] and log.val_lsd_4k.iloc[-1] > 0

    # run 3 steps (a checkpoint is written), then "kill" and start again with the full config
    trainer.train(config(tiny_corpus, tmp_path / "b", steps=3), log=lambda m: None)
    messages = []
    resumed = trainer.train(config(tiny_corpus, tmp_path / "b"), log=messages.append)
    assert any("resumed" in m and "step 3" in m for m in messages)
    torch.testing.assert_close(weights(resumed), weights(straight), atol=0, rtol=0)


def test_loss_falls_on_a_fixed_batch(tiny_corpus, tmp_path):
    cfg = config(tiny_corpus, tmp_path / "c", steps=40, lr=3e-3, val_every=1000, ckpt_every=1000, log_every=20)
    trainer.train(cfg, log=lambda m: None)
    log = pd.read_csv(tmp_path / "c" / "log.csv")
    assert log.loss.iloc[-1] < 0.8 * log.loss.iloc[0]


def test_plug_in_points_are_called(tiny_corpus, tmp_path):
    seen = {"t": [], "features": None}

    class Recording(UniformTimesteps):
        def observe(self, t, losses):
            seen["t"].append(t.clone())

    def extra(ctx):
        seen["features"] = [f.shape for f in ctx.features]
        return 0.0 * ctx.pred.mean()

    trainer.train(
        config(tiny_corpus, tmp_path / "d", steps=2, val_every=100),
        timestep_sampler=Recording(),
        extra_losses=[extra],
        log=lambda m: None,
    )
    assert len(seen["t"]) == 2 and seen["t"][0].shape == (2,)
    assert seen["features"] and all(s[:2] == (2, 16) for s in seen["features"])


def test_regression_mode_and_export_through_the_cli(tiny_corpus, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tsrlib.cli",
            "train",
            "--manifest",
            tiny_corpus / "manifest.csv",
            "--out",
            tmp_path / "r",
            "--mode",
            "regression",
            "--steps",
            "2",
            "--batch",
            "2",
            "--hidden",
            "16",
            "--device",
            "cpu",
            "--export",
            tmp_path / "r.safetensors",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["exported"].endswith("r.safetensors")
    from tsrlib.models import tiny

    m = tiny.load(tmp_path / "r.safetensors")
    assert m.is_regression and m.name == "r"  # named after its file, as `tsr upsample --model` knows it


def test_a_code_prior_given_to_tsr_train_is_stored_in_the_exported_model(tiny_corpus, tmp_path):
    args = ["--manifest", tiny_corpus / "manifest.csv", "--out", tmp_path / "p", "--steps", 1, "--batch", 2]
    args += ["--hidden", 16, "--band-code", "--code-prior", "-1.5:1", "--val-clips", 1, "--val-candidates", 1]
    args += ["--device", "cpu", "--export", tmp_path / "p.safetensors"]
    out = subprocess.run([sys.executable, "-m", "tsrlib.cli", "train", *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    from tsrlib.models import tiny

    assert tiny.load(tmp_path / "p.safetensors").cfg.code_prior == (-1.5, 1.0)
    assert "--code-prior -1.5:1" in json.loads((tmp_path / "p.json").read_text())["command"]  # its provenance


def test_reshape_band_applies_gain_and_tilt_per_octave():
    import numpy as np

    from tsrlib.train.data import reshape_band

    sr, n = 24_000, 24_000
    t = np.arange(n) / sr
    tones = {f: np.sin(2 * np.pi * f * t) for f in (3000.0, 6000.0, 12000.0 - 1000.0)}
    out = reshape_band(sum(tones.values()), sr, cutoff_hz=3000.0, gain_db=-6.0, tilt_db=4.0)
    spec = np.abs(np.fft.rfft(out)) / (n / 2)
    for f in tones:  # each tone is scaled by gain + tilt * octaves above the cutoff
        expect = 10 ** ((-6.0 + 4.0 * np.log2(f / 3000.0)) / 20)
        assert abs(spec[int(f)] - expect) < 1e-3 * expect
    below = reshape_band(np.sin(2 * np.pi * 1000.0 * t), sr, 3000.0, gain_db=-6.0, tilt_db=4.0)
    assert abs(np.abs(np.fft.rfft(below))[1000] / (n / 2) - 10 ** (-6 / 20)) < 1e-3  # below the cutoff: the gain only


def test_init_starts_from_given_weights(tiny_corpus, tmp_path):
    first = trainer.train(config(tiny_corpus, tmp_path / "a", steps=2), log=lambda m: None)
    first.save(tmp_path / "first.safetensors", half=False)
    messages = []
    cfg = config(tiny_corpus, tmp_path / "b", steps=0, init=str(tmp_path / "first.safetensors"), hf_tilt_db=3.0)
    second = trainer.train(cfg, log=messages.append)
    assert any("initialised from" in m for m in messages)
    torch.testing.assert_close(weights(second), weights(first), atol=0, rtol=0)
    with pytest.raises(ValueError, match="config"):
        trainer.train(
            config(tiny_corpus, tmp_path / "c", steps=0, hidden=8, init=str(tmp_path / "first.safetensors")),
            log=lambda m: None,
        )


def test_band_code_batches_carry_the_gain_and_tilt_they_drew(tiny_corpus, monkeypatch):
    import math

    import numpy as np

    from tsrlib.train import data

    drawn = []
    real = data.reshape_band
    monkeypatch.setattr(
        data, "reshape_band", lambda band, sr, c, g, tilt: drawn.append((g, tilt)) or real(band, sr, c, g, tilt)
    )
    s = data.SegmentSampler(
        tiny_corpus / "manifest.csv", "train", segment_seconds=0.25, hf_gain_db=8.0, hf_tilt_db=3.0, band_code=True
    )
    b = s.batch(6, np.random.default_rng(0))
    assert b.code.shape == (6, 2) and len(drawn) == 6
    for (g, tilt), z in zip(
        drawn, b.code.double().numpy()
    ):  # the gain and tilt are the codes' normal quantiles, scaled
        assert g == pytest.approx(8.0 * math.erf(z[0] / math.sqrt(2)), abs=1e-5)
        assert tilt == pytest.approx(3.0 * math.erf(z[1] / math.sqrt(2)), abs=1e-5)
    assert (
        data.SegmentSampler(tiny_corpus / "manifest.csv", "train", segment_seconds=0.25)
        .batch(2, np.random.default_rng(0))
        .code
        is None
    )


def test_band_code_fine_tune_starts_from_plain_weights_and_writes_the_code(tiny_corpus, tmp_path, monkeypatch):
    from tsrlib.models import tiny

    first = trainer.train(config(tiny_corpus, tmp_path / "a", steps=1), log=lambda m: None)
    first.save(tmp_path / "first.safetensors", half=False)
    seen = []
    real = trainer.write_band_code
    monkeypatch.setattr(trainer, "write_band_code", lambda n, m, c: seen.append(c) or real(n, m, c))
    cfg = config(
        tiny_corpus,
        tmp_path / "b",
        steps=2,
        init=str(tmp_path / "first.safetensors"),
        band_code=True,
        hf_tilt_db=2.0,
        val_every=10**6,
    )
    coded = trainer.train(cfg, log=lambda m: None)
    assert coded.cfg.band_code and len(seen) == 2 and seen[0].shape == (2, 2)
    coded.save(tmp_path / "coded.safetensors")
    assert tiny.load(tmp_path / "coded.safetensors").cfg.band_code


def test_a_fine_tune_exports_its_starting_point_provenance_too(tiny_corpus, tmp_path):
    base_cfg = config(tiny_corpus, tmp_path / "a", steps=4)
    trainer.export_with_provenance(
        trainer.train(base_cfg, log=lambda m: None), base_cfg, tmp_path / "base.safetensors", "tsr train (base)"
    )
    ft_cfg = config(tiny_corpus, tmp_path / "b", steps=2, init=str(tmp_path / "base.safetensors"), band_code=True)
    trainer.export_with_provenance(
        trainer.train(ft_cfg, log=lambda m: None), ft_cfg, tmp_path / "ft.safetensors", "tsr train (fine-tune)"
    )
    base = json.loads((tmp_path / "base.json").read_text())
    ft = json.loads((tmp_path / "ft.json").read_text())
    assert ft["init"] == base and ft["command"] == "tsr train (fine-tune)"
    assert ft["train_seconds"] == pytest.approx(base["train_seconds"] + ft["run_seconds"])
    log = pd.read_csv(tmp_path / "ft.log.csv")
    assert list(log.stage.unique()) == ["base", "ft"]
    assert log.step.is_monotonic_increasing and log.step.max() == 4 + 2
    assert set(ft["final_validation"]) == {
        f"val_{kind}_{k}" for k in ("4k", "8k") for kind in ("lsd", "lsd_hf", "mean", "best", "br")
    }


def test_a_fine_tune_of_a_shipped_model_by_name_carries_its_provenance(tiny_corpus, tmp_path):
    cfg = config(tiny_corpus, tmp_path / "t", steps=1, init="tiny", hidden=128, band_code=True, val_clips=1)
    trainer.export_with_provenance(trainer.train(cfg, log=lambda m: None), cfg, tmp_path / "t.safetensors", "tsr train")
    shipped = json.loads((tiny.WEIGHTS_DIR / "tiny.json").read_text())
    assert json.loads((tmp_path / "t.json").read_text())["init"] == shipped


def test_configs_round_trip_and_default_to_the_shipped_network(tmp_path):
    from dataclasses import replace

    for name, differs in [
        ("tiny", {"band_code"}),
        ("regression", {"mode"}),
        ("tiny-real", {"band_code", "prior", "silence_gate_db", "envelope_cap_db"}),
    ]:
        shipped = tiny.load(name).cfg
        assert tiny.ModelConfig.from_dict(json.loads(json.dumps(shipped.to_dict()))) == shipped
        assert {k for k in shipped.to_dict() if getattr(shipped, k) != getattr(tiny.ModelConfig(), k)} == differs
    cfg = trainer.TrainConfig.from_options(
        manifest="m.csv",
        out=str(tmp_path),
        hidden=16,
        band_code=True,
        steps=9,
        prior_smoothing=(1, 3),
        code_prior=(-1.5, 1.0),
    )
    want = tiny.ModelConfig(hidden=16, band_code=True, prior_smoothing=(1, 3), code_prior=(-1.5, 1.0))
    assert cfg.model == want and cfg.steps == 9
    assert trainer.TrainConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown model config keys \\['hiden'\\]"):
        tiny.ModelConfig.from_dict({"hiden": 16})
    with pytest.raises(ValueError, match="band_code needs mode='diffusion'"):
        replace(cfg, model=replace(cfg.model, mode="regression"))


def test_val_clips_are_taken_in_turn_from_each_domain_and_voice():
    assert trainer.in_turn(["a", "a", "b", "c", "b"]) == [0, 2, 3, 1, 4]
    domains = ["music", "music", "music", "music", "speech", "speech", "speech"]
    groups = ["drums", "drums", "piano", "piano", "voice:ga", "voice:gl", "voice:gl"]
    assert trainer.val_indices(domains, groups, 4) == [0, 4, 2, 5]
    assert trainer.val_indices(domains, groups, 99) == [0, 4, 2, 5, 1, 6, 3]  # no more than there are
    assert trainer.val_indices(["sfx"] * 3, ["x"] * 3, 2) == [0, 1]


def test_validation_logs_the_best_of_several_candidates_beside_band_replication(tiny_corpus, tmp_path):
    from tsrlib import audio as tsa
    from tsrlib import metrics
    from tsrlib.models import baselines
    from tsrlib.train.data import SegmentSampler

    cfg = config(tiny_corpus, tmp_path / "v", val_clips=2, val_candidates=3)
    model = tiny.TinySR(cfg.model)
    val = SegmentSampler(cfg.manifest, "val", sr=model.sr)
    out = trainer.validation_lsd(model, val, cfg)
    assert list(out) == trainer.val_columns(3)
    for k in ("4k", "8k"):
        # candidate 0 is one of the three and, on these clips, not the best at either cutoff
        assert 0 < out[f"val_best_{k}"] < out[f"val_lsd_{k}"]
        assert out[f"val_best_{k}"] < out[f"val_mean_{k}"]
    # band replication's column is that baseline's mean LSD on the same inputs
    x = [val.clips[i][: 3 * model.sr] for i in trainer.val_indices(val.domains, val.groups, 2)]
    lrs = [tsa.degrade(c, model.sr, 4000, "cheby1") for c in x]
    br = [metrics.lsd(c, baselines.band_replication(lr, model.sr, 4000))[0] for c, lr in zip(x, lrs)]
    assert out["val_br_4k"] == pytest.approx(sum(br) / 2, rel=1e-6)
    assert trainer.validation_lsd(model, val, cfg) == out  # seeded: the same numbers each time
    one = trainer.validation_lsd(model, val, config(tiny_corpus, tmp_path / "v", val_clips=2, val_candidates=1))
    assert list(one) == trainer.val_columns(1) == ["val_lsd_4k", "val_lsd_hf_4k", "val_lsd_8k", "val_lsd_hf_8k"]
    assert one["val_lsd_4k"] == pytest.approx(out["val_lsd_4k"], rel=1e-6)  # candidate 0: the same, batched or not
    with pytest.raises(ValueError, match="val_candidates must be at least 1"):
        config(tiny_corpus, tmp_path / "v", val_candidates=0)


def test_a_resumed_run_keeps_the_columns_its_log_began_with(tiny_corpus, tmp_path):
    trainer.train(config(tiny_corpus, tmp_path / "o", steps=3, val_candidates=1), log=lambda m: None)
    trainer.train(config(tiny_corpus, tmp_path / "o", val_candidates=2), log=lambda m: None)
    log = pd.read_csv(tmp_path / "o" / "log.csv")
    assert list(log.columns) == ["step", "loss", "lr", "seconds", *trainer.val_columns(1)]
    assert list(log.step) == [2, 3, 4, 6] and log.val_lsd_8k.notna().iloc[-1]  # 3: the first run's last step
