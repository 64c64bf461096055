"""What a search returns: the chosen audio, every candidate it evaluated, and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Candidate:
    """One evaluated candidate.

    ``id``: its position in :attr:`SearchResult.candidates`; ``round``: the search round it came from;
    ``parent``: the id it was derived from (zero-order pivot, paths branch), else None; ``seed``: the
    run seed; ``noise``: how its initial noise was made (e.g. ``"k=3"``, ``"shell(0.2) of #4, k=17"``);
    ``scores``: every verifier axis (higher is better); ``nfe``: denoiser evaluations spent on it;
    ``level``: for search over paths, the sampler step index its score was taken at (``steps`` = final);
    ``final``: whether it is a finished sample (not an intermediate x0-prediction).
    """

    id: int
    round: int
    parent: int | None
    seed: int
    noise: str
    scores: dict[str, float]
    nfe: int
    level: int | None = None
    final: bool = True


@dataclass
class SearchResult:
    """The outcome of ``searcher.run``.

    ``audio [T]`` at ``sr`` Hz: the chosen candidate; ``score``: its primary verifier score; ``chosen``:
    its candidate id. ``nfe``: denoiser evaluations the algorithm spends (cache hits included, so
    algorithms compare at equal compute); ``cache_hits``: candidates read from the cache instead;
    ``verifier_calls``: candidates scored (pivots re-scored each round count again) and
    ``verifier_seconds`` their time; ``wall_seconds``: the whole run. ``history``: one dict per round
    (round, best id, best score, NFE so far). ``audio_of``: the audio of every final candidate, by id.
    ``searcher``: its :meth:`~tsrlib.search.Searcher.to_config`; with ``model``, ``verifier``, ``seed`` and
    ``cutoff_hz`` it reruns the search exactly (``tsr upsample --replay REPORT``).
    """

    audio: np.ndarray
    sr: int
    score: float
    chosen: int
    candidates: list[Candidate]
    nfe: int
    verifier: str
    searcher: dict
    seed: int
    cutoff_hz: float
    model: str = ""
    cache_hits: int = 0
    verifier_calls: int = 0
    verifier_seconds: float = 0.0
    wall_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)
    audio_of: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def frame(self) -> pd.DataFrame:
        """One row per candidate: id, round, parent, seed, noise, nfe, level, final, and one column per axis."""
        df = pd.DataFrame([{k: v for k, v in asdict(c).items() if k != "scores"} | c.scores for c in self.candidates])
        return df.astype({"parent": "Int64", "level": "Int64"})

    def to_json(self) -> dict:
        """A JSON-ready report: the input cutoff, each candidate's noise and scores, the choice, NFE and time."""
        return {
            "model": self.model,
            "searcher": self.searcher,
            "verifier": self.verifier,
            "seed": self.seed,
            "cutoff_hz": float(self.cutoff_hz),
            "chosen": self.chosen,
            "score": float(self.score),
            "nfe": int(self.nfe),
            "cache_hits": int(self.cache_hits),
            "verifier_calls": int(self.verifier_calls),
            "verifier_seconds": round(self.verifier_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "history": self.history,
            "candidates": [{k: v for k, v in asdict(c).items()} for c in self.candidates],
        }
