"""Adapters for the paper's verifiers, run offline on randomly initialised models of the same classes.

The real checkpoints come from model hubs; here each adapter's loading, preprocessing and batching code
runs end to end on random weights saved in the same on-disk layout, and returns N finite scores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.extras import require
from tsrlib import audio as tsa
from tsrlib.errors import CheckpointError, TsrError
from tsrlib.verifiers import Context, adapters

SR = 16_000


@pytest.fixture
def candidates() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((3, SR))).astype(np.float32)


@pytest.mark.parametrize("kind", sorted(adapters.FETCH))
def test_missing_checkpoint_names_what_to_fetch(kind, monkeypatch, tmp_path):
    env, how = adapters.FETCH[kind]
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(CheckpointError, match=env) as e:
        adapters.checkpoint_path(kind, None)
    assert "huggingface-cli download" in str(e.value)
    monkeypatch.setenv(env, str(tmp_path / "absent"))
    with pytest.raises(CheckpointError, match="does not exist"):
        adapters.checkpoint_path(kind, None)


def test_wavlm_xvector_adapter_on_a_tiny_random_model(tmp_path, candidates, monkeypatch):
    transformers = require("transformers")
    cfg = transformers.WavLMConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        tdnn_dim=(32, 32),
        tdnn_kernel=(3, 1),
        tdnn_dilation=(1, 1),
        xvector_output_dim=16,
        num_buckets=16,
        max_bucket_distance=64,
    )
    torch.manual_seed(0)
    transformers.WavLMForXVector(cfg).save_pretrained(tmp_path)
    transformers.Wav2Vec2FeatureExtractor(sampling_rate=SR, return_attention_mask=True).save_pretrained(tmp_path)
    monkeypatch.setenv("TSR_WAVLM_DIR", str(tmp_path))
    v = adapters.WavLMSpkSim()
    s = v.score(candidates, SR, Context(input=candidates[0], input_sr=SR))
    assert s.shape == (3,) and np.isfinite(s).all()
    assert s[0] == pytest.approx(1.0, abs=1e-4)  # the input against itself
    s24 = v.score(
        np.stack([np.repeat(c, 3)[: int(1.5 * SR)] for c in candidates]),
        24_000,
        Context(input=candidates[0], input_sr=SR),
    )  # other rates are resampled to 16 kHz
    assert s24.shape == (3,)


def test_whisper_hf_adapter_on_a_tiny_random_model(tmp_path, candidates):
    transformers = require("transformers")
    from tsrlib.verifiers.asr import whisper_model_dir

    tok = transformers.WhisperTokenizerFast(tokenizer_file=str(whisper_model_dir() / "tokenizer.json"))
    cfg = transformers.WhisperConfig(
        vocab_size=len(tok),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        decoder_start_token_id=tok.convert_tokens_to_ids("<|startoftranscript|>"),
        pad_token_id=tok.eos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(cfg)
    ids = tok.convert_tokens_to_ids
    model.generation_config = transformers.GenerationConfig(  # the fields a hub Whisper checkpoint carries
        decoder_start_token_id=cfg.decoder_start_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
        lang_to_id={"<|en|>": ids("<|en|>")},
        task_to_id={"transcribe": ids("<|transcribe|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        is_multilingual=True,
        max_length=32,
    )
    model.save_pretrained(tmp_path)
    transformers.WhisperProcessor(transformers.WhisperFeatureExtractor(), tok).save_pretrained(tmp_path)
    asr = adapters.WhisperHFASR(checkpoint=tmp_path, max_new_tokens=4)
    texts = asr.transcribe_batch(candidates)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)


def test_aes_adapter_on_random_weights(tmp_path, candidates, monkeypatch):
    require("audiobox_aesthetics.model.aes")
    from audiobox_aesthetics.model.aes import AesMultiOutput

    torch.manual_seed(0)
    tt = {a: {"mean": 5.0, "std": 2.0} for a in ("CE", "CU", "PC", "PQ")}
    AesMultiOutput(target_transform=tt).save_pretrained(tmp_path)
    monkeypatch.setenv("TSR_AES_CHECKPOINT", str(tmp_path))
    v = adapters.AudioboxAesthetics()
    long = np.concatenate([candidates, candidates[:, : SR // 2]] * 8, axis=1)[:, : int(12.5 * SR)]  # two windows
    out = v.evaluate(long, SR)
    assert set(out) == {"aes", "ce", "cu", "pc", "pq"}
    assert all(o.shape == (3,) and np.isfinite(o).all() for o in out.values())
    np.testing.assert_allclose(out["aes"], np.mean([out[a] for a in ("ce", "cu", "pc", "pq")], axis=0))


def _tiny_clap(folder) -> None:
    """A randomly initialised transformers ``ClapModel`` with its processor (a tiny byte-level BPE) in ``folder``."""
    transformers = require("transformers")
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["a dog barks in the rain", "solo piano music", "a man speaks"],
        vocab_size=300,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    bpe.save_model(str(folder))
    tok = transformers.RobertaTokenizer.from_pretrained(str(folder))
    text = transformers.ClapTextConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=80,
        projection_dim=32,
    )
    audio = transformers.ClapAudioConfig(
        num_mel_bins=16,
        spec_size=64,
        window_size=4,
        patch_size=2,
        patch_stride=2,
        hidden_size=32,
        patch_embeds_hidden_size=16,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        projection_dim=32,
        enable_fusion=False,
    )
    torch.manual_seed(0)
    transformers.ClapModel(
        transformers.ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=32)
    ).save_pretrained(folder)
    extractor = transformers.ClapFeatureExtractor(
        feature_size=16, sampling_rate=48_000, hop_length=480, max_length_s=2, truncation="rand_trunc"
    )
    transformers.ClapProcessor(extractor, tok).save_pretrained(folder)


def test_clap_adapter_on_a_tiny_random_model(tmp_path, candidates, monkeypatch):
    _tiny_clap(tmp_path)
    monkeypatch.setenv("TSR_CLAP_CHECKPOINT", str(tmp_path))
    v = adapters.CLAPScore()
    assert v.backend == "transformers"
    ctx = Context(caption="a dog barks in the rain")
    s = v.score(candidates, SR, ctx)  # 16 kHz candidates are resampled to the model's 48 kHz
    assert s.shape == (3,) and np.isfinite(s).all() and (np.abs(s) <= 1 + 1e-5).all()
    # batching does not change a candidate's score, and the caption's embedding is computed once per context
    np.testing.assert_allclose(v.score(candidates[1:2], SR, ctx), s[1:2], atol=1e-5)
    assert sum(k[0] == "clap" for k in ctx.cache) == 1
    # the score is the cosine of the two embeddings
    a = v.embed_audio(np.stack([tsa.resample(c, SR, 48_000) for c in candidates]))
    np.testing.assert_allclose(s, (a @ v.embed_text(ctx.caption)).numpy(), atol=1e-5)
    with pytest.raises(TsrError, match="caption"):
        v.score(candidates, SR, Context())


def test_clap_without_checkpoint_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("TSR_CLAP_CHECKPOINT", raising=False)
    with pytest.raises(CheckpointError, match="laion/clap-htsat-unfused"):
        adapters.CLAPScore()
    ckpt = tmp_path / "630k-audioset-best.pt"  # a laion_clap file: needs that package (absent or unloadable here)
    ckpt.write_bytes(b"")
    try:
        import laion_clap  # noqa: F401
    except Exception:
        with pytest.raises(TsrError, match="laion_clap"):
            adapters.CLAPScore(checkpoint=ckpt)
