"""``tsr sweep GRID.yaml --out DIR``: a declared grid of searches, run cell by cell into a :mod:`score bank <tsrlib.bank>`.

A **grid** names a model, test clips (a corpus folder, domains, clips per domain), cutoffs, seeds, sampler settings,
a **panel** of verifiers and oracles that scores every final candidate, and a list of **searches**::

    model: tiny-real
    corpus: data/generated/real
    domains: [speech, music, sfx]
    clips: 24                     # per domain, the first of the test split
    cutoffs: [4000, 8000]
    steps: 25
    verifiers: [mbr, dnsmos, wer, spksim, continuity]
    searches:
      - {name: random, n: 64}                          # scored by the panel; any best-of-n is a subsample
      - {name: zero-order, guide: mbr, budget: 400}    # guided by one verifier, sized to an NFE budget
      - {name: baseline, method: band-replication}     # DSP baselines and the regression model are rows too

A **cell** is one search on one clip at one cutoff with one seed; its key is a digest of everything that shapes its
rows (weights, scoring code, sampler settings, search, guide, panel, filter, seed, the clip's content, the cutoff),
so a changed setting never reads an old row. Cells run on an executor (``local``: this process or a process pool;
``ray``: one actor per worker, models loaded once each) and each is stored the moment it finishes: a killed sweep
resumes with nothing lost or repeated.

Row columns (one per evaluated candidate): the cell's ``clip``, ``clip_sha``, ``domain``, ``source``, ``real``,
``has_transcript``, ``cutoff``, ``filter``, ``search`` (the entry's label), ``searcher``, ``searcher_config`` (JSON),
``steps``, ``eta``, ``guide``, ``seed``, ``cell_nfe``, ``wall_seconds``; the candidate's ``candidate``, ``round``,
``parent``, ``level``, ``final``, ``chosen``, ``noise``, ``nfe``, ``guide_score``; every panel axis (the library's
sign, higher is better; members' extra axes as ``name.axis``; ``wer`` is against the true transcript where
``has_transcript``); the oracles ``LSD`` and ``LSD-HF`` (dB, lower is better) and ``spksim-ref`` when asked for; and
``weights``, ``code``, ``cell``. Intermediate candidates (search over paths) have no audio: their panel columns are
empty and ``guide_score`` is their x0-prediction's score (empty for the first level, which nothing scores).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from tsrlib.bank import ScoreBank, library_versions, scoring_version
from tsrlib.errors import ConfigError, TsrError

BASELINES = ("input", "band-replication", "sbr", "regression")
"""Methods a ``{name: baseline, method: ...}`` search entry runs: deterministic, one row per cell."""
ORACLES = ("lsd", "spksim-ref")
"""Oracles a grid may ask for: ``lsd`` gives the ``LSD`` and ``LSD-HF`` columns; ``spksim-ref`` the speaker similarity
to the clean reference."""
EXECUTORS = ("local", "ray")
TRANSCRIPT_ONLY = ("wer", "wer-sphinx", "wer-whisper-hf")
"""Panel verifiers scored against the clip's true transcript only: their columns are empty where a clip has none
(guessing the words from the band-limited input would measure the ASR, not the candidate)."""


@dataclass
class Grid:
    """A sweep's declaration (see the module docstring); :meth:`from_dict` / :meth:`to_dict` round-trip."""

    searches: list[dict]
    model: str = "tiny-real"
    corpus: str = "data/generated/real"
    domains: list[str] = field(default_factory=lambda: ["speech", "music", "sfx"])
    clips: int = 24
    max_seconds: float = 3.0
    split: str = "test"
    cutoffs: list[float] = field(default_factory=lambda: [4000.0, 8000.0])
    filter: str = "cheby1"
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int = 25
    eta: float = 0.0
    batch_size: int = 16
    verifiers: list[str] = field(default_factory=lambda: ["continuity"])
    oracles: list[str] = field(default_factory=lambda: ["lsd"])
    device: str = "cpu"

    def __post_init__(self) -> None:
        from tsrlib.data.manifest import check_domains
        from tsrlib.search import make_searcher

        if not self.searches:
            raise ConfigError("a grid needs at least one entry under searches:")
        if not isinstance(self.searches, list) or not all(isinstance(s, dict) and "name" in s for s in self.searches):
            raise ConfigError("searches: is a list of mappings, each with a name (e.g. `- {name: random, n: 16}`)")
        if not isinstance(self.clips, int) or self.clips < 1:
            raise ConfigError(f"clips: is the number of test clips per domain, at least 1; got {self.clips!r}")
        check_domains(self.domains)
        if not self.cutoffs or not self.seeds:
            raise ConfigError("a grid needs at least one cutoff and one seed")
        labels = [label_of(s) for s in self.searches]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"two searches share a label: {labels}; give one a `label:`")
        if bad := [o for o in self.oracles if o not in ORACLES]:
            raise ConfigError(f"unknown oracle {bad[0]!r}; choose from {', '.join(ORACLES)}")
        for s in self.searches:
            if s.get("name") == "baseline":
                if s.get("method") not in BASELINES:
                    raise ConfigError(f"baseline method must be one of {', '.join(BASELINES)}, got {s.get('method')!r}")
            else:
                make_searcher(**self.searcher_config(s))  # an unknown name or a bad parameter fails now, not mid-sweep
        self.cutoffs = [float(c) for c in self.cutoffs]

    @classmethod
    def from_dict(cls, d: dict) -> Grid:
        known = {f.name for f in dataclasses.fields(cls)}
        if unknown := sorted(set(d) - known):
            raise ConfigError(f"unknown grid key {unknown[0]!r}; a grid takes {', '.join(sorted(known))}")
        if "searches" not in d:
            raise ConfigError("a grid needs a list of searches: (e.g. `searches: [{name: random, n: 16}]`)")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Grid:
        import yaml

        p = Path(path)
        if not p.is_file():
            raise TsrError(f"no grid file {p}")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: a grid is a mapping of keys (model:, searches:, ...)")
        return cls.from_dict(d)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def searcher_config(self, search: dict) -> dict:
        """The entry's searcher arguments with the grid's sampler settings filled in (``guide``, ``label``, ``budget``
        taken out)."""
        kw = {k: v for k, v in search.items() if k not in ("guide", "label", "budget")}
        if kw.get("name") == "baseline":
            return kw
        return {"steps": self.steps, "eta": self.eta, "batch_size": self.batch_size} | kw

    def guide(self, search: dict) -> str:
        """The verifier a search maximises: its ``guide``, else the panel's first verifier (baselines: none)."""
        return "" if search.get("name") == "baseline" else search.get("guide", self.verifiers[0])

    def load_clips(self) -> list:
        """The grid's test clips (:class:`~tsrlib.experiments.Clip`): the first ``clips`` of each domain's ``split``,
        cut to ``max_seconds``, taken in turn from each domain (the first of each, then the second, ...), so a sweep
        stopped early holds every domain alike."""
        from tsrlib.experiments import test_clips

        corpus = Path(self.corpus)
        if not (corpus / "manifest.csv").is_file():
            raise TsrError(f"no corpus at {corpus} (no manifest.csv): build it with `tsr data build --size real`")
        per = [test_clips(corpus, d, self.clips, max_seconds=self.max_seconds, split=self.split) for d in self.domains]
        return [c for turn in itertools.zip_longest(*per) for c in turn if c is not None]

    def cells(self, clips: list, weights: str, code: str | None = None) -> list[Cell]:
        """Every cell of the grid for ``clips`` (a :class:`~tsrlib.experiments.Clip` list) and model ``weights``, keyed
        for scoring code ``code`` (default: this code's :func:`~tsrlib.bank.scoring_version`)."""
        code, out = code or scoring_version(), []
        for clip in clips:
            for cutoff in self.cutoffs:
                for search in self.searches:
                    seeds = [0] if search.get("name") == "baseline" else self.seeds
                    for seed in seeds:
                        shape = {
                            "weights": weights,
                            "code": code,
                            "search": self.searcher_config(search),
                            "budget": search.get("budget"),
                            "guide": self.guide(search),
                            "panel": self.verifiers,
                            "oracles": self.oracles,
                            "filter": self.filter,
                            "seed": seed,
                            "clip": clip.sha,
                            "cutoff": cutoff,
                        }
                        key = hashlib.sha1(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]
                        out.append(Cell(key, clip, cutoff, search, seed))
        return out


def label_of(search: dict) -> str:
    """A search entry's label: its ``label``, else ``baseline:METHOD`` or its name."""
    if "label" in search:
        return str(search["label"])
    return f"baseline:{search.get('method')}" if search.get("name") == "baseline" else str(search.get("name"))


@dataclass
class Cell:
    """One search (an entry of :attr:`Grid.searches`) on one clip at one cutoff with one seed; ``key`` names it."""

    key: str
    clip: object  # tsrlib.experiments.Clip
    cutoff: float
    search: dict
    seed: int


class Worker:
    """Runs cells: holds the model, the panel and the guides, each loaded once (one per process or Ray actor).

    ``threads``: torch's intra-op threads in this worker (None: leave torch's choice).
    """

    def __init__(self, grid: Grid | dict, threads: int | None = None):
        import torch

        from tsrlib.models import tiny
        from tsrlib.verifiers import get_verifier

        if threads:
            torch.set_num_threads(int(threads))
        self.grid = Grid.from_dict(grid) if isinstance(grid, dict) else grid
        self.model = tiny.load(self.grid.model, self.grid.device)
        self.panel = [get_verifier(v, self.grid.device) for v in self.grid.verifiers + self.grid.oracles]
        self._regression = None

    def run(self, cell: Cell) -> tuple[str, pd.DataFrame]:
        """``(cell.key, rows)``: the cell's search run and every final candidate scored by the panel."""
        from tsrlib import audio as tsa
        from tsrlib.data.real import PACKAGES
        from tsrlib.search.cache import model_fingerprint
        from tsrlib.verifiers import Context

        t0 = time.perf_counter()
        g, clip, search = self.grid, cell.clip, cell.search
        lr = tsa.degrade(clip.audio, clip.sr, cell.cutoff, g.filter)
        ctx = Context(
            transcript=clip.transcript, caption=clip.caption, input=lr, input_sr=clip.sr, cutoff_hz=cell.cutoff
        )
        if search.get("name") == "baseline":
            audio, cands, nfe = self._baseline(search["method"], lr, clip.sr, cell.cutoff)
            chosen = 0
        else:
            res = self._search(search, lr, clip.sr, ctx, cell)
            audio = {k: tsa.resample(a, res.sr, clip.sr) for k, a in res.audio_of.items()}
            cands, nfe, chosen = res.frame(), res.nfe, res.chosen
            primary = self._guide_primary(search)
            cands["guide_score"] = [c.scores.get(primary, np.nan) for c in res.candidates]
            cands = cands[[c for c in cands.columns if c in CANDIDATE_COLUMNS]]
        ids = sorted(audio)
        n = min(len(a) for a in audio.values())
        scored = dataclasses.replace(ctx, reference=clip.audio, reference_sr=clip.sr, cache={})
        panel = pd.DataFrame(self.score(np.stack([audio[k][:n] for k in ids]), clip.sr, scored), index=ids)
        if "lsd" in panel:
            panel = panel.rename(columns={"lsd": "LSD", "lsd.lsd_hf": "LSD-HF"})
            panel[["LSD", "LSD-HF"]] = -panel[["LSD", "LSD-HF"]]
        cands = cands.rename(columns={"id": "candidate"}).set_index("candidate", drop=False)
        rows = cands.join(panel).reset_index(drop=True)
        cfg = g.searcher_config(search)
        rows = rows.assign(
            chosen=rows["candidate"] == chosen,
            clip=clip.id,
            clip_sha=clip.sha,
            domain=clip.domain,
            source=clip.source,
            real=clip.source in PACKAGES,
            has_transcript=clip.transcript is not None,
            cutoff=float(cell.cutoff),
            filter=g.filter,
            search=label_of(search),
            searcher=cfg["name"],
            searcher_config=json.dumps(cfg | {"budget": search.get("budget")}, sort_keys=True),
            steps=cfg.get("steps", 0),
            eta=float(cfg.get("eta", 0.0)),
            guide=g.guide(search),
            seed=cell.seed,
            cell_nfe=int(nfe),
            wall_seconds=time.perf_counter() - t0,
            weights=model_fingerprint(self.model),
            code=scoring_version(),
            cell=cell.key,
        )
        first = [c for c in ROW_COLUMNS if c in rows]
        last = ["wall_seconds", "weights", "code", "cell"]
        return cell.key, rows[first + [c for c in rows if c not in first + last] + last]

    def score(self, audio: np.ndarray, sr: int, ctx) -> dict[str, np.ndarray]:
        """Every panel axis of ``audio [n, T]`` at ``sr`` Hz: a member's primary axis under its name, its other axes as
        ``name.axis`` (as :class:`~tsrlib.verifiers.Ensemble` names them); :data:`TRANSCRIPT_ONLY` members give NaN
        without a transcript."""
        out = {}
        for v in self.panel:
            if v.name in TRANSCRIPT_ONLY and ctx.transcript is None:
                axes = {a: np.full(len(audio), np.nan) for a in v.axes}
            else:
                axes = v.evaluate(audio, sr, ctx)
            out |= {v.name if a == v.primary else f"{v.name}.{a}": x for a, x in axes.items()}
        return out

    def _guide_primary(self, search: dict) -> str:
        from tsrlib.verifiers import get_verifier

        return get_verifier(self.grid.guide(search), self.grid.device).primary

    def _search(self, search: dict, lr: np.ndarray, sr: int, ctx, cell: Cell):
        from tsrlib.search import make_searcher
        from tsrlib.verifiers import get_verifier

        s = make_searcher(**self.grid.searcher_config(search))
        guide = get_verifier(self.grid.guide(search), self.grid.device)
        return s.run(self.model, lr, guide, search.get("budget"), cell.seed, sr=sr, context=ctx, cutoff_hz=cell.cutoff)

    def _baseline(self, method: str, lr: np.ndarray, sr: int, cutoff: float):
        """``({0: audio [T]}, one candidate's row, NFE)`` of a deterministic method on ``lr`` at ``sr`` Hz."""
        from tsrlib.models import baselines, tiny
        from tsrlib.upsample import upsample

        nfe = 0
        if method == "input":
            y = lr
        elif method == "regression":
            if self._regression is None:
                self._regression = tiny.load("regression", self.grid.device)
            res = upsample(self._regression, lr, sr, cutoff_hz=cutoff)
            y, nfe = res.audio[0], res.nfe
        else:
            y = baselines.METHODS[method](lr, sr, cutoff, seed=0)
        row = {"id": 0, "round": 0, "parent": None, "level": None, "final": True, "noise": "", "nfe": nfe}
        cands = pd.DataFrame([row | {"guide_score": np.nan}]).astype({"parent": "Int64", "level": "Int64"})
        return {0: np.asarray(y, np.float32)}, cands, nfe


CANDIDATE_COLUMNS = ("id", "round", "parent", "level", "final", "noise", "nfe", "guide_score")
ROW_COLUMNS = (
    *("clip", "clip_sha", "domain", "source", "real", "has_transcript", "cutoff", "filter"),
    *("search", "searcher", "searcher_config", "steps", "eta", "guide", "seed", "cell_nfe"),
    *("candidate", "round", "parent", "level", "final", "chosen", "noise", "nfe", "guide_score"),
)
"""The columns every row starts with, in order; the panel's axes follow, then wall_seconds, weights, code, cell."""


# ----------------------------------------------------------------------------------------------- executors
def _local(grid: Grid, cells: list[Cell], workers: int, threads: int | None, address: str | None):
    if workers <= 1:
        worker = Worker(grid, threads)
        for cell in cells:
            yield worker.run(cell)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(workers, mp.get_context("spawn"), _init_process, (grid.to_dict(), threads)) as pool:
        for fut in as_completed([pool.submit(_run_in_process, c) for c in cells]):
            yield fut.result()


_PROCESS_WORKER: Worker | None = None


def _init_process(grid: dict, threads: int | None) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = Worker(grid, threads)


def _run_in_process(cell: Cell) -> tuple[str, pd.DataFrame]:
    return _PROCESS_WORKER.run(cell)


def _ray(grid: Grid, cells: list[Cell], workers: int, threads: int | None, address: str | None):
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as e:
        raise TsrError("--executor ray needs Ray: pip install 'tsrlib[ray]'") from e
    started = not ray.is_initialized()
    if started:
        local = address in (None, "", "local")
        ray.init(
            address=None if local else address,
            num_cpus=workers if local else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    gpus = 1 if str(grid.device).startswith("cuda") else 0
    actor = ray.remote(num_cpus=1, num_gpus=gpus)(Worker)
    try:
        pool = ActorPool([actor.remote(grid.to_dict(), threads) for _ in range(workers)])
        yield from pool.map_unordered(lambda a, c: a.run.remote(c), cells)
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    grid: Grid,
    out: str | Path,
    *,
    executor: str = "local",
    workers: int = 1,
    threads: int | None = None,
    address: str | None = None,
    progress: bool = True,
) -> ScoreBank:
    """Run every cell of ``grid`` not yet in the bank at ``out``, storing each as it finishes; returns the bank.

    ``executor``: ``local`` (``workers`` processes; 1 runs in this process) or ``ray`` (``workers`` actors; ``address``
    ``auto`` or ``HOST:PORT`` joins a running cluster, none starts a local one). ``threads``: torch threads per worker
    (default: the machine's cores shared among the workers). Raises :class:`~tsrlib.bank.BankMismatchError` when the
    bank at ``out`` holds another model's or another code version's rows.
    """
    from tqdm.auto import tqdm

    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    weights = grid_weights(grid)
    clips = grid.load_clips()
    if not clips:
        raise TsrError(f"no {grid.split} clips of {', '.join(grid.domains)} in {grid.corpus}")
    bank = ScoreBank(out, weights=weights, code=scoring_version())  # made once the grid is known to have clips
    (bank.path / "grids").mkdir(exist_ok=True)
    text = json.dumps(grid.to_dict(), sort_keys=True, indent=2)
    grid_id = hashlib.sha1(text.encode()).hexdigest()[:12]
    (bank.path / "grids" / f"{grid_id}.json").write_text(text + "\n")
    if bank.header.get("grid") != grid_id:
        bank.write_header({**bank.header, "grid": grid_id})  # the grid last swept: grids/GRID.json
    cells = grid.cells(clips, weights)
    todo = [c for c in cells if not bank.has(c.key)]
    environments, versions = bank.header.get("environments", []), library_versions()
    if todo and versions not in environments:  # the numeric libraries these cells will be computed with
        bank.write_header({**bank.header, "environments": environments + [versions]})
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    run = {"local": _local, "ray": _ray}[executor]
    with tqdm(total=len(cells), initial=len(cells) - len(todo), unit="cell", desc="sweep", disable=not progress) as bar:
        for key, rows in run(grid, todo, workers, threads, address):
            bank.add(key, rows)
            bar.update()
    return bank


def grid_weights(grid: Grid) -> str:
    """The fingerprint of the grid's model weights (what a bank's ``weights`` records)."""
    from tsrlib.models import tiny
    from tsrlib.search.cache import model_fingerprint

    return model_fingerprint(tiny.load(grid.model, "cpu"))


IGNORED_IN_MIGRATION = ("wall_seconds", "code", "cell")
"""Row columns a migration does not compare: the time a cell took, and what it rewrites."""
MIGRATION_RTOL = 1e-4
"""How far a rerun's float may lie from the stored one, relative (and absolute, near 0). The verifiers' thread pools
(DNSMOS's ONNX runtime, the speaker encoder) do not promise bit-identical sums from one run to the next: a rerun of
the very code that made a row differs from it by up to 5e-7 (DNSMOS P.808, speaker similarity). Nor do their kernels
across library versions: in a fresh environment (onnxruntime 1.32) the code that made the book's bank reproduced its
DNSMOS SIG by up to 9e-5 MOS (3e-5 relative), a hundred times below any interval the book reports."""


REGRESSION_RTOL = 1e-2
"""The same, for what the regression baseline computes: the ``consensus`` column of every row, and every float of the
regression baseline's own row. That model reads the input's empty band, float rounding noise which the STFT's
compression (``|X|^0.3``: -100 dB becomes -30 dB) lifts to where the network sees it, so its output follows the
rounding: a 1e-6 relative change of the input's level moves its LSD-HF against the input by 1.6e-3 (``tiny-real``,
whose condition holds band replication there, by 1e-7). On another machine of the same kind, the very code that made
the book's bank reproduced those values only to 2.3e-2 absolute (a continuity score near -32), 1.5e-3 relative; every
other value to 1e-4. The empty band is fixed by retraining (mask it in the condition), which changes the baseline."""


def migration_rtol(search: str, column: str) -> float:
    """The tolerance a migration compares ``column`` of ``search``'s rows (a label, as :func:`label_of`) to."""
    return REGRESSION_RTOL if column == "consensus" or search == "baseline:regression" else MIGRATION_RTOL


def same_column(a: pd.Series, b: pd.Series, rtol: float = MIGRATION_RTOL) -> bool:
    """Whether two columns of rows agree: floats to ``rtol`` (relative, and absolute near 0) with NaN in the same
    places, anything else exactly."""
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return bool(np.allclose(a.to_numpy(), b.to_numpy(), rtol=rtol, atol=rtol, equal_nan=True))
    return a.equals(b)


def migrate_bank(grid: Grid, out: str | Path, *, progress: bool = True) -> ScoreBank | None:
    """Carry the bank at ``out`` over to this scoring code, when this code scores as the code that made it did.

    A bank records the digest of the code that made its rows (:func:`~tsrlib.bank.scoring_version`), and a change to
    any of that code (a refactor, a new model backend) makes it stale. This reruns, with this code, the first stored
    cell of each of the grid's searches in each domain, and compares every column of their rows (but
    :data:`IGNORED_IN_MIGRATION`) with the stored ones (:func:`same_column`: floats to :data:`MIGRATION_RTOL`, what the
    regression baseline computes to :data:`REGRESSION_RTOL`, the rest exactly). Only when all agree does it rewrite
    the bank's rows under this code's digest and cell keys (merged into ``rows.parquet``) and record the migration,
    with the cells it checked and the largest differences found (``largest_regression_difference`` for the regression
    baseline's values), under ``migrations`` in ``bank.json``. Otherwise it raises
    :class:`~tsrlib.bank.BankMismatchError` naming the cell and the columns that differ, and changes nothing.

    Raises the same error when the bank's weights are not the grid model's, or it holds cells of another grid.
    Returns the bank (None when there is none at ``out`` yet).
    """
    import datetime

    from tsrlib.bank import BankMismatchError

    if not (Path(out) / ScoreBank.HEADER).is_file():
        return None  # nothing to carry over: the sweep starts the bank
    bank = ScoreBank(out)
    new = scoring_version()
    if bank.code == new:
        return bank
    weights = grid_weights(grid)
    bank.check(weights, None)
    clips = grid.load_clips()
    old_cells = {c.key: c for c in grid.cells(clips, weights, code=bank.code)}
    new_key = {c.key: n.key for c, n in zip(old_cells.values(), grid.cells(clips, weights, code=new))}
    stored = bank.cells()
    foreign = [k for k in stored if k not in old_cells]
    if foreign:
        raise BankMismatchError(
            f"{bank.path}: {len(foreign)} stored cells (e.g. {foreign[0]}) are not cells of this grid under code "
            f"{bank.code}; migrate a bank with the grid that made it"
        )
    firsts: dict[tuple[str, str], Cell] = {}
    for key, cell in old_cells.items():  # grid order: the first stored cell of each search in each domain
        which = (label_of(cell.search), cell.clip.domain)
        if key in stored and which not in firsts:
            firsts[which] = cell
    df = bank.frame()
    worker = Worker(grid)
    checked, worst, worst_regression = [], 0.0, 0.0
    for (label, _), cell in firsts.items():
        if progress:
            print(f"migrate: rerunning {label} on {cell.clip.id} at {cell.cutoff:.0f} Hz", flush=True)
        _, fresh = worker.run(Cell(new_key[cell.key], cell.clip, cell.cutoff, cell.search, cell.seed))
        old = df[df["cell"] == cell.key].drop(columns=list(IGNORED_IN_MIGRATION)).reset_index(drop=True)
        buf = io.BytesIO()  # through Parquet, as the stored rows went, so that dtypes compare alike
        fresh.to_parquet(buf, index=False)
        fresh = pd.read_parquet(buf).drop(columns=list(IGNORED_IN_MIGRATION)).reset_index(drop=True)
        differ = sorted(set(old.columns) ^ set(fresh.columns))
        if not differ:
            fresh = fresh[old.columns]
            if len(fresh) != len(old):
                differ = ["(row count)"]
            else:
                differ = [c for c in old.columns if not same_column(old[c], fresh[c], migration_rtol(label, c))]
        if differ:
            raise BankMismatchError(
                f"{bank.path}: code {new} does not reproduce cell {cell.key} ({label}) of code {bank.code}: "
                f"{', '.join(differ[:6])} differ. Its rows are another code's evidence: regenerate the bank "
                "(`tsr sweep GRID --out NEW_DIR`)"
            )
        for c in (c for c in old.columns if old[c].dtype.kind == "f"):
            gap = float(np.nan_to_num(np.abs(old[c].to_numpy() - fresh[c].to_numpy())).max(initial=0.0))
            if migration_rtol(label, c) == MIGRATION_RTOL:
                worst = max(worst, gap)
            else:
                worst_regression = max(worst_regression, gap)
        checked.append(new_key[cell.key])
    bank.write_rows(df.assign(code=new, cell=df["cell"].map(new_key)))
    history = bank.header.get("migrations", []) + [
        {
            "from": bank.code,
            "to": new,
            "checked": checked,
            "largest_difference": worst,
            "largest_regression_difference": worst_regression,
            "date": datetime.date.today().isoformat(),
            "environment": library_versions(),
        }
    ]
    bank.write_header({**bank.header, "code": new, "migrations": history})
    return ScoreBank(out)
