"""The real-recordings corpus: package fetching and its errors, bandwidth measurement, disjoint splits, and the
training side (bandwidth masks, measured band codes). Offline tests run on fake package trees of the real layout."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tsrlib import audio
from tsrlib.data import corpus, manifest, real
from tsrlib.errors import TsrError
from tsrlib.train.data import SegmentSampler
from tsrlib.train.losses import band_weights


def noise_file(path: Path, sr: int, seconds: float, band_hz: float | None, seed: int) -> Path:
    """A noise burst with a 50 ms fade, low-passed at ``band_hz`` (None: full band)."""
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal(int(seconds * sr))
    if band_hz is not None:
        x = audio.degrade(x.astype(np.float32), sr, band_hz, "cheby1")
    fade = np.minimum(1, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / (0.05 * sr))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), (x * fade).astype(np.float32), sr)
    return path


@pytest.fixture(scope="module")
def fake_packages(tmp_path_factory) -> Path:
    """A package cache holding trees laid out as the real packages are (no .sf2: instruments are left out)."""
    cache = tmp_path_factory.mktemp("debs")
    voices = cache / "ktuberling-data/usr/share/ktuberling/sounds"
    for k, lang in enumerate(["en", "ga", "de"]):  # test, val, train
        for i in range(8):
            noise_file(voices / lang / f"word{i}.ogg", 44_100, 0.6, None, 100 * k + i)
        noise_file(voices / lang / "narrow.ogg", 44_100, 0.6, 3000.0, 100 * k + 99)  # an 8 kHz-era recording
    kits = cache / "hydrogen-drumkits/usr/share/hydrogen/data/drumkits"
    for kit in ["The Black Pearl 1.0", "Gimme A Hand 1.0", "SomeTrainKit"]:
        for name in ["Kick.wav", "Snare.flac", "HiHat.wav", "Tom.wav"]:
            noise_file(kits / kit / name, 44_100, 0.2, None, sum(map(ord, kit + name)))
    for pkg, sub in [
        ("frozen-bubble-data", "usr/share/games/frozen-bubble/snd"),
        ("kgoldrunner", "usr/share/kgoldrunner"),
        ("kapman", "usr/share/sounds/kapman"),
        ("granatier", "usr/share/granatier/sounds"),
        ("knavalbattle", "usr/share/knavalbattle/sounds"),
        ("kolf", "usr/share/kolf/sounds"),
        ("sound-theme-freedesktop", "usr/share/sounds/freedesktop"),
    ]:
        noise_file(cache / pkg / sub / "full.ogg", 44_100, 1.0, None, len(pkg))
        noise_file(cache / pkg / sub / "dull.ogg", 44_100, 1.0, 4000.0, len(pkg) + 1)
    for pkg in real.PACKAGES:
        (cache / pkg).mkdir(exist_ok=True)
        (cache / pkg / ".complete").write_text(pkg)
    return cache


def test_measure_bandwidth_finds_the_recorded_band_not_the_file_rate(tmp_path):
    for band in (4000.0, 11000.0):
        x, sr = audio.load(noise_file(tmp_path / "x.wav", 44_100, 1.0, band, 0), sr=None)
        assert real.measure_bandwidth(x, sr) == pytest.approx(band, rel=0.1)


def test_band_energy_is_the_share_above_a_frequency_in_db():
    sr = 24_000
    x = 0.1 * np.random.default_rng(0).standard_normal(3 * sr).astype(np.float32)
    assert real.band_energy_db(x, sr, 8000) == pytest.approx(10 * np.log10(1 / 3), abs=0.15)  # white: a third
    assert real.band_energy_db(x, sr, 0) == pytest.approx(0.0, abs=1e-9)
    assert real.band_energy_db(audio.degrade(x, sr, 4000), sr, 5000) < -60  # the low-pass left nothing up there
    tone = np.sin(2 * np.pi * 1000 * np.arange(sr) / sr)
    assert real.band_energy_db(tone, sr, 8000) < -100


def test_a_cached_package_is_used_without_asking_apt(fake_packages, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no apt here: the cache must suffice
    assert real.package_root("ktuberling-data", fake_packages) == fake_packages / "ktuberling-data"


def test_missing_package_is_a_clear_error(tmp_path, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(shutil, "which", lambda name: None)
        with pytest.raises(TsrError, match="apt-get install ktuberling-data"):
            real.package_root("ktuberling-data", tmp_path)
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not on this machine")
    with pytest.raises(TsrError, match="cannot fetch the Debian package tsr-no-such-package"):
        real.package_root("tsr-no-such-package", tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-made is left behind


def test_speech_clips_keep_voices_apart_and_drop_narrow_recordings(fake_packages):
    sources = real.speech_sources(fake_packages / "ktuberling-data")
    clips = list(real.speech_clips(sources, 24_000, seed=0))
    again = list(real.speech_clips(sources, 24_000, seed=0))
    assert [c[0] for c in clips] == [c[0] for c in again]
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(clips, again))
    by_split = {}
    for cid, x, f in clips:
        lang = f["params"]["language"]
        assert f["split"] == real.SPEECH_SPLITS[lang] and f["speaker"] == f"voice:{lang}"
        assert "narrow" not in f["params"]["words"] + f["params"]["cut_word"]
        assert f["transcript"] == (" ".join(f["params"]["words"]) if lang == "en" else "")
        assert f["params"]["bandwidth_hz"] >= (
            real.MIN_TEST_BANDWIDTH_HZ if f["split"] != "train" else real.MIN_BANDWIDTH_HZ
        )
        assert len(x) <= int(real.SPEECH_SECONDS * 24_000)
        by_split.setdefault(f["split"], set()).add(f["speaker"])
    assert set(by_split) == {"train", "val", "test"}
    assert not (by_split["train"] & by_split["test"]) and not (by_split["train"] & by_split["val"])


def test_real_build_is_deterministic_and_split_by_voice_kit_and_package(fake_packages, tmp_path, monkeypatch):
    monkeypatch.setenv("TSR_DEB_CACHE", str(fake_packages))
    domains = ("speech", "sfx")
    a = manifest.load(corpus.build(tmp_path / "a", size="real", domains=domains, progress=False))
    drums = list(real.drum_clips(real.kit_sources(fake_packages / "hydrogen-drumkits"), 24_000, 0))
    b = manifest.load(corpus.build(tmp_path / "b", size="real", domains=domains, progress=False))
    assert list(a.sha256) == list(b.sha256) and a.id.is_unique
    params = [json.loads(p) for p in a.params]
    assert all(p["bandwidth_hz"] > 0 for p in params)
    sfx = a[a.domain == "sfx"]
    assert set(sfx.source) == set(real.SFX_SPLITS) and not sfx.id.str.contains("dull").any()
    assert all(real.SFX_SPLITS[s] == sp for s, sp in zip(sfx.source, sfx.split))
    groups = a.assign(group=[s or src for s, src in zip(a.speaker, a.source)]).groupby("group").split.nunique()
    assert (groups == 1).all()
    kits = {}
    for cid, x, f in drums:
        kits.setdefault(f["params"]["kit"], set()).add(f["split"])
        assert np.isfinite(x).all() and 0.5 < np.abs(x).max() <= 0.7 + 1e-6
    assert kits == {"The Black Pearl 1.0": {"test"}, "Gimme A Hand 1.0": {"val"}, "SomeTrainKit": {"train"}}


def test_narrow_clips_get_cutoffs_below_their_band_and_no_loss_above_it(tmp_path):
    rows = []
    for i, band in enumerate([6000.0, None]):
        p = noise_file(tmp_path / f"c{i}.wav", 24_000, 2.0, band, i)
        rows.append(
            {
                "id": f"c{i}",
                "domain": "speech",
                "split": "train",
                "path": p.name,
                "sample_rate": 24_000,
                "params": json.dumps({"bandwidth_hz": band} if band else {}),
            }
        )
    m = manifest.write(rows, tmp_path / "manifest.csv")
    s = SegmentSampler(m, "train", domains=("speech",))
    assert s.bandwidths == [6000.0, 12_000.0]  # recorded in the manifest, else the Nyquist frequency
    rng = np.random.default_rng(0)
    cuts = [s.draw_cutoff(rng, 6000.0) for _ in range(200)]
    assert max(cuts) < 0.9 * 6000.0 and min(cuts) >= s.cutoff_range[0]
    b = s.batch(8, rng)
    assert set(b.bandwidth.tolist()) <= {6000.0, 12_000.0}
    freqs = torch.arange(257) * 24_000 / 512
    w = band_weights(freqs, b.cutoff, bandwidth=b.bandwidth)[:, :257, 0]
    for row, bw, c in zip(w, b.bandwidth, b.cutoff):
        assert (row[freqs > bw] == 0).all() and (row[(freqs >= c) & (freqs <= bw)] == 1).all()


def test_measured_band_codes_are_standard_normal_quantiles(tmp_path):
    p = noise_file(tmp_path / "c.wav", 24_000, 4.0, None, 3)
    m = manifest.write(
        [{"id": "c", "domain": "speech", "split": "train", "path": p.name, "sample_rate": 24_000, "params": "{}"}],
        tmp_path / "manifest.csv",
    )
    s = SegmentSampler(m, "train", domains=("speech",), band_code=True, code_source="measured")
    with pytest.raises(ValueError, match="calibrate"):
        s.batch(2, np.random.default_rng(0))
    table = s.calibrate(64, np.random.default_rng(1))
    assert table.shape == (64, 2) and (np.diff(table, axis=0) >= 0).all()
    assert np.abs(s.to_code(np.median(table, axis=0))).max() < 0.05
    assert s.to_code(table[-1] + 100).tolist() == pytest.approx([2.42, 2.42], abs=0.01)  # clipped to the table's top
    codes = s.batch(16, np.random.default_rng(2)).code
    assert codes.shape == (16, 2) and codes.abs().max() <= 3


@pytest.mark.slow
def test_the_real_packages_build_a_real_corpus(tmp_path, monkeypatch):
    """Downloads about 350 MB of Debian packages (once, into data/packages) and builds the real corpus."""
    if (
        shutil.which("apt-get") is None
        or subprocess.run(["apt-get", "download", "--print-uris", "kapman"], capture_output=True).returncode
    ):
        pytest.skip("no Debian package registry here")
    df = manifest.load(corpus.build(tmp_path / "real", size="real", progress=False))
    counts = df.groupby(["domain", "split"]).size()
    assert counts["speech"]["test"] >= 24 and counts["speech"]["train"] >= 200
    assert set(df.domain) == set(manifest.DOMAINS)
