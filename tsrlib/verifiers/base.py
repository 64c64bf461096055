"""The verifier interface: score N candidates of one input, higher is better.

Sign convention, stated once for the whole library: **every verifier returns scores where higher means
better.** Error-like measures are negated: the WER verifier returns ``-WER``, the LSD oracle ``-LSD``.
A searcher therefore always takes the arg-max.

A verifier has one or more *axes* (DNSMOS has OVRL, SIG, BAK and P.808); :meth:`Verifier.evaluate`
returns all of them and :meth:`Verifier.score` the *primary* one, the axis a searcher maximises.

What a verifier may use travels in a :class:`Context`: the band-limited input, a transcript, a
caption, and, for **oracles** only, the clean reference. A verifier declares the fields it ``needs``;
a missing one is a clear :class:`~tsrlib.errors.TsrError`, not a crash inside a model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from tsrlib import audio as tsa
from tsrlib.errors import AudioInputError, TsrError


@dataclass
class Context:
    """What verifiers may know about the input besides the candidates.

    ``input``: the band-limited input ``[T]`` at ``input_sr`` Hz; ``transcript`` / ``caption``: text;
    ``reference``: the clean full-band audio ``[T]`` at ``reference_sr`` Hz, **for oracles only**;
    ``cutoff_hz``: the input's bandwidth in Hz (detected from ``input`` when absent).
    """

    input: np.ndarray | None = None
    input_sr: int | None = None
    transcript: str | None = None
    caption: str | None = None
    reference: np.ndarray | None = None
    reference_sr: int | None = None
    cutoff_hz: float | None = None
    cache: dict = field(default_factory=dict, repr=False)

    def require(self, needs: frozenset[str], who: str) -> None:
        missing = sorted(n for n in needs if getattr(self, n) is None)
        if missing:
            hint = {
                "input": "--input LR.wav",
                "transcript": "--transcript TEXT",
                "caption": "--caption TEXT",
                "reference": "--reference HR.wav",
            }
            raise TsrError(
                f"verifier {who!r} needs {', '.join(missing)} "
                f"(on the command line: {', '.join(hint.get(m, m) for m in missing)})"
            )

    def input_at(self, sr: int) -> np.ndarray:
        """The band-limited input resampled to ``sr`` Hz, cached per rate. Shape ``[T']``."""
        key = ("input", sr)
        if key not in self.cache:
            self.cache[key] = tsa.resample(tsa.check_audio(self.input, self.input_sr, name="input"), self.input_sr, sr)
        return self.cache[key]

    def reference_at(self, sr: int) -> np.ndarray:
        """The clean reference resampled to ``sr`` Hz, cached per rate. Shape ``[T']``."""
        key = ("reference", sr)
        if key not in self.cache:
            self.cache[key] = tsa.resample(
                tsa.check_audio(self.reference, self.reference_sr, name="reference"), self.reference_sr, sr
            )
        return self.cache[key]

    def cutoff(self) -> float:
        """The input bandwidth in Hz: ``cutoff_hz`` if given, else detected on the input."""
        if self.cutoff_hz is not None:
            return float(self.cutoff_hz)
        if "cutoff" not in self.cache:  # detected once, kept beside the input's other derived values
            self.require(frozenset({"input"}), "cutoff detection")
            self.cache["cutoff"] = float(tsa.detect_cutoff(self.input_at(self.input_sr), self.input_sr))
        return self.cache["cutoff"]


def as_candidates(candidates: np.ndarray, sr: int) -> np.ndarray:
    """Validate candidates and return float32 ``[N, T]``; a single ``[T]`` becomes ``[1, T]``."""
    x = np.asarray(candidates, dtype=np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise AudioInputError(f"candidates must have shape [N, T] with N, T > 0, got {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise AudioInputError("candidates contain NaN or infinite samples")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioInputError(f"sample rate must be a positive integer in Hz, got {sr!r}")
    return x


class Verifier:
    """Base class. Subclasses set the class attributes and implement :meth:`_evaluate`.

    ``axes``: names of the returned scores; ``primary``: the axis searchers maximise; ``needs``: the
    :class:`Context` fields required; ``oracle``: True when it needs the clean reference (evaluation
    only: searchers refuse it unless asked explicitly); ``native_sr``: the rate the model works at,
    candidates are resampled to it (None: any rate).
    """

    name: ClassVar[str] = "verifier"
    axes: ClassVar[tuple[str, ...]] = ("score",)
    primary: ClassVar[str] = "score"
    needs: ClassVar[frozenset[str]] = frozenset()
    oracle: ClassVar[bool] = False
    native_sr: ClassVar[int | None] = None
    needs_label: ClassVar[str | None] = None  # how ``describe`` states needs that ``needs`` cannot (either of two)

    def __init__(self, device: str = "cpu") -> None:
        self.device = device  # verifiers without a model ignore it; every verifier is built as Class(device=...)

    def evaluate(self, candidates: np.ndarray, sr: int, context: Context | None = None) -> dict[str, np.ndarray]:
        """Every axis for candidates ``[N, T]`` (or ``[T]``) at ``sr`` Hz: ``{axis: float64 [N]}``, higher is better."""
        x = as_candidates(candidates, sr)
        ctx = context if context is not None else Context()
        ctx.require(self.needs, self.name)
        if self.native_sr is not None and sr != self.native_sr:
            x = np.stack([tsa.resample(row, sr, self.native_sr) for row in x])
            sr = self.native_sr
        out = self._evaluate(x, sr, ctx)
        return {k: np.asarray(v, dtype=np.float64).reshape(len(x)) for k, v in out.items()}

    def score(self, candidates: np.ndarray, sr: int, context: Context | None = None) -> np.ndarray:
        """The primary axis, ``float64 [N]``, higher is better."""
        return self.evaluate(candidates, sr, context)[self.primary]

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}{', oracle' if self.oracle else ''})"
