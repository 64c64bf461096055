"""Adapters for the paper's own verifiers. Their weights come from model hubs, so they load from a local path.

Each adapter takes a checkpoint path (argument, or the environment variable named below) and, when
it is missing, raises :class:`~tsrlib.errors.CheckpointError` naming what to fetch and where to put
it. The packages are optional extras; they are imported only when an adapter is built.

=====================  ==============================  =========================================================
verifier               environment variable            what to fetch (on a machine with internet)
=====================  ==============================  =========================================================
``aes``                ``TSR_AES_CHECKPOINT``          ``facebook/audiobox-aesthetics`` (folder with config.json
                                                       and model.safetensors) or its ``checkpoint.pt``
``clap``               ``TSR_CLAP_CHECKPOINT``         ``laion/clap-htsat-unfused`` (a folder, transformers port), or
                                                       ``lukewys/laion_clap`` ``630k-audioset-best.pt`` (laion_clap)
``wavlm-spk``          ``TSR_WAVLM_DIR``               ``microsoft/wavlm-base-plus-sv`` (a folder)
``wer-whisper-hf``     ``TSR_WHISPER_HF_DIR``          ``openai/whisper-base`` or larger (a folder)
=====================  ==============================  =========================================================

Every adapter's loading, preprocessing and batching is tested offline on a randomly initialised
model built from the same classes (``tests/test_adapters.py``). For CLAP that is the transformers port;
the ``laion_clap`` package's own module cannot be built here (see :class:`CLAPScore`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from tsrlib.errors import CheckpointError, TsrError
from tsrlib.verifiers.base import Context, Verifier

FETCH = {
    "aes": ("TSR_AES_CHECKPOINT", "huggingface-cli download facebook/audiobox-aesthetics --local-dir ckpt/aes"),
    "clap": ("TSR_CLAP_CHECKPOINT", "huggingface-cli download laion/clap-htsat-unfused --local-dir ckpt/clap"),
    "wavlm-spk": ("TSR_WAVLM_DIR", "huggingface-cli download microsoft/wavlm-base-plus-sv --local-dir ckpt/wavlm-sv"),
    "wer-whisper-hf": (
        "TSR_WHISPER_HF_DIR",
        "huggingface-cli download openai/whisper-base --local-dir ckpt/whisper-base",
    ),
}


def checkpoint_path(kind: str, path: str | Path | None) -> Path:
    """Resolve an adapter's checkpoint from ``path`` or its environment variable, or raise a clear error."""
    env, how = FETCH[kind]
    p = path or os.environ.get(env)
    if not p:
        raise CheckpointError(
            f"verifier {kind!r} needs a local checkpoint: set {env} (or pass a path). "
            f"Fetch it on a machine with internet: {how}"
        )
    p = Path(p)
    if not p.exists():
        raise CheckpointError(f"verifier {kind!r}: checkpoint {p} does not exist ({env}). Fetch it with: {how}")
    return p


def _require(module: str, extra: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as e:
        raise TsrError(f"this verifier needs the optional package {module!r}: pip install 'tsrlib[{extra}]'") from e


def _device(device: str) -> torch.device:
    from tsrlib.devices import resolve

    return resolve(device)


# ------------------------------------------------------------------------------------------ AES
class AudioboxAesthetics(Verifier):
    """Audiobox-Aesthetics: content enjoyment (CE), content usefulness (CU), production complexity (PC),
    production quality (PQ), each about 1-10; the primary axis ``aes`` is their mean.

    Audio is resampled to 16 kHz and cut into 10 s windows (as the reference implementation does); a
    clip's score is the window scores' mean weighted by each window's length.
    """

    name = "aes"
    axes = ("aes", "ce", "cu", "pc", "pq")
    primary = "aes"
    native_sr = 16_000
    window_s = 10.0

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu"):
        _require("audiobox_aesthetics.model.aes", "aesthetics")
        from audiobox_aesthetics.model.aes import AesMultiOutput

        path, self.device = checkpoint_path("aes", checkpoint), _device(device)
        if path.is_dir():
            model = AesMultiOutput.from_pretrained(str(path))
        else:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
            keys = [
                "proj_num_layer",
                "proj_ln",
                "proj_act_fn",
                "proj_dropout",
                "nth_layer",
                "use_weighted_layer_sum",
                "precision",
                "normalize_embed",
                "output_dim",
            ]
            model = AesMultiOutput(**{k: ckpt["model_cfg"][k] for k in keys}, target_transform=ckpt["target_transform"])
            model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
        self.model = model.to(self.device).eval()

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        win = int(self.window_s * sr)
        wavs, masks, owner, weight = [], [], [], []
        for i, row in enumerate(x):
            for s in range(0, len(row), win):
                seg = row[s : s + win]
                wavs.append(np.pad(seg, (0, win - len(seg))))
                masks.append(np.arange(win) < len(seg))
                owner.append(i)
                weight.append(len(seg))
        batch = {
            "wav": torch.as_tensor(np.stack(wavs))[:, None].to(self.device),
            "mask": torch.as_tensor(np.stack(masks))[:, None].to(self.device),
        }
        with torch.inference_mode():
            preds = self.model(batch)
        owner, weight = np.array(owner), np.array(weight, dtype=np.float64)
        out = {}
        for axis in ("CE", "CU", "PC", "PQ"):
            tt = self.model.target_transform[axis]
            p = preds[axis].float().cpu().numpy().reshape(-1) * tt["std"] + tt["mean"]
            out[axis.lower()] = [np.average(p[owner == i], weights=weight[owner == i]) for i in range(len(x))]
        out["aes"] = np.mean([out[a] for a in ("ce", "cu", "pc", "pq")], axis=0)
        return out


# ----------------------------------------------------------------------------------------- CLAP
class CLAPScore(Verifier):
    """LAION-CLAP: cosine similarity between each candidate's audio embedding (48 kHz) and the caption's.

    Two back-ends read the same model family:

    * a folder (``config.json``), the transformers port ``ClapModel`` + ``ClapProcessor`` of LAION-CLAP
      (``laion/clap-htsat-unfused``); tested offline on a tiny random model;
    * a file (``630k-audioset-best.pt``), the ``laion_clap`` package's own ``CLAP_Module`` (HTSAT-tiny,
      RoBERTa). Its import needs torchvision and the ``roberta-base``, ``bert-base-uncased`` and
      ``facebook/bart-base`` tokenizers in the Hugging Face cache; PyPI's torchvision does not load beside
      the CPU build of torch, so this back-end runs only where a matching torchvision is installed.

    Clips longer than the model's window (10 s) are cropped by the feature extractor as LAION-CLAP does.
    """

    name = "clap"
    axes = ("clap",)
    primary = "clap"
    needs = frozenset({"caption"})
    native_sr = 48_000

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu", amodel: str = "HTSAT-tiny"):
        path = checkpoint_path("clap", checkpoint)
        self.device = _device(device)
        if path.is_dir():
            transformers = _require("transformers", "adapters")
            self.processor = transformers.ClapProcessor.from_pretrained(str(path))
            self.model = transformers.ClapModel.from_pretrained(str(path)).to(self.device).eval()
            self.backend = "transformers"
            return
        try:
            import laion_clap
        except ImportError as e:
            raise TsrError(
                f"{path} is a laion_clap checkpoint, which needs the optional package laion_clap "
                f"(pip install --no-deps laion-clap and a torchvision matching torch), or use the "
                f"transformers port: {FETCH['clap'][1]}"
            ) from e
        except Exception as e:  # its import loads three tokenizers by hub name; torchvision may not load
            raise CheckpointError(
                f"laion_clap failed to import ({type(e).__name__}: {e}). It needs roberta-base, "
                f"bert-base-uncased and facebook/bart-base in the Hugging Face cache and a torchvision "
                f"that loads beside torch; or use the transformers port: {FETCH['clap'][1]}"
            ) from None
        try:
            self.model = laion_clap.CLAP_Module(enable_fusion=False, amodel=amodel, device=self.device)
        except OSError as e:  # its text branch loads roberta-base by name
            raise CheckpointError(
                "CLAP needs roberta-base in the Hugging Face cache: huggingface-cli download roberta-base"
            ) from e
        self.model.load_ckpt(str(path), verbose=False)
        self.backend = "laion_clap"

    def embed_audio(self, x: np.ndarray) -> torch.Tensor:
        """Unit-norm audio embeddings ``[N, D]`` of 48 kHz audio ``[N, T]``."""
        with torch.inference_mode():
            if self.backend == "laion_clap":
                a = self.model.get_audio_embedding_from_data(x=torch.as_tensor(x).to(self.device), use_tensor=True)
            else:
                feats = self.processor.feature_extractor(
                    list(np.atleast_2d(x)), sampling_rate=self.native_sr, return_tensors="pt"
                )
                a = self.model.get_audio_features(**{k: v.to(self.device) for k, v in feats.items()})
                a = getattr(a, "pooler_output", a)  # transformers 5 returns an output object
        return torch.nn.functional.normalize(a.float(), dim=-1).cpu()

    def embed_text(self, caption: str) -> torch.Tensor:
        """The unit-norm embedding ``[D]`` of one caption."""
        with torch.inference_mode():
            if self.backend == "laion_clap":
                t = self.model.get_text_embedding([caption, caption], use_tensor=True)[:1]
            else:
                tok = self.processor.tokenizer([caption], return_tensors="pt", padding=True)
                t = self.model.get_text_features(**{k: v.to(self.device) for k, v in tok.items()})
                t = getattr(t, "pooler_output", t)
        return torch.nn.functional.normalize(t.float(), dim=-1).cpu()[0]

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        key = (self.name, "caption", ctx.caption)
        if key not in ctx.cache:
            ctx.cache[key] = self.embed_text(ctx.caption)
        return {"clap": (self.embed_audio(x) @ ctx.cache[key]).numpy()}


# --------------------------------------------------------------------------------- WavLM SpkSim
class WavLMSpkSim(Verifier):
    """Speaker similarity with a WavLM x-vector head (``WavLMForXVector``): cosine to the input's embedding."""

    name = "wavlm-spk"
    axes = ("spksim",)
    primary = "spksim"
    needs = frozenset({"input"})
    native_sr = 16_000

    def __init__(self, checkpoint: str | Path | None = None, device: str = "cpu"):
        path = checkpoint_path("wavlm-spk", checkpoint)
        transformers = _require("transformers", "adapters")
        self.device = _device(device)
        self.extractor = transformers.AutoFeatureExtractor.from_pretrained(str(path))
        self.model = transformers.WavLMForXVector.from_pretrained(str(path)).to(self.device).eval()

    def embed(self, audio: np.ndarray) -> torch.Tensor:
        """Unit-norm x-vectors ``[N, D]`` of 16 kHz audio ``[N, T]`` (one padded batch)."""
        feats = self.extractor(
            list(np.atleast_2d(audio)),
            sampling_rate=self.native_sr,
            return_tensors="pt",
            padding=True,
            return_attention_mask=True,
        )
        with torch.inference_mode():
            emb = self.model(**{k: v.to(self.device) for k, v in feats.items()}).embeddings
        return torch.nn.functional.normalize(emb, dim=-1).cpu()

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        key = (self.name, "target")
        if key not in ctx.cache:
            ctx.cache[key] = self.embed(ctx.input_at(sr)[None])[0]
        return {"spksim": (self.embed(x) @ ctx.cache[key]).numpy()}


# ----------------------------------------------------------------------------- Whisper (transformers)
class WhisperHFASR:
    """Greedy English transcription with transformers' ``WhisperForConditionalGeneration`` (an ASR back-end)."""

    name = "whisper-hf"

    def __init__(self, device: str = "cpu", checkpoint: str | Path | None = None, max_new_tokens: int = 96):
        path = checkpoint_path("wer-whisper-hf", checkpoint)
        transformers = _require("transformers", "adapters")
        self.device, self.max_new_tokens = _device(device), max_new_tokens
        self.processor = transformers.WhisperProcessor.from_pretrained(str(path))
        self.model = transformers.WhisperForConditionalGeneration.from_pretrained(str(path)).to(self.device).eval()

    def transcribe_batch(self, audio: np.ndarray) -> list[str]:
        """Texts of 16 kHz audio ``[N, T]``, decoded in one batch."""
        feats = self.processor(list(np.atleast_2d(audio)), sampling_rate=16_000, return_tensors="pt")
        with torch.inference_mode():
            ids = self.model.generate(
                feats.input_features.to(self.device),
                max_new_tokens=self.max_new_tokens,
                language="en",
                task="transcribe",
            )
        return self.processor.batch_decode(ids, skip_special_tokens=True)

    def transcribe(self, audio: np.ndarray) -> str:
        return self.transcribe_batch(audio[None])[0]
