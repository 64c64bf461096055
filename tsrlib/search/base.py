"""The searcher interface and the bookkeeping every searcher shares.

``searcher.run(model, lr_audio, verifier, budget, seed) -> SearchResult``. Budgets are in NFE (network
evaluations of the denoiser), so algorithms compare at equal compute; each searcher sizes itself to fit.
Candidates of one round are sampled as one batch and scored in one verifier call, which matters for
ensembles: their ranks compare candidates within a call.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import ClassVar

import numpy as np
import torch

from tsrlib import audio as tsa
from tsrlib import sampler
from tsrlib.errors import AudioInputError, ConfigError, TsrError
from tsrlib.models.protocol import SRDiffusionModel
from tsrlib.search.cache import CandidateCache
from tsrlib.search.result import Candidate, SearchResult
from tsrlib.verifiers import Context, Verifier, get_verifier

MAX_SEARCH_SECONDS = 60.0
"""Longest input a search accepts, in seconds (a search holds every candidate in memory)."""


class Run:
    """The state of one search: the condition, the verifier, the candidates so far and the counters."""

    def __init__(
        self,
        searcher: Searcher,
        model: SRDiffusionModel,
        x: np.ndarray,
        cutoff: float,
        verifier: Verifier,
        ctx: Context,
        seed: int,
        progress: bool,
    ):
        self.searcher, self.model, self.verifier, self.ctx, self.seed = searcher, model, verifier, ctx, seed
        self.cutoff, self.progress = cutoff, progress
        self.cond = model.condition(x, model.sr, cutoff)
        self.device = sampler.device_of(self.cond)
        self.shape = model.noise_shape(self.cond)
        self.cache = searcher.cache
        self.input_key = CandidateCache.input_key(model, x, cutoff) if self.cache else ""
        self.candidates: list[Candidate] = []
        self.audio_of: dict[int, np.ndarray] = {}
        self.history: list[dict] = []
        self.nfe = self.cache_hits = self.verifier_calls = 0
        self.verifier_seconds = 0.0

    # -------------------------------------------------------------------------------------- sampling
    def initial(self, noise: sampler.CandidateNoise) -> torch.Tensor:
        """The starting noises ``x_T [len(noise), ...]`` of ``noise``'s candidates (:func:`tsrlib.sampler.initial_noise`)."""
        return sampler.initial_noise(self.model, self.cond, noise)

    def sample(self, x_T: torch.Tensor, noise: sampler.CandidateNoise) -> np.ndarray:
        """Finish candidates from initial noises ``x_T [n, ...]`` (batched, cached); returns audio ``[n, T]``.

        ``noise`` holds each row's generator (per-step draws when eta > 0). NFE counts every row, cached or not.
        """
        s = self.searcher
        per = s.per_sample
        keys = (
            [
                CandidateCache.key(
                    self.input_key, x_T[r], s.steps, s.eta, s.solver, sampler.candidate_seed(noise.seed, k), s.guidance
                )
                for r, k in enumerate(noise.indices)
            ]
            if self.cache
            else [None] * len(x_T)
        )
        out: list[np.ndarray | None] = [self.cache.get(k) if k else None for k in keys]
        todo = [r for r, a in enumerate(out) if a is None]
        for b in range(0, len(todo), s.batch_size):
            rows = todo[b : b + s.batch_size]
            x0, _ = sampler.sample_from(
                self.model,
                self.cond,
                x_T[rows],
                noise.subset(rows),
                steps=s.steps,
                eta=s.eta,
                solver=s.solver,
                guidance_scale=s.guidance,
            )
            for r, a in zip(rows, self.model.decode(x0, self.cond)):
                out[r] = a
                if keys[r]:
                    self.cache.put(keys[r], a)
        self.cache_hits += len(x_T) - len(todo)
        self.nfe += per * len(x_T)
        return np.stack(out)

    # --------------------------------------------------------------------------------------- scoring
    def score(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Every verifier axis for ``audio [n, T]``, in one call; counts calls and time."""
        t0 = time.perf_counter()
        out = self.verifier.evaluate(audio, self.model.sr, self.ctx)
        self.verifier_seconds += time.perf_counter() - t0
        self.verifier_calls += len(audio)
        return out

    def primary(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        return scores[self.verifier.primary]

    def add(
        self,
        *,
        round: int,
        parent: int | None,
        noise: str,
        scores: dict[str, np.ndarray],
        row: int,
        nfe: int,
        audio: np.ndarray | None = None,
        level: int | None = None,
        final: bool = True,
    ) -> int:
        """Record one candidate (row ``row`` of ``scores``) and return its id."""
        cid = len(self.candidates)
        self.candidates.append(
            Candidate(
                id=cid,
                round=round,
                parent=parent,
                seed=self.seed,
                noise=noise,
                scores={k: float(v[row]) for k, v in scores.items()},
                nfe=nfe,
                level=level,
                final=final,
            )
        )
        if audio is not None:
            self.audio_of[cid] = audio
        return cid

    def log_round(self, round: int, best: int, best_score: float, **extra) -> None:
        self.history.append({"round": round, "best": best, "best_score": float(best_score), "nfe": self.nfe, **extra})


class Searcher:
    """Base class: holds the sampler settings; subclasses implement :meth:`_search` and :meth:`nfe`."""

    name: ClassVar[str] = "searcher"

    def __init__(
        self,
        *,
        steps: int = 25,
        eta: float = 0.0,
        solver: str = "ddim",
        batch_size: int = 16,
        cache: CandidateCache | str | None = None,
        guidance_scale: float | None = None,
    ):
        if solver not in sampler.SOLVERS:
            raise TsrError(f"unknown solver {solver!r}; choose one of {', '.join(sampler.SOLVERS)}")
        self.steps, self.eta, self.solver, self.batch_size = int(steps), float(eta), solver, int(batch_size)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        self.cache = CandidateCache(cache) if isinstance(cache, (str,)) or hasattr(cache, "__fspath__") else cache
        self.guidance_scale = None if guidance_scale is None else float(guidance_scale)

    @property
    def guidance(self) -> float:
        """The classifier-free guidance scale sampling uses (1: none; ``None`` at construction means the model's
        default, which :meth:`run` fills in)."""
        return 1.0 if self.guidance_scale is None else self.guidance_scale

    @property
    def evals(self) -> int:
        """Network evaluations per candidate per denoiser call: 2 with guidance (cond and uncond), else 1."""
        return 1 if self.guidance == 1.0 else 2

    @property
    def per_sample(self) -> int:
        """NFE of one full sample with these settings."""
        return sampler.nfe_per_sample(self.steps, self.solver, self.evals)

    def to_config(self) -> dict:
        """The searcher's name and every constructor argument that shapes its result (JSON-ready);
        :meth:`from_config` rebuilds an equal searcher. A search report stores it under ``"searcher"``.
        ``guidance_scale`` appears only when sampling is guided, so an unguided search's config (a report, a score
        bank's cell key) is what it was before guidance existed."""
        return {
            "name": self.name,
            "steps": self.steps,
            "eta": self.eta,
            "solver": self.solver,
            "batch_size": self.batch_size,
        } | ({"guidance_scale": self.guidance_scale} if self.guidance != 1.0 else {})

    @classmethod
    def from_config(cls, config: dict, **overrides) -> Searcher:
        """The searcher :meth:`to_config` described (``overrides``, such as ``cache``, replace its entries)."""
        from tsrlib.search import make_searcher

        kw = {**config, **overrides}
        name = kw.pop("name", cls.name)
        if cls is not Searcher and name != cls.name:
            raise ConfigError(f"a {name!r} config cannot build a {cls.__name__}")
        return make_searcher(name, **kw)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_config() == self.to_config()

    __hash__ = None  # mutable settings (fit returns a resized copy): compared by value, not hashed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.to_config().items() if k != 'name')})"

    def fit(self, budget: int) -> Searcher:
        """A copy of this searcher sized to spend at most ``budget`` NFE (at least its minimum)."""
        raise NotImplementedError

    def nfe(self) -> int:
        """The NFE this searcher spends, in closed form."""
        raise NotImplementedError

    def run(
        self,
        model: SRDiffusionModel,
        lr_audio: np.ndarray,
        verifier: Verifier | str,
        budget: int | None = None,
        seed: int = 0,
        *,
        sr: int | None = None,
        context: Context | None = None,
        cutoff_hz: float | None = None,
        allow_oracle: bool = False,
        progress: bool = False,
    ) -> SearchResult:
        """Search for the best super-resolution of ``lr_audio [T]`` (at ``sr`` Hz, default the model's rate).

        ``verifier``: a :class:`~tsrlib.verifiers.Verifier` or a name; an oracle is refused unless
        ``allow_oracle`` (oracle analysis only). ``budget``: NFE; when given the searcher is resized
        with :meth:`fit`. ``context``: transcript, caption or reference for the verifier (the input and
        cutoff are filled in). Returns a :class:`SearchResult` with the chosen audio at the model rate.
        """
        t0 = time.perf_counter()
        v = get_verifier(verifier) if isinstance(verifier, str) else verifier
        if not hasattr(v, "evaluate"):
            raise ConfigError(f"verifier must be a Verifier or a verifier's name, got {verifier!r}")
        if budget is not None and budget < 1:
            raise ConfigError(f"a budget is a number of NFE, at least 1; got {budget}")
        if v.oracle and not allow_oracle:
            raise TsrError(
                f"verifier {v.name!r} is an oracle (it needs the clean reference); searching with it "
                "is for analysis only: pass allow_oracle=True"
            )
        if getattr(model, "is_regression", False):
            raise TsrError(
                "the regression baseline is deterministic: there is no noise to search; use the diffusion model"
            )
        searcher = self
        if self.guidance_scale is None and getattr(model, "guidance_scale", 1.0) != 1.0:
            searcher = copy.copy(self)  # the model's default guidance, recorded in the result's searcher config
            searcher.guidance_scale = float(model.guidance_scale)
        searcher = searcher.fit(budget) if budget is not None else searcher
        sr = model.sr if sr is None else sr
        x = tsa.check_audio(lr_audio, sr, name="input", min_seconds=tsa.MIN_SECONDS)
        if len(x) > MAX_SEARCH_SECONDS * sr:
            raise AudioInputError(
                f"input is {len(x) / sr:.0f} s long; a search holds every candidate in memory, "
                f"so it takes at most {MAX_SEARCH_SECONDS:.0f} s: cut the file first"
            )
        x = tsa.resample(x, sr, model.sr)
        cutoff = tsa.band_cutoff(x, model.sr, cutoff_hz)
        # a copy: what this run fills in (input, cutoff, cached features) never leaks into the caller's context,
        # so a context reused for the next clip cannot carry this clip's input
        ctx = dataclasses.replace(context, cache=dict(context.cache)) if context is not None else Context()
        if ctx.input is None:
            ctx.input, ctx.input_sr = x, model.sr
        if ctx.cutoff_hz is None:
            ctx.cutoff_hz = cutoff
        run = Run(searcher, model, x, cutoff, v, ctx, seed, progress)
        chosen = searcher._search(run)
        best = run.candidates[chosen]
        return SearchResult(
            audio=run.audio_of[chosen],
            sr=model.sr,
            score=best.scores[v.primary],
            chosen=chosen,
            candidates=run.candidates,
            nfe=run.nfe,
            verifier=v.name,
            searcher=searcher.to_config(),
            seed=seed,
            cutoff_hz=cutoff,
            model=getattr(model, "name", type(model).__name__),
            cache_hits=run.cache_hits,
            verifier_calls=run.verifier_calls,
            verifier_seconds=run.verifier_seconds,
            wall_seconds=time.perf_counter() - t0,
            history=run.history,
            audio_of=run.audio_of,
        )

    def _search(self, run: Run) -> int:
        raise NotImplementedError
