"""The `tsr` command as a user runs it: real subprocesses, JSON out, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

SR = 24_000


def tsr(*args, check=True):
    r = subprocess.run([sys.executable, "-m", "tsrlib.cli", *map(str, args)], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture
def wav(tmp_path, noise):
    p = tmp_path / "in.wav"
    sf.write(p, noise, SR)
    return p


@pytest.mark.parametrize("ext,rate", [("wav", SR), ("flac", 44_100), ("ogg", 16_000)])
def test_degrade_keeps_length_and_rate_and_empties_the_band(tmp_path, noise, ext, rate):
    from tsrlib.audio import resample

    src = tmp_path / f"in.{ext}"
    sf.write(src, resample(noise, SR, rate), rate)
    out = tmp_path / "out.wav"
    info = json.loads(tsr("degrade", src, "-o", out, "--cutoff", 4000).stdout)
    y, sr = sf.read(out)
    assert sr == rate == info["sample_rate"] and len(y) == sf.info(src).frames
    f, p = signal.welch(y, fs=sr, nperseg=2048)
    assert 10 * np.log10(p[f > 5000].sum() / p.sum()) < -50


def test_degrade_resamples_on_request(wav, tmp_path):
    tsr("degrade", wav, "-o", tmp_path / "o.wav", "--cutoff", 8000, "--sr", 16000)
    assert sf.info(tmp_path / "o.wav").samplerate == 16000


def test_lsd_prints_json_with_bands(wav, tmp_path):
    tsr("degrade", wav, "-o", tmp_path / "lo.wav", "--cutoff", 4000)
    out = json.loads(tsr("lsd", wav, tmp_path / "lo.wav", "--cutoff", 4000).stdout)
    assert out["lsd_hf"] > out["lsd"] > out["lsd_lf"] >= 0
    same = json.loads(tsr("lsd", wav, wav).stdout)
    assert same["lsd"] < 0.01  # 16-bit quantisation only


def test_cutoff_detects_the_band(wav, tmp_path):
    tsr("degrade", wav, "-o", tmp_path / "lo.wav", "--cutoff", 6000)
    assert json.loads(tsr("cutoff", tmp_path / "lo.wav").stdout)["cutoff_hz"] == pytest.approx(6000, rel=0.1)


def _bad_files(tmp_path):
    files = {
        "missing": tmp_path / "missing.wav",
        "corrupt": tmp_path / "corrupt.wav",
        "empty": tmp_path / "empty.wav",
        "silent": tmp_path / "silent.wav",
        "nan": tmp_path / "nan.wav",
        "short": tmp_path / "short.wav",
    }
    files["corrupt"].write_bytes(b"not audio at all" * 10)
    sf.write(files["empty"], np.zeros(0, np.float32), SR)
    sf.write(files["silent"], np.zeros(SR, np.float32), SR)
    x = np.full(SR, 0.1, np.float32)
    x[100] = np.nan
    sf.write(files["nan"], x, SR, subtype="FLOAT")
    sf.write(files["short"], x[200:300], SR, subtype="FLOAT")  # 100 samples: under audio.MIN_SECONDS
    return files


@pytest.mark.parametrize(
    "case,message",
    [("missing", "no such file"), ("corrupt", "cannot read"), ("empty", "empty"), ("silent", "silent"), ("nan", "NaN")],
)
def test_bad_files_give_one_line_errors(tmp_path, case, message):
    f = _bad_files(tmp_path)[case]
    r = tsr("degrade", f, "-o", tmp_path / "o.wav", "--cutoff", 4000, check=False)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("error:") and message in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("upsample", "{f}", "-o", "{o}", "--steps", 2),
        ("upsample", "{f}", "-o", "{o}", "--cutoff", 4000, "--steps", 2, "--search", "random", "--n", 2),
        ("upsample", "{f}", "-o", "{o}", "--model", "band-replication"),
        ("cutoff", "{f}"),
        ("lsd", "{f}", "{f}"),
    ],
)
def test_audio_too_short_to_upsample_is_one_line(tmp_path, args):
    f = _bad_files(tmp_path)["short"]
    r = tsr(*(str(a).format(f=f, o=tmp_path / "o.wav") for a in args), check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and "too short" in r.stderr, r.stderr


def test_a_detected_cutoff_below_the_minimum_says_how_to_give_one(tmp_path):
    sf.write(tmp_path / "hum.wav", 0.3 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000), 8000)  # 1 s at 8 kHz
    r = tsr("upsample", tmp_path / "hum.wav", "-o", tmp_path / "o.wav", "--steps", 2, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: detected cutoff") and "--cutoff HZ" in r.stderr, r.stderr
    tsr("upsample", tmp_path / "hum.wav", "-o", tmp_path / "o.wav", "--steps", 2, "--cutoff", 3500)
    assert sf.info(tmp_path / "o.wav").samplerate == 24_000  # the model's rate


@pytest.mark.parametrize("cutoff,message", [(12000, "Nyquist"), (15000, "Nyquist"), (400, "below")])
def test_bad_cutoffs_give_one_line_errors(wav, tmp_path, cutoff, message):
    r = tsr("degrade", wav, "-o", tmp_path / "o.wav", "--cutoff", cutoff, check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_clipped_input_gets_one_notice_of_the_file(tmp_path, noise):
    sf.write(tmp_path / "loud.wav", np.clip(20 * noise, -1, 1), SR)
    r = tsr("upsample", tmp_path / "loud.wav", "-o", tmp_path / "o.wav", "--cutoff", 4000, "--steps", 2)
    assert r.stderr.count("looks clipped") == 1 and "notice: loud.wav: " in r.stderr, r.stderr


def test_stereo_input_gets_a_notice(tmp_path, noise):
    sf.write(tmp_path / "st.wav", np.stack([noise, noise], 1), SR)
    r = tsr("degrade", tmp_path / "st.wav", "-o", tmp_path / "o.wav", "--cutoff", 4000)
    assert "notice: " in r.stderr and "mono" in r.stderr
    assert sf.info(tmp_path / "o.wav").channels == 1


def test_data_index_command(tmp_path, noise):
    (tmp_path / "spk1").mkdir()
    sf.write(tmp_path / "spk1" / "a.wav", noise, SR)
    (tmp_path / "spk1" / "a.txt").write_text("hello world")
    out = json.loads(tsr("data", "index", tmp_path, "--domain", "speech").stdout)
    assert out["clips"] == 1 and (tmp_path / "manifest.csv").is_file()


@pytest.mark.parametrize("model", ["band-replication", "tiny"])
def test_upsample_to_a_higher_rate_keeps_the_inputs_band_above_the_model(tmp_path, model):
    """A full-band 44.1 kHz drum-like input through `tsr upsample --sr 48000`: its band above 12 kHz survives."""
    rng = np.random.default_rng(0)
    n = int(1.5 * 44_100)
    hits = np.zeros(n)
    hits[:: 44_100 // 8] = 1.0
    x = signal.lfilter([1.0], [1.0, -0.995], hits) * rng.standard_normal(n) * 0.05  # decaying noise bursts, headroom
    # for a model that invents a loud band (the write would clip, and clipping spreads into every band)
    sf.write(tmp_path / "full.wav", x.astype(np.float32), 44_100)
    r = tsr(
        "upsample",
        tmp_path / "full.wav",
        "-o",
        tmp_path / "o.wav",
        "--sr",
        48_000,
        "--model",
        model,
        "--cutoff",
        8000,
        "--steps",
        4,
    )
    assert "beyond the model's 12000 Hz band" in r.stderr
    y, sr = sf.read(tmp_path / "o.wav")
    assert sr == 48_000
    f, p_in = signal.welch(signal.resample_poly(x, 160, 147), 48_000, nperseg=2048)
    _, p_out = signal.welch(y, 48_000, nperseg=2048)
    keep = (f >= 12_500) & (f <= 20_000)
    assert np.abs(10 * np.log10(p_out[keep] / p_in[keep])).mean() < 1.0


def test_upsample_dsp_baseline_refuses_search(wav, tmp_path):
    r = tsr(
        "upsample",
        wav,
        "-o",
        tmp_path / "o.wav",
        "--model",
        "sbr",
        "--search",
        "random",
        "--verifier",
        "mbr",
        check=False,
    )
    assert r.returncode != 0 and "nothing to search" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("value,message", [("2,3", "odd"), ("3", "two whole numbers"), ("a,b", "two whole numbers")])
def test_train_option_errors_are_one_line(tmp_path, value, message):
    r = tsr("train", "--manifest", tmp_path / "none.csv", "--prior-smoothing", value, check=False)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def _bad_file_runs(f, tmp_path, good):
    """Each command that reads audio, with the bad file where a user would put it."""
    return {
        "degrade": ("degrade", f, "-o", tmp_path / "o.wav", "--cutoff", 4000),
        "lsd": ("lsd", good, f),
        "cutoff": ("cutoff", f),
        "score": ("score", good, f, "--verifier", "lsd", "--reference", good),
    }


@pytest.mark.parametrize("command", ["lsd", "cutoff", "score"])
@pytest.mark.parametrize(
    "case,message", [("missing", "no such file"), ("corrupt", "cannot read"), ("empty", "empty"), ("nan", "NaN")]
)
def test_every_reading_command_gives_bad_files_one_line_errors(tmp_path, wav, command, case, message):
    r = tsr(*_bad_file_runs(_bad_files(tmp_path)[case], tmp_path, wav)[command], check=False)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("error:") and message in r.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (("lsd", "{w}", "{w}", "--cutoff", 13000), "Nyquist"),
        (("score", "{w}", "--verifier", "nonsense"), "unknown verifier"),
        (("score", "{w}", "--verifier", "mbr"), "needs input"),
        (("upsample", "{w}", "-o", "{o}", "--cutoff", "four"), "frequency in Hz"),
        (("upsample", "{w}", "-o", "{o}", "--solver", "euler", "--steps", 2), "unknown solver"),
        (
            (
                "upsample",
                "{w}",
                "-o",
                "{o}",
                "--search",
                "zero-order",
                "--neighbourhood",
                "cube",
                "--verifier",
                "continuity",
            ),
            "neighbourhood",
        ),
    ],
)
def test_option_errors_are_one_line(wav, tmp_path, args, message):
    r = tsr(*(str(a).format(w=wav, o=tmp_path / "o.wav") for a in args), check=False)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("command", ["degrade", "upsample"])
@pytest.mark.parametrize(
    "name,message", [("o.xyz", "cannot write audio as .xyz"), ("o", "without an extension"), (".", "a folder")]
)
def test_an_unwritable_output_is_refused_before_any_work(wav, tmp_path, command, name, message):
    out = tmp_path / name
    r = tsr(command, wav, "-o", out, "--cutoff", 4000, check=False)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


@pytest.mark.parametrize(
    "option,target,message",
    [("--report", ".", "a folder"), ("--save-candidates", "in.wav", "a file"), ("--cache", "in.wav", "a file")],
)
def test_a_side_output_of_the_wrong_kind_is_refused_before_any_work(wav, tmp_path, option, target, message):
    r = tsr(
        "upsample",
        wav,
        "-o",
        tmp_path / "o.wav",
        "--search",
        "random",
        "--n",
        2,
        option,
        tmp_path / target,
        check=False,
    )
    assert r.returncode == 2 and f"{option} " in r.stderr and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


@pytest.mark.parametrize(
    "args,message",
    [
        (("upsample",), "Missing argument 'input'"),
        (("upsample", "{w}", "-o", "{o}", "--bogus"), "No such option: --bogus"),
        (("upsample", "{w}", "-o", "{o}", "--n", "many"), "Invalid value for '--n'"),
        (("upsample", "{w}", "-o", "{o}", "--seed", -1), "Invalid value for '--seed'"),
        (("upsample", "{w}", "-o", "{o}", "--eta", -0.5), "Invalid value for '--eta'"),
        (("upsample", "{w}", "-o", "{o}", "--sr", 0), "Invalid value for '--sr'"),
        (("degrade", "{w}", "-o", "{o}", "--cutoff", 4000, "--order", 0), "Invalid value for '--order'"),
        (("degrade", "{w}", "--cutoff", 4000), "Missing option '-o'"),
        (("upsampel", "{w}"), "No such command 'upsampel'"),
    ],
)
def test_command_line_mistakes_show_usage_not_a_traceback(wav, tmp_path, args, message):
    r = tsr(*(str(a).format(w=wav, o=tmp_path / "o.wav") for a in args), check=False)
    assert r.returncode == 2 and message in r.stderr and "Usage: tsr" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 4, r.stderr


@pytest.mark.parametrize("command", ["upsample", "score"])
@pytest.mark.parametrize("device", ["tpu", "cuda", "cuda:7"])
def test_a_device_this_machine_lacks_is_one_line_naming_those_it_has(wav, tmp_path, command, device):
    import torch

    if torch.cuda.device_count() > (7 if device == "cuda:7" else 0 if device == "cuda" else 99):
        pytest.skip(f"this machine has {device}")
    args = {
        "upsample": ("upsample", wav, "-o", tmp_path / "o.wav"),
        "score": ("score", wav, "--verifier", "continuity"),
    }
    r = tsr(*args[command], "--device", device, check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"device {device!r} is not available" in r.stderr and "it has: cpu" in r.stderr


def test_a_bug_keeps_its_traceback(wav, monkeypatch, capsys):
    """Only tsrlib's own errors become one-line messages; an exception nobody raised on purpose stays loud."""
    from tsrlib import audio, cli

    def broken(*args, **kwargs):
        raise ValueError("a bug, not bad input")

    monkeypatch.setattr(audio, "detect_cutoff", broken)
    monkeypatch.setattr(sys, "argv", ["tsr", "cutoff", str(wav)])
    with pytest.raises(ValueError, match="a bug"):
        cli.main()


def test_replay_reruns_a_reported_search_exactly(tmp_path):
    from tsrlib.audio import degrade

    x = (0.1 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32)
    sf.write(tmp_path / "lr.wav", degrade(x, SR, 4000.0), SR, subtype="FLOAT")
    tsr(
        "upsample",
        tmp_path / "lr.wav",
        "-o",
        tmp_path / "a.wav",
        "--model",
        "tiny",
        "--search",
        "zero-order",
        "--n",
        2,
        "--rounds",
        1,
        "--lam",
        0.5,
        "--steps",
        3,
        "--verifier",
        "continuity",
        "--seed",
        5,
        "--report",
        tmp_path / "a.json",
    )
    # every search option differs from the report's, and the replay ignores them all
    out = json.loads(
        tsr(
            "upsample",
            tmp_path / "lr.wav",
            "-o",
            tmp_path / "b.wav",
            "--replay",
            tmp_path / "a.json",
            "--search",
            "random",
            "--n",
            5,
            "--steps",
            4,
            "--verifier",
            "mbr",
            "--seed",
            0,
            "--report",
            tmp_path / "b.json",
        ).stdout
    )
    a, b = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    assert out["model"] == "tiny" and out["search"]["name"] == "zero-order" and out["search"]["lam"] == 0.5
    assert {k: b[k] for k in ("searcher", "verifier", "seed", "chosen", "score", "nfe")} == {
        k: a[k] for k in ("searcher", "verifier", "seed", "chosen", "score", "nfe")
    }
    np.testing.assert_array_equal(sf.read(tmp_path / "a.wav")[0], sf.read(tmp_path / "b.wav")[0])
    (tmp_path / "bad.json").write_text('{"model": "tiny"}')
    r = tsr("upsample", tmp_path / "lr.wav", "-o", tmp_path / "c.wav", "--replay", tmp_path / "bad.json", check=False)
    assert r.returncode == 2 and "not a tsr upsample --report file" in r.stderr and "Traceback" not in r.stderr
