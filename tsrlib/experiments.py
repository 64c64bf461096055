"""The measurements behind Chapters 3-6, as functions, so the chapters hold only parameters, calls and plots.

Every sweep writes its rows to a CSV as it goes (:class:`ResultLog`) and skips the rows already there on a
rerun, so a killed book build resumes where it stopped; sampled candidates are shared between chapters
through the search cache (:class:`tsrlib.search.CandidateCache`). A row is reused only for the same content:
its key holds the clip's audio digest (:attr:`Clip.sha`), the cutoff, and a ``run`` digest of everything else
that shapes it (the model's weights, sampler settings, verifiers, filter, seed and the library's source code,
:func:`code_version`), so a stale row can never be read back as a fresh one.

Conventions: verifier columns keep the library's sign (higher is better: ``wer`` holds ``-WER``); the
oracle columns ``LSD`` and ``LSD-HF`` are plain distances (lower is better).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from tsrlib import audio as tsa
from tsrlib import metrics, sampler, schedule
from tsrlib.data import manifest
from tsrlib.errors import ConfigError
from tsrlib.prose import ci_text, claim_text, number_text, verdict  # noqa: F401 - the chapters reach them as ex.*
from tsrlib.search import RandomSearch, Searcher
from tsrlib.verifiers import Context, Ensemble, Verifier, ensemble_members, get_verifier, rank_aggregate

GROUP = ["clip", "cutoff"]
"""The columns that name one input of the analyses (a clip at a cutoff)."""
KEY = ["run", "clip", "clip_sha", "cutoff"]
"""The columns that decide whether a logged row may be reused: the run digest, the clip, its content, the cutoff."""


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A digest of tsrlib's Python source (every ``.py`` file under the package): any code change changes it."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def run_key(model=None, **params) -> str:
    """A digest of what shapes a sweep's rows besides the clip and cutoff: ``params`` (JSON-able), the ``model``'s
    fingerprint (name, config, weights) and :func:`code_version`."""
    if model is not None:
        from tsrlib.search.cache import model_fingerprint

        params["model"] = model_fingerprint(model)
    params["code"] = code_version()
    return hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Clip:
    """A clean test clip ``audio [T]`` at ``sr`` Hz with what the corpus knows about it."""

    id: str
    domain: str
    source: str
    audio: np.ndarray
    sr: int
    transcript: str | None
    caption: str | None

    @functools.cached_property
    def sha(self) -> str:
        """A digest of the clip's content: rate, samples, transcript and caption (ids repeat across corpora)."""
        return hashlib.sha1(
            json.dumps([self.sr, self.transcript, self.caption]).encode()
            + np.ascontiguousarray(self.audio, np.float32).tobytes()
        ).hexdigest()[:12]

    def key(self, run: str, cutoff: float) -> dict:
        """The columns that place a logged row: the run digest, this clip's id and content, its domain and source,
        and the cutoff (:data:`KEY` and two descriptive columns)."""
        return {
            "run": run,
            "clip": self.id,
            "clip_sha": self.sha,
            "domain": self.domain,
            "source": self.source,
            "cutoff": cutoff,
        }

    def context(self) -> Context:
        """Transcript, caption and the clean reference (for the oracle columns)."""
        return Context(transcript=self.transcript, caption=self.caption, reference=self.audio, reference_sr=self.sr)


def test_clips(
    corpus_dir: str | Path,
    domain: str,
    n: int,
    *,
    max_seconds: float = 3.0,
    sr: int = tsa.MODEL_SR,
    split: str = "test",
) -> list[Clip]:
    """The first ``n`` clips of ``domain`` in a corpus split, cut to ``max_seconds`` and resampled to ``sr``."""
    df = manifest.load(Path(corpus_dir) / "manifest.csv", domain=domain, split=split).head(n or None)
    out = []
    for r in df.itertuples():
        x, _ = tsa.load(r.abspath, sr=sr)
        text = lambda v: v if isinstance(v, str) and v.strip() else None  # noqa: E731 - NaN from CSV means none
        out.append(Clip(r.id, domain, r.source, x[: int(max_seconds * sr)], sr, text(r.transcript), text(r.caption)))
    return out


def clips_by_domain(corpus_dir: str | Path, spec: str | dict[str, int], **kw) -> list[Clip]:
    """Test clips of several domains from a spec such as ``"speech=8,music=8,sfx=8"`` or ``{"speech": 8, "music": 8}``
    (the first 8 of each, in that order); ``kw`` as :func:`test_clips`."""
    if isinstance(spec, dict):
        spec = ",".join(f"{domain}={n}" for domain, n in spec.items())
    out = []
    for part in (p for p in spec.split(",") if p.strip()):
        domain, sep, n = part.partition("=")
        if not sep or not n.strip().isdigit():
            raise ConfigError(f"clip spec {part!r}: write DOMAIN=COUNT, e.g. speech=8")
        out += test_clips(corpus_dir, domain.strip(), int(n), **kw)
    return out


def sweep_name(prefix: str, model=None, **params) -> str:
    """A file name for a sweep's log that changes whenever one of its parameters does, the ``model``'s weights, or
    the library's code (:func:`run_key`). Rows are keyed by content as well, so a shared file is safe too."""
    return f"{prefix}-{run_key(model, **params)[:10]}.csv"


_WHOLE = re.compile(r"-?\d+\.0+")


def _key_text(v) -> str:
    """One spelling per key value, as written and as read back: ``4000``, ``4000.0`` and ``"4000.0"`` agree."""
    text = str(v)
    return text.split(".")[0] if _WHOLE.fullmatch(text) else text


class ResultLog:
    """Rows appended to a CSV as they are computed; :meth:`done` tells a rerun what to skip.

    A log written before its ``keys`` existed (a column missing) cannot say which rows are current: it is moved
    aside to ``NAME.stale.csv``, with a warning, and the sweep starts over.
    """

    def __init__(self, path: str | Path, keys: list[str]):
        self.path, self.keys = Path(path), list(keys)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done = set()
        if self.path.is_file() and self.path.stat().st_size:
            old = pd.read_csv(self.path, dtype=str, keep_default_na=False)
            if missing := [k for k in self.keys if k not in old]:
                stale = self.path.with_suffix(".stale.csv")
                self.path.replace(stale)
                warnings.warn(
                    f"{self.path}: no {', '.join(missing)} column, so its rows cannot be matched to their "
                    f"inputs; moved to {stale.name} and recomputing",
                    stacklevel=2,
                )
            else:
                self._done = {self._key(row) for row in old[self.keys].itertuples(index=False)}

    @staticmethod
    def _key(values) -> tuple[str, ...]:
        return tuple(_key_text(v) for v in values)

    def done(self, **key) -> bool:
        return self._key(key[k] for k in self.keys) in self._done

    def append(self, rows: pd.DataFrame) -> None:
        """Add ``rows`` under the file's header, in its column order (a new file takes ``rows``' order); rows with
        other columns than the file's are a ConfigError naming them, never a misaligned CSV."""
        fresh = not self.path.is_file() or not self.path.stat().st_size
        if not fresh:
            header = list(pd.read_csv(self.path, nrows=0).columns)
            if set(header) != set(rows.columns):
                raise ConfigError(
                    f"{self.path} has columns {sorted(set(header) - set(rows.columns))} these rows lack and lacks "
                    f"{sorted(set(rows.columns) - set(header))}; write them to another file"
                )
            rows = rows[header]
        rows.to_csv(self.path, mode="a", header=fresh, index=False)
        self._done |= {self._key(row) for row in rows[self.keys].itertuples(index=False)}

    def frame(self, **match) -> pd.DataFrame:
        """Every row, or those whose key columns take one of the given values (``run=key, clip_sha=[...]``)."""
        if not self.path.is_file() or not self.path.stat().st_size:
            return pd.DataFrame()
        # digests stay text: read as numbers, "115174036e72" would be 1.15e80 and match no run
        df = pd.read_csv(self.path, dtype=dict.fromkeys(("run", "clip", "clip_sha"), str))
        for col, values in match.items():
            values = values if isinstance(values, (list, tuple, set)) else [values]
            df = df[df[col].map(_key_text).isin({_key_text(v) for v in values})]
        return df.reset_index(drop=True)

    def current(self, run: str, clips: list[Clip], cutoffs: list[float]) -> pd.DataFrame:
        """The rows of this run for these clips' contents at these cutoffs: what a sweep returns."""
        return self.frame(run=run, clip_sha=[c.sha for c in clips], cutoff=list(cutoffs))


def _oracle_columns(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns={"lsd.lsd_hf": "LSD-HF"}).assign(
        LSD=lambda d: -d["lsd"], **{"LSD-HF": lambda d: -d["LSD-HF"]}
    )


def candidate_table(
    model,
    clips: list[Clip],
    cutoffs: list[float],
    n: int,
    verifiers: list[str],
    *,
    steps: int = 25,
    eta: float = 0.0,
    seed: int = 0,
    filter: str = "cheby1",
    cache_dir: str | Path | None = None,
    log_path: str | Path,
    device: str = "cpu",
) -> pd.DataFrame:
    """Score ``n`` candidates of every clip at every cutoff with ``verifiers`` and the LSD oracle.

    One row per candidate: clip, domain, source, cutoff, candidate, LSD, LSD-HF and every verifier axis
    (members' axes named ``name.axis``). Appends to ``log_path`` per (clip, cutoff) and resumes from it.
    """
    log = ResultLog(log_path, KEY)
    run = run_key(
        model, table="candidates", n=n, verifiers=list(verifiers), steps=steps, eta=eta, seed=seed, filter=filter
    )
    table = Ensemble([get_verifier("lsd", device)] + [get_verifier(v, device) for v in verifiers])
    for clip in clips:
        for c in cutoffs:
            if log.done(run=run, clip=clip.id, clip_sha=clip.sha, cutoff=c):
                continue
            lr = tsa.degrade(clip.audio, clip.sr, c, filter)
            res = RandomSearch(n=n, steps=steps, eta=eta, cache=cache_dir).run(
                model, lr, table, seed=seed, sr=clip.sr, context=clip.context(), cutoff_hz=c, allow_oracle=True
            )
            df = _oracle_columns(
                res.frame().drop(columns=["ensemble", "round", "parent", "level", "final", "seed", "nfe"])
            )
            log.append(df.rename(columns={"id": "candidate"}).drop(columns=["lsd", "noise"]).assign(**clip.key(run, c)))
    return log.current(run, clips, cutoffs)


def candidates_audio(
    model,
    clip: Clip,
    cutoff: float,
    n: int,
    *,
    steps: int = 25,
    eta: float = 0.0,
    seed: int = 0,
    filter: str = "cheby1",
    cache_dir: str | Path | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(input [T], candidates [n, T])`` of one clip, the same candidates :func:`candidate_table` scored (cached)."""
    lr = tsa.degrade(clip.audio, clip.sr, cutoff, filter)
    res = RandomSearch(n=n, steps=steps, eta=eta, cache=cache_dir).run(
        model,
        lr,
        get_verifier("lsd"),
        seed=seed,
        sr=clip.sr,
        context=clip.context(),
        cutoff_hz=cutoff,
        allow_oracle=True,
    )
    return lr, np.stack([res.audio_of[k] for k in range(n)])


def verifier_cost(verifier: Verifier, candidates: np.ndarray, sr: int, context: Context) -> float:
    """Seconds of compute per second of audio for ``verifier`` on ``candidates [N, T]`` (after one warm-up call)."""
    verifier.evaluate(candidates[:1], sr, context)
    t0 = time.perf_counter()
    verifier.evaluate(candidates, sr, context)
    return (time.perf_counter() - t0) / (candidates.size / sr)


def sample_cost(
    model, lr: np.ndarray, sr: int, cutoff: float, *, n: int = 4, steps: int = 25, eta: float = 0.0
) -> float:
    """Seconds of compute per second of audio for one candidate of ``model`` on ``lr [T]`` at ``sr`` Hz: ``n``
    candidates sampled as one batch (after a one-candidate warm-up), divided by ``n`` and the audio's length."""
    from tsrlib.upsample import upsample

    upsample(model, lr, sr, cutoff_hz=cutoff, steps=steps, eta=eta)
    t0 = time.perf_counter()
    upsample(model, lr, sr, cutoff_hz=cutoff, steps=steps, eta=eta, indices=range(n))
    return (time.perf_counter() - t0) / n / (len(lr) / sr)


def within_input_spearman(df: pd.DataFrame, columns: list[str], group: list[str] = GROUP) -> pd.DataFrame:
    """Mean Spearman correlation of every pair of ``columns`` across candidates *of the same input*.

    Inputs where a column does not vary (a verifier that scores every candidate alike) give no
    correlation and are left out of that pair's mean. Returns a square DataFrame.
    """
    out = pd.DataFrame(np.nan, index=columns, columns=columns)
    for a in columns:
        for b in columns:
            rhos = []
            for _, g in df.groupby(group):
                if g[a].nunique() > 1 and g[b].nunique() > 1:
                    rhos.append(stats.spearmanr(g[a], g[b])[0])
            out.loc[a, b] = np.mean(rhos) if rhos else np.nan
    return out


def spread(df: pd.DataFrame, columns: list[str], group: list[str] = GROUP) -> pd.DataFrame:
    """Per input, the standard deviation of each column across candidates; mean over inputs, by cutoff."""
    return df.groupby(group)[columns].std().groupby(level="cutoff").mean()


def best_of_n(
    df: pd.DataFrame,
    by: str | list[str],
    measure: list[str],
    ns: list[int],
    *,
    reps: int = 32,
    seed: int = 0,
    group: list[str] = GROUP,
) -> pd.DataFrame:
    """Expected ``measure`` columns of the candidate a verifier picks from N, for each N in ``ns``.

    For each input, ``reps`` random subsets of size N are drawn from its candidates (all of them once N
    reaches the pool); the pick maximises ``by`` (a list of columns: their rank ensemble within the
    subset). Returns one row per input and N with the mean of each measure over the subsets.
    """
    rng = np.random.default_rng(seed)
    cols = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in df.groupby(group):
        scores, vals = g[cols].to_numpy(float).T, g[measure].to_numpy(float)
        for n in ns:
            if n > len(g):
                continue
            subsets = (
                [np.arange(len(g))] if n == len(g) else [rng.choice(len(g), n, replace=False) for _ in range(reps)]
            )
            picks = [
                s[int(np.argmax(rank_aggregate(scores[:, s]) if len(cols) > 1 else scores[0, s]))] for s in subsets
            ]
            rows.append({**dict(zip(group, key)), "N": n, **dict(zip(measure, vals[picks].mean(axis=0)))})
    return pd.DataFrame(rows)


def verifier_for(verifier: str | dict[float, str], cutoff: float) -> str:
    """The verifier name for ``cutoff``: ``verifier`` itself, or the entry of the nearest cutoff in a mapping."""
    if isinstance(verifier, str):
        return verifier
    return verifier[min(verifier, key=lambda k: abs(float(k) - cutoff))]


def compare_searchers(
    model,
    clips: list[Clip],
    cutoffs: list[float],
    searchers: dict[str, Searcher],
    verifier: str | dict[float, str],
    *,
    seeds: list[int],
    filter: str = "cheby1",
    log_path: str | Path,
    device: str = "cpu",
) -> pd.DataFrame:
    """Run each named searcher on each clip, cutoff and seed; score its choice with the oracle.

    ``verifier``: one name, or one per cutoff (``{4000: "consensus", 8000: "continuity"}``). One row per
    run: clip, domain, cutoff, verifier, searcher, seed, nfe, candidates, score (the verifier's, of the
    choice), LSD and LSD-HF of the choice, wall seconds. Appends to ``log_path`` and resumes from it.
    """
    log = ResultLog(log_path, KEY + ["searcher", "seed"])
    run = run_key(
        model,
        table="searchers",
        searchers={k: s.to_config() for k, s in searchers.items()},
        verifier=verifier,
        filter=filter,
    )
    for clip in clips:
        for c in cutoffs:
            v = get_verifier(verifier_for(verifier, c), device)
            lr = tsa.degrade(clip.audio, clip.sr, c, filter)
            for name, s in searchers.items():
                for seed in seeds:
                    if log.done(run=run, clip=clip.id, clip_sha=clip.sha, cutoff=c, searcher=name, seed=seed):
                        continue
                    ctx = Context(transcript=clip.transcript, caption=clip.caption)
                    res = s.run(model, lr, v, seed=seed, sr=clip.sr, context=ctx, cutoff_hz=c)
                    ref = clip.audio[: len(res.audio)]
                    log.append(
                        pd.DataFrame(
                            [
                                {
                                    **clip.key(run, c),
                                    "verifier": v.name,
                                    "searcher": name,
                                    "seed": seed,
                                    "nfe": res.nfe,
                                    "candidates": sum(x.final for x in res.candidates),
                                    "score": res.score,
                                    "LSD": float(metrics.lsd(ref, res.audio)[0]),
                                    "LSD-HF": float(metrics.lsd_hf(ref, res.audio, clip.sr, c)[0]),
                                    "wall_seconds": res.wall_seconds,
                                }
                            ]
                        )
                    )
    out = log.current(run, clips, cutoffs)
    return out[out.seed.isin(seeds) & out.searcher.isin(list(searchers))].reset_index(drop=True)


def search_choices(
    model,
    clip: Clip,
    cutoff: float,
    searchers: dict[str, Searcher],
    verifier: str,
    *,
    seed: int = 0,
    filter: str = "cheby1",
    band_replication: bool = False,
) -> dict[str, np.ndarray]:
    """What each searcher picks for one clip at one cutoff, to look at and listen to.

    Returns ``{"input": lr, ["band replication (LSD x.xx)": bar,] "<name> (LSD x.xx)": choice, ..., "original": clip}``,
    in that order, each ``[T]`` at ``clip.sr`` Hz (the model's rate, as :func:`test_clips` loads them). The searchers
    are guided by ``verifier`` with the clip's transcript and caption (never its reference); each label carries the
    oracle LSD (dB) of that output against the clip. ``band_replication`` adds the blind DSP bar
    (:func:`tsrlib.models.baselines.band_replication`).
    """
    from tsrlib.models import baselines

    def labelled(name: str, y: np.ndarray) -> str:
        return f"{name} (LSD {float(metrics.lsd(clip.audio[: len(y)], y)[0]):.2f})"

    v = get_verifier(verifier)
    lr = tsa.degrade(clip.audio, clip.sr, cutoff, filter)
    out = {"input": lr}
    if band_replication:
        bar = baselines.band_replication(lr, clip.sr, cutoff, seed=seed)
        out[labelled("band replication", bar)] = bar
    ctx = Context(transcript=clip.transcript, caption=clip.caption)
    for name, s in searchers.items():
        res = s.run(model, lr, v, seed=seed, sr=clip.sr, context=ctx, cutoff_hz=cutoff)
        out[labelled(name, res.audio)] = res.audio
    out["original"] = clip.audio
    return out


def baseline_table(
    clips: list[Clip], cutoffs: list[float], *, filter: str = "cheby1", seed: int = 0, log_path: str | Path
) -> pd.DataFrame:
    """Score the non-learned methods on every clip and cutoff with the LSD oracle.

    Methods: ``input`` (band-limited), ``band replication``, ``sbr``, their ``(oracle gain)`` versions and
    ``noise fill (oracle)`` (:mod:`tsrlib.models.baselines`). One row per clip, cutoff and method: clip, domain,
    source, cutoff, method, LSD, LSD-HF, gain_db (the oracle's gain, else 0). Appends to ``log_path`` and resumes.
    """
    from tsrlib.models import baselines

    log = ResultLog(log_path, KEY)
    run = run_key(table="baselines", filter=filter, seed=seed)
    for clip in clips:
        for c in cutoffs:
            if log.done(run=run, clip=clip.id, clip_sha=clip.sha, cutoff=c):
                continue
            x, sr = clip.audio, clip.sr
            lr = tsa.degrade(x, sr, c, filter)
            out = {
                "input": (lr, 0.0),
                "band replication": (baselines.band_replication(lr, sr, c, seed=seed), 0.0),
                "sbr": (baselines.sbr(lr, sr, c, seed=seed), 0.0),
            }
            out["band replication (oracle gain)"] = baselines.oracle_gain(out["band replication"][0], lr, x)
            out["sbr (oracle gain)"] = baselines.oracle_gain(out["sbr"][0], lr, x)
            out["noise fill (oracle)"] = baselines.oracle_noise_fill(lr, x, sr, c, seed)
            log.append(
                pd.DataFrame(
                    [
                        {
                            **clip.key(run, c),
                            "method": m,
                            "LSD": float(metrics.lsd(x, y)[0]),
                            "LSD-HF": float(metrics.lsd_hf(x, y, sr, c)[0]),
                            "gain_db": g,
                        }
                        for m, (y, g) in out.items()
                    ]
                )
            )
    return log.current(run, clips, cutoffs)


def search_bars(
    cands: pd.DataFrame, base: pd.DataFrame, *, bar: str = "band replication", n: int | None = None, level: float = 0.95
) -> pd.DataFrame:
    """The real-audio bars per domain and cutoff, from :func:`candidate_table` rows and :func:`baseline_table` rows.

    Per clip: ``one`` (candidate 0, what ``--search none`` returns), ``mean`` (the mean candidate: the expected LSD
    of one random draw), ``best`` (oracle best of the first ``n`` candidates, default all) and the ``bar`` method's
    LSD. Returns one row per domain and cutoff: clips, the means of those four, ``headroom`` (1 - best / mean),
    ``best_vs_bar`` (1 - best / bar) and paired ``level`` t-intervals across clips of ``one - bar``, ``mean - bar``
    and ``best - bar`` (``*_lo``, ``*_hi``).

    Candidate 0 is one fixed noise per clip length, so on clips of one length it is the same draw, with the same
    band code (:mod:`tsrlib.models.tiny`), for every clip: ``one`` measures that draw, ``mean`` any draw.
    """
    c = cands if n is None else cands[cands.candidate < n]
    per = (
        c.sort_values("candidate", kind="stable")
        .groupby(["domain", "clip", "cutoff"])
        .LSD.agg(one=lambda s: s.iloc[0], mean="mean", best="min")
        .reset_index()
    )
    b = base[base.method == bar][["clip", "cutoff", "LSD"]].rename(columns={"LSD": "bar"})
    per = per.merge(b, on=["clip", "cutoff"])
    rows = []
    for (domain, cutoff), g in per.groupby(["domain", "cutoff"]):
        d1, lo1, hi1 = paired_ci(g.one, g.bar, level)
        dm, lom, him = paired_ci(g["mean"], g.bar, level)
        db, lob, hib = paired_ci(g.best, g.bar, level)
        rows.append(
            {
                "domain": domain,
                "cutoff": cutoff,
                "clips": len(g),
                "bar": g.bar.mean(),
                "one": g.one.mean(),
                "mean": g["mean"].mean(),
                "best": g.best.mean(),
                "headroom": 1 - g.best.mean() / g["mean"].mean(),
                "best_vs_bar": 1 - g.best.mean() / g.bar.mean(),
                "one_minus_bar": d1,
                "one_minus_bar_lo": lo1,
                "one_minus_bar_hi": hi1,
                "mean_minus_bar": dm,
                "mean_minus_bar_lo": lom,
                "mean_minus_bar_hi": him,
                "best_minus_bar": db,
                "best_minus_bar_lo": lob,
                "best_minus_bar_hi": hib,
            }
        )
    return pd.DataFrame(rows)


DECODE_FIELDS = ("silence_gate_db", "envelope_cap_db")
"""Fields of :class:`~tsrlib.models.tiny.ModelConfig` that act only when candidates are decoded to audio: settings that
differ only in them share their samples in :func:`setting_candidates`."""


def band_envelope_error(
    ref: np.ndarray, est: np.ndarray, sr: int, cutoff_hz: float, *, floor_db: float = -40.0
) -> np.ndarray:
    """A level-aware companion of LSD: how far, in dB, the power of each row of ``est [T]`` or ``[N, T]`` at or above
    ``cutoff_hz`` (Hz) is from ``ref [T]``'s, frame by frame (the LSD's STFT), averaged as absolute values over the
    frames where ``ref``'s band is within ``-floor_db`` dB of its loudest. ``[N]`` float64; 0 when every frame's band
    is as loud as the reference's, whatever its fine structure. LSD also scores the detail within each frame, and,
    working in log power, can prefer a band quieter than the reference's; this measure cannot."""
    f = np.arange(metrics.N_FFT // 2 + 1) * sr / metrics.N_FFT >= cutoff_hz

    def band_power(x: np.ndarray) -> np.ndarray:  # [N, frames]
        return (10 ** metrics.log_power(x)[:, f].numpy()).sum(1)

    r, e = band_power(ref)[0], band_power(est)
    active = r >= r.max() * 10 ** (floor_db / 10)
    return np.abs(10 * np.log10(e[:, active] / r[active])).mean(1)


def setting_candidates(
    model,
    clip_audio: np.ndarray,
    sr: int,
    cutoff: float,
    settings: dict[str, dict],
    *,
    n: int = 16,
    steps: int = 25,
    seed: int = 0,
    filter: str = "cheby1",
) -> pd.DataFrame:
    """``n`` candidates of one clip under each setting of the embedded model (:mod:`tsrlib.models.tiny`).

    ``clip_audio [T]`` is the reference at the model's rate ``sr`` (Hz), band-limited at ``cutoff`` (Hz) by
    ``filter``; ``settings`` maps a name to :class:`~tsrlib.models.tiny.ModelConfig` fields to change (``{}``: the
    model as it is; ``{"code_prior": (-1.5, 1.0)}``, ``{"envelope_cap_db": 0.0}``). Candidate ``k`` starts from the
    same draw under every setting (candidate ``k`` of ``seed``), and settings that differ only in
    :data:`DECODE_FIELDS` share their samples. One row per setting and candidate: ``setting``, ``candidate``,
    ``cutoff``, ``LSD`` against the reference, ``band_db`` (the energy above the cutoff in dB,
    :func:`tsrlib.data.real.band_energy_db`, minus the reference's), ``env_db`` (:func:`band_envelope_error`), and
    ``br`` and ``br_env_db`` (blind band replication's LSD and envelope error: the bar, the same on every row). The
    model's own config is restored afterwards.
    """
    from tsrlib.data.real import band_energy_db
    from tsrlib.models import baselines

    if sr != model.sr:
        raise ConfigError(f"setting_candidates compares at the model's rate, {model.sr} Hz; the clip is at {sr} Hz")
    lr = tsa.degrade(clip_audio, sr, cutoff, filter)
    dsp = baselines.band_replication(lr, sr, cutoff)
    br = float(metrics.lsd(clip_audio, dsp)[0])
    br_env = float(band_envelope_error(clip_audio, dsp, sr, cutoff)[0])
    ref_db = band_energy_db(clip_audio, sr, cutoff)
    own, samples, rows = model.cfg, {}, []
    try:
        for name, changes in settings.items():
            model.cfg = replace(own, **changes)
            cond = model.condition(lr, sr, cutoff)
            key = repr(replace(model.cfg, **dict.fromkeys(DECODE_FIELDS)))
            if key not in samples:
                x_T = sampler.initial_noise(model, cond, sampler.CandidateNoise(seed, range(n)))
                samples[key] = sampler.sample_from(model, cond, x_T, None, steps=steps)[0]
            ys = model.decode(samples[key], cond)
            envs = band_envelope_error(clip_audio, ys, sr, cutoff)
            rows += [
                {
                    "setting": name,
                    "candidate": k,
                    "cutoff": cutoff,
                    "LSD": float(v),
                    "band_db": band_energy_db(y, sr, cutoff) - ref_db,
                    "env_db": float(e),
                    "br": br,
                    "br_env_db": br_env,
                }
                for k, (v, y, e) in enumerate(zip(metrics.lsd(clip_audio, ys), ys, envs))
            ]
    finally:
        model.cfg = own
    return pd.DataFrame(rows)


def code_prior_candidates(
    model, clip_audio: np.ndarray, sr: int, cutoff: float, priors: dict[str, tuple[float, float] | None], **kw
) -> pd.DataFrame:
    """:func:`setting_candidates` for gain-code priors of a band-code model: ``priors`` maps a name to ``(mean, std)``,
    or to ``None`` for none; the rows name it in ``prior``."""
    settings = {name: {"code_prior": prior} for name, prior in priors.items()}
    return setting_candidates(model, clip_audio, sr, cutoff, settings, **kw).rename(columns={"setting": "prior"})


def setting_bars(rows: pd.DataFrame, *, by: str = "setting", n: int | None = None, level: float = 0.95) -> pd.DataFrame:
    """:func:`search_bars` for each setting of :func:`setting_candidates` rows (with ``clip`` and ``domain`` added;
    ``by`` names the setting's column), against band replication, plus ``band_db`` (the median candidate's band energy
    against the reference's, dB) and ``best_band_db`` (the same for the oracle's picks), and, where the rows have
    them, ``env_db``, ``best_env_db`` and ``br_env_db`` (mean :func:`band_envelope_error` of every candidate, of the
    oracle's picks and of band replication, dB). One row per setting, domain and cutoff."""
    out = []
    for name, g in rows.groupby(by, sort=False):
        base = g[g.candidate == 0][["clip", "cutoff", "br"]].rename(columns={"br": "LSD"})
        g = g if n is None else g[g.candidate < n]
        picks = g.loc[g.groupby(["clip", "cutoff"]).LSD.idxmin()]
        cells = ["domain", "cutoff"]
        level_cols = {
            "band_db": g.groupby(cells).band_db.median(),
            "best_band_db": picks.groupby(cells).band_db.median(),
        }
        if "env_db" in g:
            level_cols |= {
                "env_db": g.groupby(cells).env_db.mean(),
                "best_env_db": picks.groupby(cells).env_db.mean(),
                "br_env_db": g[g.candidate == 0].groupby(cells).br_env_db.mean(),
            }
        bars = search_bars(g, base.assign(method="band replication"), level=level)
        out.append(bars.merge(pd.DataFrame(level_cols).reset_index(), on=cells).assign(**{by: name}))
    return pd.concat(out, ignore_index=True)


def code_prior_bars(rows: pd.DataFrame, *, n: int | None = None, level: float = 0.95) -> pd.DataFrame:
    """:func:`setting_bars` of :func:`code_prior_candidates` rows, one row per ``prior``, domain and cutoff."""
    return setting_bars(rows, by="prior", n=n, level=level)


def verifier_agreement(
    df: pd.DataFrame, columns: list[str], *, target: str = "LSD", level: float = 0.95, group: list[str] = GROUP
) -> pd.DataFrame:
    """How each verifier column ranks the candidates of one input against ``-target``, with intervals across inputs.

    One row per column: ``spearman`` (mean within-input Spearman with ``-target``) and its ``level`` t-interval,
    ``pick_gain`` (mean over inputs of the target of the candidate the column picks, minus the mean candidate's;
    negative is better for LSD) and its paired interval, and ``inputs``. Inputs where a column is constant are
    left out of its Spearman.
    """
    rows = []
    for col in columns:
        rhos, gains = [], []
        for _, g in df.groupby(group):
            if g[col].nunique() > 1 and g[target].nunique() > 1:
                rhos.append(stats.spearmanr(g[col], -g[target])[0])
            gains.append(float(g[target].iloc[int(np.argmax(g[col].to_numpy()))] - g[target].mean()))
        r, rlo, rhi = paired_ci(np.array(rhos), np.zeros(len(rhos)), level) if rhos else (np.nan,) * 3
        rlo, rhi = max(rlo, -1.0), min(rhi, 1.0)  # a t-interval of few correlations can pass +-1; they cannot
        gm, glo, ghi = paired_ci(np.array(gains), np.zeros(len(gains)), level)
        rows.append(
            {
                "verifier": col,
                "spearman": r,
                "spearman_lo": rlo,
                "spearman_hi": rhi,
                "pick_gain": gm,
                "pick_gain_lo": glo,
                "pick_gain_hi": ghi,
                "inputs": len(gains),
            }
        )
    return pd.DataFrame(rows)


def with_rank_ensembles(df: pd.DataFrame, specs: list[str], *, group: list[str] = GROUP) -> pd.DataFrame:
    """``df`` with a column per ``"ensemble:a,b"`` in ``specs``: the mean within-input rank of the members' columns
    (rank N = the best of an input's N candidates, ties averaged; :func:`~tsrlib.verifiers.rank_aggregate`), built
    from scores ``df`` already holds, so a bank's or a study's candidates need no rescoring. Other specs are skipped."""
    out = df.copy()
    for spec in specs:
        if (ensemble := ensemble_members(spec)) is None:
            continue
        method, members = ensemble
        if method != "rank":
            raise ConfigError(f"{spec}: only rank ensembles (ensemble:a,b) are built from logged scores")
        missing = [m for m in members if m not in out]
        if not members or missing:
            raise ConfigError(f"{spec}: the candidates have no column {', '.join(missing) or '(none named)'} to rank")
        out[spec] = out.groupby(group)[members].rank(method="average").mean(axis=1)
    return out


def _columns_of(selector: str) -> list[str]:
    """The score columns a selector reads: its own, or an ensemble's members."""
    ensemble = ensemble_members(selector)
    return [selector] if ensemble is None else ensemble[1]


def available_selectors(tables: dict[str, pd.DataFrame], selectors: list[str]) -> list[str]:
    """The ``selectors`` (verifier columns or ``"ensemble:a,b"``) that every one of ``tables`` can score, in order:
    a bank swept with a smaller panel leaves out what it never scored."""
    return [s for s in selectors if all(set(_columns_of(s)) <= set(t.columns) for t in tables.values())]


def selector_cells(tables: dict[str, pd.DataFrame], selectors: list[str], n: int | None = None) -> pd.DataFrame:
    """Every selector's best-of-``n`` pick against the mean candidate in each cell (``set``, domain, cutoff) of
    candidate ``tables`` (name -> :func:`candidate_table`-shaped rows, e.g. a bank's and a study's).

    ``n`` keeps each input's first ``n`` candidates (all when None); ``"ensemble:a,b"`` selectors are built by
    :func:`with_rank_ensembles`. One row per selector and cell, with :func:`verifier_agreement`'s columns."""
    parts = []
    for name, t in tables.items():
        t = with_rank_ensembles(t[t.candidate < n] if n else t, selectors)
        for (domain, cutoff), g in t.groupby(["domain", "cutoff"]):
            parts.append(verifier_agreement(g, selectors).assign(set=name, domain=domain, cutoff=cutoff))
    return pd.concat(parts, ignore_index=True)


def selector_record(cells: pd.DataFrame) -> pd.DataFrame:
    """Per selector (index) over :func:`selector_cells`' rows: ``cells``; ``helps`` and ``hurts``, the cells whose
    whole interval of the pick's LSD change lies below and above zero; ``worst``, its largest mean change (dB); and
    ``mean``, its mean change with every cell weighted alike (dB; lower is better)."""
    g = cells.groupby("verifier", sort=False)
    return pd.DataFrame(
        {
            "cells": g.size(),
            "helps": g.pick_gain_hi.apply(lambda s: int((s < 0).sum())),
            "hurts": g.pick_gain_lo.apply(lambda s: int((s > 0).sum())),
            "worst": g.pick_gain.max(),
            "mean": g.pick_gain.mean(),
        }
    )


def most_reliable(record: pd.DataFrame) -> str:
    """The selector of a :func:`selector_record` that hurts in the fewest cells, then helps in the most, then has
    the lowest mean change: a default must not point the wrong way on audio nobody validated it on."""
    return str(record.sort_values(["hurts", "helps", "mean"], ascending=[True, False, True]).index[0])


def open_study(path: str | Path) -> dict[str, pd.DataFrame]:
    """The candidate tables of a committed study folder (``study.json`` and one CSV per set), checked against the
    current weights of the model it names: ``{set name: rows}``. Other weights raise
    :class:`~tsrlib.bank.BankMismatchError` with the commands that regenerate the study."""
    from tsrlib.bank import BankMismatchError
    from tsrlib.models import tiny
    from tsrlib.search.cache import model_fingerprint

    path = Path(path)
    meta = json.loads((path / "study.json").read_text())
    now = model_fingerprint(tiny.load(meta["model"]))
    if now != meta["weights"]:
        how = "; ".join(s["command"] for s in meta["sets"].values())
        raise BankMismatchError(
            f"{path} holds candidates of {meta['model']} weights {meta['weights'][:12]}, not the current "
            f"{now[:12]}: regenerate it with {how}, then copy the candidates CSVs as {path}/README.md says"
        )
    return {name: pd.read_csv(path / s["file"]) for name, s in meta["sets"].items()}


def paired_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``a - b`` over paired observations and its ``level`` t-interval: ``(mean, low, high)``."""
    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def x0_score_trajectory(
    model,
    clip: Clip,
    cutoff: float,
    verifiers: str | list[str],
    *,
    n: int = 8,
    steps: int = 25,
    eta: float = 0.0,
    seed: int = 0,
    filter: str = "cheby1",
    device: str = "cpu",
) -> pd.DataFrame:
    """Each verifier's score of each candidate's one-step x0-prediction after every sampler step.

    The ``n`` trajectories are sampled once. One row per verifier, candidate and level (1..steps; level
    ``steps`` is the finished sample): verifier, candidate, level, score, and ``final``, the candidate's
    score at the last level. Search over paths bets that early scores predict the final one.
    """
    names = [verifiers] if isinstance(verifiers, str) else list(verifiers)
    lr = tsa.resample(tsa.degrade(clip.audio, clip.sr, cutoff, filter), clip.sr, model.sr)
    cond = model.condition(lr, model.sr, cutoff)
    noise = sampler.CandidateNoise(seed, range(n))
    out = sampler.sample_ddim(
        model,
        cond,
        sampler.initial_noise(model, cond, noise),
        schedule.timesteps(steps),
        eta=eta,
        noise=noise,
        return_x0s=True,
    )
    ctx = Context(input=lr, input_sr=model.sr, cutoff_hz=cutoff, transcript=clip.transcript, caption=clip.caption)
    decoded = [model.decode(x0, cond) for x0 in out.x0_trajectory]
    rows = []
    for name in names:
        v = get_verifier(name, device)
        for level, audio in enumerate(decoded, 1):
            s = v.score(audio, model.sr, ctx)
            rows += [{"verifier": name, "candidate": k, "level": level, "score": float(s[k])} for k in range(n)]
    df = pd.DataFrame(rows)
    final = df[df.level == steps][["verifier", "candidate", "score"]].rename(columns={"score": "final"})
    return df.merge(final, on=["verifier", "candidate"])


def choose_verifier(table: pd.DataFrame, names: list[str], *, target: str = "LSD") -> dict[float, str]:
    """Per cutoff, the verifier column among ``names`` whose within-input Spearman with ``-target`` is highest.

    ``table``: :func:`candidate_table` rows. A verifier whose scores are flat on every input has no Spearman and is
    never chosen; a cutoff where all are flat gets the first name. Returns ``{cutoff: name}``.
    """
    out = {}
    for cut, rows in table.groupby("cutoff", sort=True):
        agree = verifier_agreement(rows, list(names), target=target).dropna(subset=["spearman"])
        out[float(cut)] = (
            str(agree.sort_values("spearman", ascending=False, kind="stable").verifier.iloc[0])
            if len(agree)
            else names[0]
        )
    return out


def pick_verifiers(
    model,
    corpus_dir: str | Path,
    cutoffs: list[float],
    names: list[str],
    *,
    domain: str = "speech",
    clips: int = 3,
    n: int = 8,
    steps: int = 25,
    eta: float = 0.0,
    seed: int = 0,
    max_seconds: float = 3.0,
    cache_dir: str | Path | None = None,
    results_dir: str | Path,
) -> tuple[dict[float, str], pd.DataFrame]:
    """Chapter 3's measure, made on **validation** clips so the test clips a search is judged on play no part in it:
    ``n`` candidates of each clip scored by ``names`` and the oracle, then :func:`choose_verifier`.

    Returns ``({cutoff: verifier}, the agreement table per cutoff)``; the rows are logged in ``results_dir`` and reused
    by every chapter that asks the same question.
    """
    val = test_clips(corpus_dir, domain, clips, max_seconds=max_seconds, split="val", sr=model.sr)
    log = Path(results_dir) / sweep_name(
        f"choice-{domain}",
        model=model,
        n=n,
        steps=steps,
        eta=eta,
        seed=seed,
        cutoffs=list(cutoffs),
        clips=[c.id for c in val],
        verifiers=list(names),
        s=max_seconds,
    )
    table = candidate_table(
        model, val, list(cutoffs), n, list(names), steps=steps, eta=eta, seed=seed, cache_dir=cache_dir, log_path=log
    )
    agreement = pd.concat(
        [verifier_agreement(rows, list(names)).assign(cutoff=cut) for cut, rows in table.groupby("cutoff", sort=True)],
        ignore_index=True,
    )
    return choose_verifier(table, names), agreement


def choice_reason(choice: dict[float, str], agreement: pd.DataFrame) -> str:
    """Why :func:`pick_verifiers` chose what it chose, as a clause for the prose (numbers from ``agreement``)."""
    rho = agreement.set_index(["cutoff", "verifier"])
    n = int(agreement.inputs.max())
    scores = " and ".join(number_text(rho.spearman.loc[(c, v)]) for c, v in sorted(choice.items()))
    return (
        f"chosen, per cutoff, as the one whose ranking of candidates agrees best with the oracle on {n} validation "
        f"clip{'' if n == 1 else 's'} (mean within-input Spearman {scores})"
    )


def ci_width_ratio(n: int, m: int, level: float = 0.95) -> float:
    """How many times narrower a paired t-interval gets from ``n`` to ``m`` observations of the same spread:
    ``t(n-1) / sqrt(n)`` over ``t(m-1) / sqrt(m)`` (3 -> 20 clips: about 5.3, not the sqrt-law's 2.6)."""
    width = lambda k: stats.t.ppf(0.5 + level / 2, k - 1) / np.sqrt(k)  # noqa: E731
    return float(width(n) / width(m))


# ------------------------------------------------------------------------------------ Chapter 4: returns
def n_at_fraction(gain: pd.Series, fraction: float = 0.9) -> float:
    """The smallest N (the index, ascending) whose ``gain`` reaches ``fraction`` of the gain at the largest N.

    ``gain`` is measured from N = 1 (so ``gain.iloc[0]`` is 0). NaN when the final gain is not positive: a selector
    whose own score does not grow with N has no point of diminishing returns.
    """
    g = gain.sort_index()
    final = float(g.iloc[-1])
    if not final > 0:
        return float("nan")
    return float(g.index[np.argmax(g.to_numpy() >= fraction * final)])


def diminishing_returns(
    curves: pd.DataFrame,
    selectors: dict[str, str | list[str]],
    scale: pd.Series,
    *,
    measure: str = "-LSD",
    fraction: float = 0.9,
) -> pd.DataFrame:
    """Where each selector's best-of-N returns diminish, per cutoff, from :func:`best_of_n` curves.

    ``curves``: rows with ``selector``, ``cutoff``, ``N`` and the score columns (averaged over clips here).
    ``selectors``: label -> the column the selector maximises, or the member columns of a rank ensemble, whose own
    gain is its members' mean gain in units of ``scale`` (each member's standard deviation). Returns one row per
    cutoff and selector: ``n_frac`` (:func:`n_at_fraction`), and the change of ``-measure`` (LSD, lower is better)
    that its pick brings at ``n_frac`` and at the largest N, both against N = 1.
    """
    rows = []
    for label, own in selectors.items():
        for cut, g in curves[curves.selector == label].groupby("cutoff"):
            cur = g.groupby("N").mean(numeric_only=True).sort_index()
            if isinstance(own, str):
                gain = cur[own] - cur[own].iloc[0]
            else:
                gain = ((cur[own] - cur[own].iloc[0]) / scale[own]).mean(axis=1)
            n = n_at_fraction(gain, fraction)
            change = -(cur[measure] - cur[measure].iloc[0])
            rows.append(
                {
                    "cutoff": cut,
                    "selector": label,
                    "n_frac": n,
                    "change_at_n_frac": float(change.loc[n]) if np.isfinite(n) else float("nan"),
                    "change_at_max": float(change.iloc[-1]),
                    "n_max": int(cur.index[-1]),
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ Chapters 5 and 6
def searcher_table(runs: pd.DataFrame, *, baseline: str = "random", level: float = 0.95) -> pd.DataFrame:
    """Each searcher against ``baseline`` per cutoff, paired by clip and seed, from :func:`compare_searchers` rows.

    One row per cutoff and searcher (in the order they first appear): ``clips``, mean ``nfe`` and finished
    ``candidates``, the ``verifier``, its mean ``score`` of the choice and ``d_score`` (higher favours the searcher)
    with its ``level`` t-interval, mean ``LSD`` and ``d_lsd`` (lower favours the searcher) with its interval.
    """
    rows = []
    pair = ["clip", "seed"]
    for cut, at in runs.groupby("cutoff", sort=True):
        base = at[at.searcher == baseline].set_index(pair)
        for name in dict.fromkeys(at.searcher):
            sel = at[at.searcher == name].set_index(pair)
            both = sel.index.intersection(base.index)
            s, b = sel.loc[both], base.loc[both]
            ds, ds_lo, ds_hi = paired_ci(s.score.to_numpy(), b.score.to_numpy(), level)
            dl, dl_lo, dl_hi = paired_ci(s.LSD.to_numpy(), b.LSD.to_numpy(), level)
            rows.append(
                {
                    "cutoff": cut,
                    "searcher": name,
                    "clips": len(both),
                    "nfe": s.nfe.mean(),
                    "candidates": s.candidates.mean(),
                    "verifier": s.verifier.iloc[0],
                    "score": s.score.mean(),
                    "d_score": ds,
                    "d_score_lo": ds_lo,
                    "d_score_hi": ds_hi,
                    "LSD": s.LSD.mean(),
                    "d_lsd": dl,
                    "d_lsd_lo": dl_lo,
                    "d_lsd_hi": dl_hi,
                }
            )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ score-bank views
BANK_METHODS = {"input": "input", "band-replication": "band replication", "sbr": "sbr", "regression": "regression"}
"""Baseline methods of a score bank (``search`` = ``baseline:METHOD``) under the names :func:`baseline_table` uses."""


def bank_grid(path: str | Path) -> dict:
    """The grid a bank at ``path`` was last swept with: the one its ``bank.json`` names, else (a bank from before it
    named one) the newest of ``grids/*.json``; ``{}`` when there is none."""
    path = Path(path)
    named = json.loads((path / "bank.json").read_text()).get("grid") if (path / "bank.json").is_file() else None
    if named and (path / "grids" / f"{named}.json").is_file():
        return json.loads((path / "grids" / f"{named}.json").read_text())
    grids = sorted((path / "grids").glob("*.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(grids[-1].read_text()) if grids else {}


def open_bank(path: str | Path, model: str | None = None):
    """The score bank at ``path``, checked against the current weights of ``model`` (default: the model its grid
    names) and the scoring code.

    Other weights raise :class:`~tsrlib.bank.BankMismatchError`, which says how to regenerate the bank; other scoring
    code only warns (the rows are still this model's, but sampling or scoring has changed since: regenerate before
    trusting a difference the change could explain).
    """
    from tsrlib.bank import BankMismatchError, ScoreBank, scoring_version
    from tsrlib.models import tiny
    from tsrlib.search.cache import model_fingerprint

    bank = ScoreBank(path)
    grid = bank_grid(path)
    model = model or grid.get("model", "tiny-real")
    how = f"`tsr sweep GRID.yaml --out NEW_FOLDER --compact` with the grid in {Path(path) / 'grids'}"
    try:
        bank.check(model_fingerprint(tiny.load(model)), None)
    except BankMismatchError as e:
        raise BankMismatchError(f"{e}. The bank is stale: regenerate it with {how}") from None
    if bank.code != scoring_version():
        warnings.warn(
            f"{path} was scored by code {bank.code}; this is {scoring_version()}: regenerate it with {how}",
            stacklevel=2,
        )
    return bank


def bank_candidates(rows: pd.DataFrame, search: str = "random") -> pd.DataFrame:
    """The finished candidates of one search (by label) in a bank's ``rows``: :func:`candidate_table`'s shape (clip,
    domain, source, cutoff, candidate, LSD, LSD-HF and every verifier axis), one row per candidate."""
    c = rows[(rows.search == search) & rows.final]
    return c.dropna(axis=1, how="all").reset_index(drop=True)


def bank_baselines(rows: pd.DataFrame) -> pd.DataFrame:
    """The baseline rows of a bank as :func:`baseline_table` names them (a ``method`` column; ``gain_db`` 0)."""
    b = rows[rows.searcher == "baseline"].copy()
    b["method"] = b.search.str.removeprefix("baseline:").map(BANK_METHODS)
    return b.assign(gain_db=0.0).reset_index(drop=True)


def bank_choices(rows: pd.DataFrame) -> pd.DataFrame:
    """What each search of a bank chose: :func:`compare_searchers`'s shape, one row per search cell (clip, domain,
    cutoff, ``searcher`` = the search's label, seed, nfe, finished ``candidates``, ``verifier`` = its guide, ``score``
    = the guide's score of the choice, LSD and LSD-HF of the choice). Baselines are left out."""
    s = rows[rows.searcher != "baseline"]
    finals = s[s.final].groupby("cell").size().rename("candidates")
    out = s[s.chosen].set_index("cell").join(finals).reset_index()
    out = out.assign(searcher=out.search, verifier=out.guide, score=out.guide_score, nfe=out.cell_nfe)
    return out[
        [
            "clip",
            "domain",
            "source",
            "cutoff",
            "searcher",
            "seed",
            "nfe",
            "candidates",
            "verifier",
            "score",
            "LSD",
            "LSD-HF",
        ]
    ].reset_index(drop=True)


def hacked_verifiers(
    cands: pd.DataFrame, columns: list[str], *, target: str = "LSD", level: float = 0.95, group: list[str] = GROUP
) -> pd.DataFrame:
    """Which verifiers a search would *hack*: :func:`verifier_agreement` with a ``hacked`` column, true where the
    candidate the verifier picks is worse on ``target`` than the mean candidate with the whole ``level`` interval
    (``pick_gain_lo > 0``), and ``helps`` where it is better with the whole interval (``pick_gain_hi < 0``)."""
    t = verifier_agreement(cands, columns, target=target, level=level, group=group)
    return t.assign(hacked=t.pick_gain_lo > 0, helps=t.pick_gain_hi < 0)


def bank_returns(
    cands: pd.DataFrame, by: str | list[str], ns: list[int], *, reps: int = 32, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Best-of-N by ``by`` against N = 1, subsampled from a bank's candidates (:func:`best_of_n`), per cutoff.

    One row per cutoff and N: ``clips``, mean ``LSD`` of the pick, ``d_lsd`` (the pick's LSD minus N = 1's, paired by
    clip; negative is better) with its ``level`` t-interval, and ``share``: the fraction of the gain at the largest N
    already reached at this N (NaN when that gain is not a gain)."""
    curves = best_of_n(cands, by, ["LSD"], sorted(set(ns) | {1}), reps=reps, seed=seed)
    rows = []
    for cut, g in curves.groupby("cutoff"):
        wide = g.pivot(index="clip", columns="N", values="LSD").dropna()
        final = wide[wide.columns.max()].mean() - wide[1].mean()
        for n in wide.columns:
            d, lo, hi = paired_ci(wide[n].to_numpy(), wide[1].to_numpy(), level)
            share = d / final if final < 0 else float("nan")
            rows.append(
                {
                    "cutoff": cut,
                    "N": int(n),
                    "clips": len(wide),
                    "LSD": wide[n].mean(),
                    "d_lsd": d,
                    "d_lsd_lo": lo,
                    "d_lsd_hi": hi,
                    "share": share,
                }
            )
    return pd.DataFrame(rows)


def bank_claims(rows: pd.DataFrame, verifiers: list[str], *, ns: list[int] = (1, 2, 4, 8, 16, 32, 64)) -> dict:
    """The paper's claims, decided from a bank's ``rows`` with intervals across clips: ``searchers`` (each search
    against random search at matched NFE, :func:`searcher_table`), ``returns`` (best-of-N by each search's guide,
    :func:`bank_returns`), ``hacking`` (per cutoff, :func:`hacked_verifiers` of ``verifiers`` over the random
    candidates) and ``bars`` (:func:`search_bars` against band replication). Returns a dict of DataFrames."""
    cands = bank_candidates(rows)
    guide = rows.loc[rows.search == "random", "guide"].iloc[0]
    hacking = pd.concat(
        [hacked_verifiers(g, [v for v in verifiers if v in g]).assign(cutoff=c) for c, g in cands.groupby("cutoff")],
        ignore_index=True,
    )
    return {
        "searchers": searcher_table(bank_choices(rows)),
        "returns": bank_returns(cands, guide, list(ns)).assign(selector=guide),
        "hacking": hacking,
        "bars": search_bars(cands, bank_baselines(rows)),
    }


def bank_kind(rows: pd.DataFrame) -> str:
    """Words for what a bank's clips are: ``"real recordings"``, ``"synthetic clips"`` or both."""
    real = set(rows.real)
    return "real recordings" if real == {True} else "synthetic clips" if real == {False} else "real and synthetic clips"


def per_domain(table, rows: pd.DataFrame, *args, **kw) -> pd.DataFrame:
    """``table(rows, ...)`` for each domain of ``rows`` and for all of them pooled, stacked with a ``domain`` column
    (``"all"`` for the pooled rows): one call for a chapter's per-domain breakdown of any of the tables above."""
    parts = [table(g, *args, **kw).assign(domain=d) for d, g in rows.groupby("domain")]
    return pd.concat(parts + [table(rows, *args, **kw).assign(domain="all")], ignore_index=True)


def clip_counts(rows: pd.DataFrame) -> str:
    """Words for how many distinct clips of each domain ``rows`` hold: ``"5 music, 4 sfx, 5 speech"``."""
    return ", ".join(f"{n} {d}" for d, n in rows.groupby("domain").clip.nunique().items())


def bench_records(results_glob: str = "bench/results/*.jsonl") -> pd.DataFrame:
    """The benchmark measurements in the JSON-lines files ``results_glob`` matches (``bench/_record.py``), keeping the
    latest run of each benchmark on each machine, so that a ratio is only read beside the ratios of its own run.
    Columns: bench, metric, value, unit, hardware, torch, date, settings (and what each bench adds)."""
    import glob

    rows = [json.loads(line) for f in sorted(glob.glob(results_glob)) for line in open(f) if line.strip()]
    if not rows:
        return pd.DataFrame(columns=["bench", "metric", "value", "unit", "hardware", "torch", "date", "settings"])
    records = pd.DataFrame(rows)
    latest = records.groupby(["hardware", "bench"]).date.transform("max")
    return records[records.date == latest].reset_index(drop=True)


def audiosr_cost(records: pd.DataFrame) -> pd.DataFrame:
    """``bench/audiosr.py``'s best-of-N rows of ``records`` (:func:`bench_records`), one per machine, precision and N.

    Columns: ``machine`` (the hardware, and whether the model was the full-size one or the reduced configuration),
    ``dtype`` (tsrlib's precision, ``fp32``, ``tf32`` or ``bf16``; ``+ CUDA graphs`` when the UNet was compiled with
    mode reduce-overhead, ``+ compile (MODE)`` with another mode),
    ``N`` (candidates), ``value`` (tsrlib's best-of-N wall time as a multiple of **one** upstream fp32 sample of the
    same run), ``one`` (that upstream sample, s), and the run's ``hardware``, ``reduced``, ``steps`` and ``seconds``
    (of audio). Empty when ``records`` holds no such rows."""
    columns = ["machine", "dtype", "N", "value", "one", "hardware", "reduced", "steps", "seconds"]
    bench = records[records.bench == "audiosr"] if "bench" in records else records.iloc[:0]
    cost = bench[bench.metric.str.startswith("best-of-")].copy()
    if cost.empty:
        return pd.DataFrame(columns=columns)
    size = bench.settings.map(lambda s: " (reduced)" if s.get("reduced") else " (full size)")
    machine = bench.hardware + size
    one = bench[bench.metric.str.startswith("one upstream sample")]
    one_s = dict(zip(machine[one.index], one.value))
    cost["machine"] = machine[cost.index]
    cost["N"] = cost["n"].astype(int)
    cost["dtype"] = cost.dtype.map(_precision_label)
    cost["one"] = cost.machine.map(one_s)
    for key, default in (("reduced", False), ("steps", np.nan), ("seconds", np.nan)):
        cost[key] = cost.settings.map(lambda s, k=key, d=default: s.get(k, d))
    cost["reduced"] = cost.reduced.astype(bool)
    return cost[columns].reset_index(drop=True)


PEAK_TFLOPS = {
    "NVIDIA H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
    "NVIDIA H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4},
}
"""Dense peak arithmetic (TFLOP/s) of NVIDIA's SXM parts, from their data sheets: tensor cores without sparsity (TF32,
bf16) and the CUDA cores (fp32). Keyed by the start of torch's device name."""


def denoiser_throughput(cost: pd.DataFrame, step_flops: Callable[[bool, float], float]) -> pd.DataFrame:
    """The denoiser's achieved arithmetic in each row of :func:`audiosr_cost`'s frame ``cost``.

    ``step_flops(reduced, seconds)`` is one guided denoising step of one candidate (FLOP;
    :func:`tsrlib.models.audiosr.denoiser_flops`). Adds ``wall`` (s, the best-of-N: ``value * one``), ``tflops``
    (``N * steps * step_flops / wall / 1e12``: the wall time includes decoding and the vocoder, so this is a lower bound
    on the UNet's own rate), ``peak`` (TFLOP/s, :data:`PEAK_TFLOPS` of the row's GPU at its precision; fp32 rows are
    held to the TF32 peak, as PyTorch runs fp32 convolutions through cuDNN in TF32 by default; NaN off those GPUs) and
    ``of_peak`` (``tflops / peak``)."""
    out = cost.copy()
    flops = {key: float(step_flops(*key)) for key in set(zip(out.reduced, out.seconds))}
    out["wall"] = out.value * out.one
    out["tflops"] = [
        n * steps * flops[(r, sec)] / wall / 1e12
        for n, steps, r, sec, wall in zip(out.N, out.steps, out.reduced, out.seconds, out.wall)
    ]

    def peak(hardware: str, dtype: str) -> float:
        table = next((v for k, v in PEAK_TFLOPS.items() if hardware.startswith(k)), None)
        base = dtype.split()[0]
        return float(table["tf32" if base == "fp32" else base]) if table and base in table else np.nan

    out["peak"] = [peak(h, d) for h, d in zip(out.hardware, out.dtype)]
    out["of_peak"] = out.tflops / out.peak
    return out


def _precision_label(dtype: str) -> str:
    """``bench/audiosr.py``'s ``bf16+compile:reduce-overhead`` as ``bf16 + CUDA graphs`` (another mode: ``+ compile
    (MODE)``); a plain precision as it is."""
    m = re.fullmatch(r"(\w+)\+compile:(.+)", dtype)
    if not m:
        return dtype
    return m[1] + (" + CUDA graphs" if m[2] == "reduce-overhead" else f" + compile ({m[2]})")


def audiosr_cost_at(cost: pd.DataFrame, n: int) -> dict:
    """At ``n`` candidates, on the first GPU machine of :func:`audiosr_cost`'s frame ``cost`` (else its first machine):
    ``machine``, ``one`` (s of one upstream sample), ``fp32`` (tsrlib's plain fp32 ratio to it) and ``best``,
    ``best_dtype`` (the lowest ratio of any precision, and which); NaN and "" where nothing was measured at ``n``."""
    out = {"machine": "", "one": np.nan, "fp32": np.nan, "best": np.nan, "best_dtype": ""}
    if cost.empty:
        return out
    machines = list(dict.fromkeys(cost.machine))
    gpus = [m for m in machines if not m.startswith("CPU")]
    out["machine"] = (gpus or machines)[0]
    on = cost[cost.machine == out["machine"]]
    out["one"] = float(on.one.iloc[0])
    at = on[on.N == n].set_index("dtype").value
    if len(at):
        out["fp32"] = float(at.get("fp32", np.nan))
        out["best"], out["best_dtype"] = float(at.min()), str(at.idxmin())
    return out
