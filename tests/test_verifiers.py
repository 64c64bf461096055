"""Verifiers: real offline models on synthesised speech, the ensemble on hand-made tables, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.extras import skip_unless
from tsrlib import audio as tsa
from tsrlib import metrics
from tsrlib.errors import TsrError
from tsrlib.verifiers import Context, get_verifier, rank_aggregate, zscore_aggregate
from tsrlib.verifiers.asr import LOOP_RATIO, WhisperASR, asr_model, compression_ratio
from tsrlib.verifiers.asr import wer as asr_wer
from tsrlib.verifiers.quality import DNSMOS, INPUT_LENGTH, dnsmos_clip_session, dnsmos_model, dnsmos_windows

SR = 16_000


def _speak(text: str, speaker: str) -> np.ndarray:
    from tsrlib.data import speech

    if speaker.startswith("es-"):
        skip_unless(speech.espeak_available(), "espeak-ng is not installed")
    spk = {s.id: s for s in speech.SPEAKERS}[speaker]
    return speech.synthesize(text, spk, SR, 0)[0]


def _noisy(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32)
    n *= np.sqrt(np.mean(x**2) / np.mean(n**2)) * 10 ** (-snr_db / 20)
    return np.clip(x + n, -1, 1).astype(np.float32)


def _stack(*rows: np.ndarray) -> np.ndarray:
    n = min(len(r) for r in rows)
    return np.stack([r[:n] for r in rows])


# ----------------------------------------------------------------------------------------- ensemble
def test_rank_aggregate_on_hand_made_table():
    table = np.array(
        [
            [0.9, 0.1, 0.5, 0.5],  # ranks 4, 1, 2.5, 2.5 (a tie)
            [-3.0, -1.0, -2.0, -4.0],
        ]
    )  # ranks 2, 4, 3, 1
    np.testing.assert_allclose(rank_aggregate(table), [3.0, 2.5, 2.75, 1.75])
    assert int(np.argmax(rank_aggregate(table))) == 0


def test_rank_aggregate_is_scale_free_and_zscore_ignores_flat_rows():
    table = np.array([[1.0, 2.0, 3.0], [10.0, 30.0, 20.0]])
    np.testing.assert_allclose(rank_aggregate(table), rank_aggregate(table * [[1000.0], [0.001]]))
    flat = np.vstack([table[:1], [[7.0, 7.0, 7.0]]])
    z = (table[0] - table[0].mean()) / table[0].std()
    np.testing.assert_allclose(zscore_aggregate(flat), z / 2)


def test_ensemble_of_oracles_combines_members(noise):
    ref = noise
    cands = np.stack([ref * 1.0, ref * 0.5, ref * 0.9])
    ctx = Context(reference=ref, reference_sr=24_000, cutoff_hz=4000.0)
    v = get_verifier("ensemble:lsd,lsd-hf")
    out = v.evaluate(cands, 24_000, ctx)
    assert v.oracle and {"lsd", "lsd-hf", "ensemble"} <= set(out)
    assert int(np.argmax(out["ensemble"])) == 0  # the reference itself
    np.testing.assert_allclose(out["lsd"][0], 0.0, atol=1e-9)
    np.testing.assert_allclose(-out["lsd"][1], 2 * np.log10(2), rtol=1e-6)  # a gain of 1/2 is 0.60 in LSD


def test_unknown_verifier_and_missing_context_are_clear():
    with pytest.raises(TsrError, match="unknown verifier"):
        get_verifier("nope")
    with pytest.raises(TsrError, match="needs reference"):
        get_verifier("lsd").score(np.ones((2, 100), np.float32) * 0.1, 24_000, Context())
    with pytest.raises(ValueError, match="NaN"):
        get_verifier("lsd").score(np.full((1, 100), np.nan, np.float32), 24_000, Context())


# ------------------------------------------------------------------------------------ real models
def test_spksim_ranks_same_speaker_above_a_different_one():
    target = _speak("please bring three green apples and a loaf of bread", "es-m3")
    same = _speak("a sudden wind scattered the papers across the kitchen floor", "es-m3")
    other = _speak("a sudden wind scattered the papers across the kitchen floor", "es-f2")
    s = get_verifier("spksim").score(_stack(same, other), SR, Context(input=target, input_sr=SR))
    assert s.shape == (2,)
    assert s[0] > 0.75 and s[0] > s[1] + 0.15, s


def test_spksim_reference_variant_scores_against_the_reference_not_the_input():
    v = get_verifier("spksim-ref")
    assert v.oracle and "reference" in v.needs
    ref = _speak("please bring three green apples and a loaf of bread", "es-m3")
    same = _speak("a sudden wind scattered the papers across the kitchen floor", "es-m3")
    other = _speak("a sudden wind scattered the papers across the kitchen floor", "es-f2")
    # the input is the other voice: a verifier that looked at it would rank the candidates the other way
    s = v.score(_stack(same, other), SR, Context(reference=ref, reference_sr=SR, input=other, input_sr=SR))
    assert s[0] > 0.75 and s[0] > s[1] + 0.15, s


def test_wer_sphinx_is_zero_on_a_clean_sentence_and_grows_with_degradation():
    text = "open the door please"
    clean = _speak(text, "pi-joe-100")
    worse = _noisy(clean, 5.0)
    worst = _noisy(tsa.degrade(clean, SR, 1000.0, "cheby1"), -5.0)
    v = get_verifier("wer-sphinx")
    wer = -v.score(_stack(clean, worse, worst), SR, Context(transcript=text))
    assert wer[0] == 0.0, v.last_hypotheses
    assert wer[2] > wer[0] and wer[2] >= wer[1], (wer, v.last_hypotheses)
    # a second caller gets its own verifier around the same loaded model: its call leaves v's transcripts alone
    mine = list(v.last_hypotheses)
    other = get_verifier("wer-sphinx")
    other.score(worst[None], SR, Context(transcript=text))
    assert other is not v and v.last_hypotheses == mine and len(other.last_hypotheses) == 1


def test_the_registry_builds_every_named_verifier_class_and_describes_it():
    from tsrlib.verifiers import NAMES, OFFLINE, REGISTRY, describe

    table = describe().set_index("verifier")
    assert list(table.index) == list(NAMES) == [r.name for r in REGISTRY]
    assert set(OFFLINE) == set(table.index[table.offline]) and not table.loc[list(OFFLINE), "oracle"].any()
    assert table.loc["wer-sphinx", "needs"] == "transcript or input" and table.loc["lsd", "needs"] == "reference"
    v = get_verifier("wer-sphinx")
    assert v.name == "wer-sphinx" and v.backend == "sphinx" and get_verifier("lsd-hf").primary == "lsd_hf"


def test_wer_whisper_is_zero_on_a_clean_sentence_and_grows_with_noise():
    text = "the old ferry crossed the river before the morning fog lifted"
    clean = _speak(text, "pi-joe-100")
    v = get_verifier("wer")
    wer = -v.score(_stack(clean, _noisy(clean, -10.0)), SR, Context(transcript=text))
    assert wer[0] == 0.0, v.last_hypotheses
    assert wer[1] > 0.3, v.last_hypotheses


def test_whisper_transcripts_repeat_on_hard_audio():
    # noisy speech is where decoding used to fall back to random sampling (4 runs gave 4 texts)
    noisy = _noisy(_speak("the old ferry crossed the river before the morning fog lifted", "pi-joe-100"), -10.0)
    asr = asr_model("whisper", "cpu")
    assert asr.transcribe(tsa.resample(noisy, SR, 16_000)) == asr.transcribe(tsa.resample(noisy, SR, 16_000))


def test_whisper_batch_at_the_30_s_window_reproduces_faster_whisper():
    # the independent expectation is faster-whisper's own transcribe (every clip padded to 30 s, one at a time)
    text = "please bring three green apples and a loaf of bread"
    clean = _speak(text, "pi-joe-100")
    rows = [clean, _noisy(clean, 0.0), _noisy(clean, -5.0, seed=1), tsa.degrade(clean, SR, 2000.0)]
    asr = WhisperASR(window_s=30)
    expected = [asr._transcribe_long(r) for r in rows]
    assert asr.transcribe_batch(rows) == expected


def test_whisper_short_window_is_right_on_clean_speech_and_independent_of_the_batch():
    text = "the old ferry crossed the river before the morning fog lifted"
    clean = _speak(text, "pi-joe-100")
    asr = WhisperASR()
    assert asr.window_for(len(clean) / SR) < WhisperASR.native_window_s
    batch = _stack(clean, _noisy(clean, 0.0), _noisy(clean, 5.0, seed=2))
    texts = asr.transcribe_batch(batch)
    assert asr_wer(text, texts[0]) == 0.0, texts
    assert texts == [asr.transcribe(r) for r in batch]  # candidate k's text does not depend on the others


def test_whisper_window_is_the_clip_plus_a_margin_in_whole_seconds_within_limits():
    asr = object.__new__(WhisperASR)  # window_for needs no model
    asr.window_s, asr.min_window_s, asr.margin_s = None, 4, 1.0
    assert [asr.window_for(s) for s in (0.5, 3.0, 3.2, 12.0, 29.5, 60.0)] == [4, 4, 5, 13, 30, 30]
    asr.window_s = 30
    assert asr.window_for(2.0) == 30
    with pytest.raises(TsrError, match="window_s"):
        WhisperASR(window_s=31)


def test_whisper_decoding_stuck_in_a_loop_is_decoded_again_in_the_30_s_window(monkeypatch):
    said = "clean, bring, free, free apple and an open bread."
    assert compression_ratio("") == 0.0
    assert compression_ratio(said) < LOOP_RATIO < compression_ratio(" ".join([said] * 6))
    asr = asr_model("whisper", "cpu")
    rows = [np.zeros(3 * SR, np.float32), np.ones(3 * SR, np.float32) * 0.1]
    # the short window reads the first clip right and loops on the second (as it did on a 4 kHz espeak-ng sentence)
    monkeypatch.setattr(asr, "_decode", lambda batch: [said, " ".join([said] * 6)][: len(batch)])
    monkeypatch.setattr(asr, "_transcribe_long", lambda row: f"long form of {float(row[0]):.1f}")
    assert asr.transcribe_batch(rows) == [said, "long form of 0.1"]
    # a 29 s clip in the same batch puts it all in the 30 s window: the short clip's loop was decoded there already
    long = [np.zeros(29 * SR, np.float32), rows[1]]
    assert asr.transcribe_batch(long) == [said, " ".join([said] * 6)]
    monkeypatch.setattr(asr, "window_s", 30)  # already faster-whisper's window: nothing to gain from decoding again
    assert asr.transcribe_batch(rows) == [said, " ".join([said] * 6)]


def test_wer_falls_back_to_a_pseudo_transcript_of_the_input():
    clean = _speak("open the door please", "pi-joe-100")
    v = get_verifier("wer-sphinx")
    ctx = Context(input=clean, input_sr=SR)
    assert v.score(clean[None], SR, ctx)[0] == 0.0  # agrees with itself
    with pytest.raises(TsrError, match="transcript or the band-limited input"):
        v.score(clean[None], SR, Context())


def test_dnsmos_drops_when_noise_is_added():
    clean = _speak("we counted seven boats waiting near the harbour wall", "pi-joe-100")
    out = get_verifier("dnsmos").evaluate(_stack(clean, _noisy(clean, 0.0)), SR)
    assert set(out) == {"ovrl", "sig", "bak", "p808"}
    assert out["ovrl"][0] > out["ovrl"][1] + 0.5, out
    assert out["bak"][0] > out["bak"][1], out


def test_dnsmos_windows_short_clips_tiled_to_one_window_or_doubled_as_speechmos():
    n = int(INPUT_LENGTH * SR)
    clip = np.arange(2 * SR, dtype=np.float32) / (2 * SR)  # 2 s ramp: each sample says where in the loop it is
    one = dnsmos_windows(clip)
    assert one.shape == (1, n)
    np.testing.assert_array_equal(one[0], np.tile(clip, 5)[:n])
    # speechmos: 2 s doubled to 16 s, windows hopped by 1 s; those float rounding makes a sample short are dropped
    many = dnsmos_windows(clip, as_speechmos=True)
    starts = [h for h in range(7) if int((h + INPUT_LENGTH) * SR) - int(h * SR) >= n]
    assert len(many) == len(starts) > 1
    np.testing.assert_array_equal(many[-1], np.tile(clip, 8)[starts[-1] * SR : starts[-1] * SR + n])
    long = np.zeros(12 * SR, np.float32)  # longer than a window: the same hops either way
    assert dnsmos_windows(long).shape == dnsmos_windows(long, as_speechmos=True).shape == (3, n)


def test_dnsmos_as_speechmos_equals_the_package_and_the_fast_path_stays_close():
    from speechmos import dnsmos

    speech = _speak("the driver carried three letters in the garden", "pi-joe-100")
    rows = _stack(speech, _noisy(speech, 5.0), tsa.degrade(speech, SR, 2000.0))
    pkg = dnsmos_model()
    expected = [pkg(np.clip(r, -1, 1).astype(np.float64), SR, False)["ovrl_mos"] for r in rows]
    assert isinstance(pkg, dnsmos.DNSMOS)
    np.testing.assert_allclose(DNSMOS(as_speechmos=True).score(rows, SR), expected, atol=1e-5)
    fast = DNSMOS().score(rows, SR)
    np.testing.assert_allclose(fast, expected, atol=0.3)  # one window of the loop, not the mean of its shifts
    assert fast[0] > fast[1]  # still hears the noise


def test_dnsmos_clip_runs_the_packaged_network_at_the_clip_length():
    x = (np.random.default_rng(0).standard_normal((2, int(INPUT_LENGTH * SR))) * 0.1).astype(np.float32)
    # resized to the packaged 900 frames it is the packaged network, bit for bit
    np.testing.assert_array_equal(
        dnsmos_clip_session(900).run(None, {"input_1": x})[0], dnsmos_model().onnx_sess.run(None, {"input_1": x})[0]
    )
    assert dnsmos_clip_session(299).get_inputs()[0].shape == ["N", 48000]  # 3 s: 300 hops of 160 samples
    speech = _speak("the driver carried three letters in the garden", "pi-joe-100")
    assert len(speech) < 5 * SR  # a short clip: the two verifiers score it differently
    rows = _stack(speech, _noisy(speech, 5.0))
    clip, tiled = get_verifier("dnsmos-clip").evaluate(rows, SR), get_verifier("dnsmos").evaluate(rows, SR)
    assert clip["ovrl"][0] > clip["ovrl"][1] + 0.3, clip  # still hears the noise
    # from the clip, not its 9.01 s loop: a global max over fewer frames, so a little lower
    assert np.all(np.abs(clip["ovrl"] - tiled["ovrl"]) < 0.5) and not np.allclose(
        clip["ovrl"], tiled["ovrl"], atol=1e-3
    )
    np.testing.assert_array_equal(clip["p808"], tiled["p808"])  # P.808 keeps its window
    blip = get_verifier("dnsmos-clip").evaluate(rows[:, : SR // 4], SR)  # 0.25 s: looped to 1 s
    assert np.isfinite(blip["ovrl"]).all()
    long = np.tile(speech, 5)[None, : 10 * SR]  # longer than a window: the same windows either way
    assert get_verifier("dnsmos-clip").score(long, SR) == get_verifier("dnsmos").score(long, SR)
    with pytest.raises(ValueError, match="choose one"):
        DNSMOS(as_speechmos=True, clip_length=True)


def test_ensemble_specs_parse_and_an_empty_one_is_a_clear_error():
    from tsrlib.verifiers import ensemble_members, get_verifier

    assert ensemble_members("ensemble:a, b") == ("rank", ["a", "b"])
    assert ensemble_members(" zensemble:x") == ("zscore", ["x"])
    assert ensemble_members("mbr") is None
    with pytest.raises(TsrError, match="name the ensemble's members, e.g. zensemble:spksim"):
        get_verifier("zensemble: ,")


def test_continuity_prefers_a_filled_band_to_an_empty_one(noise):
    sr = 24_000
    lr = tsa.degrade(noise, sr, 4000.0, "cheby1")
    ctx = Context(input=lr, input_sr=sr, cutoff_hz=4000.0)
    out = get_verifier("continuity").evaluate(np.stack([noise, lr]), sr, ctx)
    assert out["edge"][0] > out["edge"][1] + 10, out  # white noise continues flat; the input falls off a cliff


def test_consensus_is_minus_lsd_hf_to_the_regression_output(noise):
    from tsrlib import sampler
    from tsrlib.models import tiny
    from tsrlib.verifiers.consensus import Consensus

    sr = 24_000
    lr = tsa.degrade(noise, sr, 4000.0, "cheby1")
    # the expectation is built here, from the shipped regression weights, not from the verifier's own estimate
    reg = tiny.load("regression")
    est = sampler.generate(reg, reg.condition(lr, sr, 4000.0), 0, [0]).audio[0]
    ctx = Context(input=lr, input_sr=sr, cutoff_hz=4000.0)
    s = Consensus().score(np.stack([lr, est, noise]), sr, ctx)
    assert s[1] == pytest.approx(0.0, abs=1e-6)
    assert s[0] == pytest.approx(-metrics.lsd_hf(est, lr, sr, 4000.0), rel=1e-5)
    assert s[2] == pytest.approx(-metrics.lsd_hf(est, noise, sr, 4000.0), rel=1e-5) and s[2] < 0 and s[0] < 0
    # a second input in a fresh context gets its own estimate, not the first one's
    other = tsa.degrade(noise[::-1].copy(), sr, 4000.0, "cheby1")
    est2 = sampler.generate(reg, reg.condition(other, sr, 4000.0), 0, [0]).audio[0]
    s2 = Consensus().score(est2[None], sr, Context(input=other, input_sr=sr, cutoff_hz=4000.0))
    assert s2[0] == pytest.approx(0.0, abs=1e-6)


# --------------------------------------------------------------------------------------------- CLI
def test_cli_score_prints_every_axis(tmp_path, noise):
    sr = 24_000
    lr = tsa.degrade(noise, sr, 4000.0, "cheby1")
    for name, x in {"ref": noise, "lr": lr, "half": noise * 0.5}.items():
        tsa.save(tmp_path / f"{name}.wav", x, sr, subtype="FLOAT")
    cmd = [
        sys.executable,
        "-m",
        "tsrlib.cli",
        "score",
        str(tmp_path / "ref.wav"),
        str(tmp_path / "half.wav"),
        str(tmp_path / "lr.wav"),
        "--verifier",
        "ensemble:lsd,continuity",
        "--reference",
        str(tmp_path / "ref.wav"),
        "--input",
        str(tmp_path / "lr.wav"),
    ]
    out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
    rows = out["candidates"]
    assert [r["file"].split("/")[-1] for r in rows] == ["ref.wav", "half.wav", "lr.wav"]
    assert {"lsd", "lsd.lsd_hf", "continuity", "continuity.envelope", "ensemble"} <= set(rows[0])
    assert rows[0]["lsd"] == pytest.approx(0.0, abs=1e-6) and rows[0]["ensemble"] == max(r["ensemble"] for r in rows)
    bad = subprocess.run(cmd[:5] + ["--verifier", "lsd"], capture_output=True, text=True)
    assert bad.returncode == 2 and "needs reference" in bad.stderr
