"""The synthetic corpus: determinism, manifest content, disjoint splits, resume; indexing real folders."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from tsrlib.data import corpus, manifest, music, sfx, speech, text


def test_tiny_build_is_byte_identical(tiny_corpus, tmp_path):
    again = corpus.build(tmp_path / "again", size="tiny", progress=False)
    a = manifest.load(tiny_corpus / "manifest.csv")
    b = manifest.load(again)
    assert len(a) == sum(sum(v.values()) for v in corpus.SIZES["tiny"].values())
    assert list(a.sha256) == list(b.sha256)
    assert [manifest.sha256(p) for p in a.abspath] == [manifest.sha256(p) for p in b.abspath]


def test_another_seed_gives_other_audio(tiny_corpus, tmp_path):
    other = manifest.load(corpus.build(tmp_path / "s1", size="tiny", seed=1, domains=("sfx",), progress=False))
    base = manifest.load(tiny_corpus / "manifest.csv", domain="sfx")
    assert set(other.sha256).isdisjoint(set(base.sha256))


def test_manifest_has_text_and_metadata(tiny_corpus):
    df = manifest.load(tiny_corpus / "manifest.csv")
    assert set(df.domain) == set(manifest.DOMAINS) and set(df.split) == set(manifest.SPLITS)
    sp = df[df.domain == "speech"]
    assert (sp.transcript.str.len() > 10).all() and (sp.speaker != "").all()
    assert set(sp.source) == {"espeak", "piper"}  # the tiny corpus already holds both voices
    assert (df[df.domain != "speech"].caption.str.len() > 5).all()
    for r in df.itertuples():
        info = sf.info(r.abspath)
        assert info.samplerate == r.sample_rate == 24_000 and info.channels == 1
        assert info.frames == r.num_samples
        json.loads(r.params)
    assert df.seed.is_unique


def test_transcripts_match_the_sentence_bank(tiny_corpus):
    sp = manifest.load(tiny_corpus / "manifest.csv", domain="speech", split="test")
    assert list(sp.transcript) == [text.normalize_transcript(s) for s in text.HANDWRITTEN[: len(sp)]]


def test_splits_are_disjoint_by_speaker_and_seed():
    jobs = pd.DataFrame(corpus.plan("small"))
    spk = jobs[jobs.domain == "speech"].groupby("speaker").split.nunique()
    assert (spk == 1).all()
    assert jobs.seed.is_unique
    assert {s.split for s in speech.SPEAKERS} == set(manifest.SPLITS)


def test_speech_audio_is_reproducible_and_band_limited():
    spk = next(s for s in speech.SPEAKERS if s.engine == "piper")
    a, pa = speech.synthesize("A short test sentence.", spk, 24_000, seed=5)
    b, _ = speech.synthesize("A short test sentence.", spk, 24_000, seed=5)
    c, _ = speech.synthesize("A short test sentence.", spk, 24_000, seed=6)
    np.testing.assert_array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)
    assert pa["native_sr"] == 22_050


def test_music_and_sfx_are_deterministic_with_captions():
    p = music.draw_piece(11)
    assert p == music.draw_piece(11) and p.instrument in p.caption and str(p.tempo) in p.caption
    np.testing.assert_array_equal(music.render(p, 24_000, 1.0), music.render(p, 24_000, 1.0))
    for cat in sfx.CATEGORIES:
        x, cap = sfx.generate(cat, 4, 24_000, 1.0)
        y, _ = sfx.generate(cat, 4, 24_000, 1.0)
        np.testing.assert_array_equal(x, y)
        assert len(x) == 24_000 and cap and np.max(np.abs(x)) == pytest.approx(0.7, rel=1e-5)


def test_build_resumes_after_a_kill(tiny_corpus, tmp_path, monkeypatch):
    out = tmp_path / "killed"
    made = []
    real = corpus._make

    def dying(job, sr):
        if len(made) == 5:
            raise KeyboardInterrupt  # the process is killed mid-build
        made.append(job["id"])
        return real(job, sr)

    monkeypatch.setattr(corpus, "_make", dying)
    with pytest.raises(KeyboardInterrupt):
        corpus.build(out, size="tiny", progress=False)
    assert not (out / "manifest.csv").exists() and (out / "manifest.partial.csv").exists()
    monkeypatch.setattr(corpus, "_make", lambda job, sr: (made.append(job["id"]), real(job, sr))[1])
    corpus.build(out, size="tiny", progress=False)
    assert len(made) == len(set(made))  # no clip was made twice
    a = manifest.load(out / "manifest.csv")
    assert list(a.sha256) == list(manifest.load(tiny_corpus / "manifest.csv").sha256)


def test_index_folder_reads_vctk_and_esc50_layouts(tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal(4800)).astype(np.float32)
    for spk in ("p225", "p226", "p227"):
        for i in (1, 2):
            (tmp_path / "vctk" / "wav48" / spk).mkdir(parents=True, exist_ok=True)
            (tmp_path / "vctk" / "txt" / spk).mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / "vctk" / "wav48" / spk / f"{spk}_00{i}.wav", x, 48_000)
            (tmp_path / "vctk" / "txt" / spk / f"{spk}_00{i}.txt").write_text(f"Sentence {i} of {spk}.\n")
    df = manifest.index_folder(tmp_path / "vctk", "speech", tmp_path / "vctk.csv")
    assert len(df) == 6 and (df.transcript.str.startswith("Sentence")).all()
    assert df.groupby("speaker").split.nunique().max() == 1
    loaded = manifest.load(tmp_path / "vctk.csv")
    assert all(sf.info(p).samplerate == 48_000 for p in loaded.abspath)

    esc = tmp_path / "esc"
    (esc / "audio").mkdir(parents=True)
    (esc / "meta").mkdir()
    rows = []
    for i, (cat, fold) in enumerate([("dog", 1), ("rain", 4), ("clock_tick", 5)]):
        sf.write(esc / "audio" / f"{fold}-{i}-A-0.wav", x, 44_100)
        rows.append({"filename": f"{fold}-{i}-A-0.wav", "fold": fold, "category": cat})
    pd.DataFrame(rows).to_csv(esc / "meta" / "esc50.csv", index=False)
    df = manifest.index_folder(esc, "sfx")
    assert dict(zip(df.caption, df.split)) == {"dog": "train", "rain": "val", "clock tick": "test"}


def test_index_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio"):
        manifest.index_folder(tmp_path, "speech")
    with pytest.raises(ValueError, match="domain"):
        manifest.index_folder(tmp_path, "video")


def test_index_folder_counts_and_reports_what_it_cannot_read(tmp_path):
    x = (0.1 * np.random.default_rng(0).standard_normal(8000)).astype(np.float32)
    sf.write(tmp_path / "good.wav", x, 16_000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF but nothing else")
    (tmp_path / "also-broken.flac").write_bytes(b"")
    (tmp_path / "captions.csv").write_bytes(b"ytid,caption\n\xff\xfe not utf-8")
    with pytest.warns(UserWarning, match="3 unreadable file"):
        df = manifest.index_folder(tmp_path, "music")
    assert list(df.id) == ["music-good"]
    assert sorted(s.split(" ")[0] for s in df.attrs["skipped"]) == ["also-broken.flac", "broken.wav", "captions.csv"]
    (tmp_path / "good.wav").unlink()
    with pytest.raises(FileNotFoundError, match="none of its 2 audio files could be read"):
        manifest.index_folder(tmp_path, "music")


@pytest.mark.parametrize(
    "text,message",
    [
        ("path,domain\na.wav,speech\n", "it lacks id, split"),
        ("", "not a readable CSV manifest"),
    ],
)
def test_a_manifest_without_its_columns_is_a_data_error(tmp_path, text, message):
    from tsrlib.errors import DataError

    (tmp_path / "manifest.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        manifest.load(tmp_path / "manifest.csv")


@pytest.mark.parametrize(
    "size,domains,message",
    [("huge", ("sfx",), "size must be one of tiny, small, full or real"), ("tiny", ("sfx", "jazz"), "got jazz")],
)
def test_build_refuses_an_unknown_size_or_domain_before_making_a_folder(tmp_path, size, domains, message):
    from tsrlib.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        corpus.build(tmp_path / "out", size=size, domains=domains, progress=False)
    assert not (tmp_path / "out").exists()
