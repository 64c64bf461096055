"""The score bank: every candidate a sweep evaluated, one row each, sampled and scored once, analysed many times.

Any best-of-n for n up to the pool is a subsample of a random-search cell's rows, so the book's curves and
intervals need no new sampling. A bank is a folder:

- ``bank.json``: what every row shares, the model's weights fingerprint (``weights``) and the digest of the code
  that samples and scores (``code``, :func:`scoring_version`); and the grid last swept into it (``grid``: the name of
  its file in ``grids/``); and ``environments``, the versions of the numeric libraries (:func:`library_versions`)
  of every environment that added cells, since the same code on other kernels can move a float in its last digits.
  A bank refuses rows of other weights or code.
- ``cells/KEY.parquet``: one file per finished cell (one search on one clip at one cutoff), written to a
  temporary name and renamed, so a killed sweep leaves whole cells or none; the file name is the cell's key.
- ``rows.parquet``: the cells merged by :meth:`ScoreBank.compact` (what a repository commits).

When the scoring code changes in a way that does not change a row (a refactor, a new model backend),
:func:`tsrlib.sweep.migrate_bank` (``tsr sweep GRID --out BANK --migrate``) reruns one cell of each search in each
domain, and only if every column comes out equal (floats to float32 rounding) carries the rows over to the new code,
recording the check in ``bank.json``.

Read it with pandas (:meth:`ScoreBank.frame`) or DuckDB (``SELECT * FROM 'DIR/**/*.parquet'``).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

from tsrlib.errors import TsrError

SCORING_EXCLUDE = ("cli.py", "display.py", "prose.py", "experiments.py", "data/", "train/", "models/audiosr.py")
"""Source files of tsrlib that cannot change a bank row: presentation, analysis, corpus building (a clip is keyed by
its content), training (a model is keyed by its weights) and the AudioSR backend (a sweep samples tsrlib's own
models only: :class:`~tsrlib.sweep.Worker` loads them with :func:`~tsrlib.models.tiny.load`)."""


def code_digest(source: str) -> str:
    """A digest of Python ``source``'s syntax tree without docstrings: comments, docstrings and formatting do not
    change it; any change to what the code does does."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha1(ast.dump(tree).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def scoring_version() -> str:
    """A digest of the code that shapes a row (sampler, models, searchers, verifiers, metrics, audio, this bank and the
    sweep): every ``.py`` file under tsrlib except :data:`SCORING_EXCLUDE`, by :func:`code_digest`, so an edit to a
    docstring or a comment keeps a bank current and an edit to the code makes it stale."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).as_posix()
        if not rel.startswith(SCORING_EXCLUDE):
            h.update(f"{rel}\0{code_digest(f.read_text())}\0".encode())
    return h.hexdigest()[:12]


NUMERIC_LIBRARIES = (
    "torch",
    "numpy",
    "scipy",
    "soxr",
    "onnxruntime",
    "ctranslate2",
    "faster-whisper",
    "resemblyzer",
    "speechmos",
)
"""The installed distributions whose kernels compute a bank's samples and scores."""


def library_versions() -> dict[str, str | None]:
    """``{distribution: version}`` of :data:`NUMERIC_LIBRARIES` in this environment (None: not installed)."""
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in NUMERIC_LIBRARIES}


class BankMismatchError(TsrError):
    """Rows of other weights or scoring code than the bank's: they would mix two models' evidence."""


class ScoreBank:
    """A folder of per-candidate rows (see the module docstring).

    ``weights`` and ``code``: what the rows about to be added were made with. A new bank records them; an existing one
    must match them (:class:`BankMismatchError` otherwise). Leave both out to open a bank read-only.
    """

    HEADER = "bank.json"
    MERGED = "rows.parquet"

    def __init__(self, path: str | Path, *, weights: str | None = None, code: str | None = None):
        self.path = Path(path)
        self.cells_dir = self.path / "cells"
        header = self.path / self.HEADER
        if header.is_file():
            self.header = json.loads(header.read_text())
            self.check(weights, code)
        elif weights is not None and code is not None:
            self.cells_dir.mkdir(parents=True, exist_ok=True)
            self.write_header({"weights": weights, "code": code})
        else:
            raise TsrError(f"{self.path} is not a score bank (no {self.HEADER}); make one with `tsr sweep GRID --out`")
        merged = self.path / self.MERGED
        self._merged_cells = set(pd.read_parquet(merged, columns=["cell"])["cell"]) if merged.is_file() else set()

    def write_header(self, header: dict) -> None:
        """Replace ``bank.json`` (atomically) with ``header``: ``weights``, ``code`` and, after a
        :func:`~tsrlib.sweep.migrate_bank`, the ``migrations`` that carried the rows over from earlier code."""
        tmp = self.path / f"{self.HEADER}.tmp"
        tmp.write_text(json.dumps(header, indent=2) + "\n")
        os.replace(tmp, self.path / self.HEADER)
        self.header = header

    @property
    def weights(self) -> str:
        return self.header["weights"]

    @property
    def code(self) -> str:
        return self.header["code"]

    def check(self, weights: str | None, code: str | None) -> None:
        """Raise :class:`BankMismatchError` unless ``weights`` and ``code`` (where given) are the bank's."""
        for what, mine, theirs in (("weights", self.weights, weights), ("code", self.code, code)):
            if theirs is not None and theirs != mine:
                raise BankMismatchError(
                    f"{self.path} holds rows of {what} {mine}, not {theirs}: its evidence is for another "
                    f"{'model' if what == 'weights' else 'version of the sampling and scoring code'}. "
                    "Regenerate it (`tsr sweep GRID --out NEW_DIR`), or point --out at another folder"
                    + (
                        "; if the code changed without changing what it scores, `tsr sweep GRID --out BANK --migrate` "
                        "checks that and carries the rows over"
                        if what == "code"
                        else ""
                    )
                )

    def has(self, cell: str) -> bool:
        """Whether the cell with key ``cell`` is in the bank (merged or not)."""
        return cell in self._merged_cells or (self.cells_dir / f"{cell}.parquet").is_file()

    def add(self, cell: str, rows: pd.DataFrame) -> None:
        """Store one finished cell's ``rows`` (each with ``cell``, ``weights`` and ``code`` columns) atomically."""
        if rows.empty:
            raise TsrError(f"cell {cell}: no rows to store")
        for col in ("weights", "code"):
            values = set(rows[col])
            if values != {self.header[col]}:
                raise BankMismatchError(
                    f"cell {cell}: rows of {col} {sorted(values)} cannot join a bank of {col} {self.header[col]}"
                )
        if set(rows["cell"]) != {cell}:
            raise TsrError(f"cell {cell}: its rows name other cells: {sorted(set(rows['cell']))}")
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        final = self.cells_dir / f"{cell}.parquet"
        tmp = final.with_suffix(f".{os.getpid()}.tmp")
        rows.to_parquet(tmp, index=False)
        os.replace(tmp, final)  # atomic: a kill leaves the whole cell or none of it

    def cells(self) -> list[str]:
        """The keys of every stored cell."""
        return sorted(self._merged_cells | {p.stem for p in self.cells_dir.glob("*.parquet")})

    def frame(self, **match) -> pd.DataFrame:
        """Every row, or those whose columns take one of the given values (``searcher="random", cutoff=[4000]``);
        sorted by cell and candidate, so a bank's frame does not depend on the order its cells finished in."""
        parts = [self.path / self.MERGED] if self._merged_cells else []
        parts += sorted(self.cells_dir.glob("*.parquet"))
        if not parts:
            return pd.DataFrame()
        df = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
        for col, values in match.items():
            df = df[df[col].isin(values if isinstance(values, (list, tuple, set)) else [values])]
        return df.sort_values(["cell", "candidate"], kind="stable").reset_index(drop=True)

    def compact(self) -> Path:
        """Merge every cell into ``rows.parquet`` (zstd-compressed) and remove the cell files; returns its path."""
        return self.write_rows(self.frame())

    def write_rows(self, df: pd.DataFrame) -> Path:
        """Make ``df`` the bank's rows: ``rows.parquet`` (zstd-compressed, written atomically), no cell files."""
        merged = self.path / self.MERGED
        tmp = merged.with_suffix(".tmp")
        df.to_parquet(tmp, index=False, compression="zstd")
        os.replace(tmp, merged)
        for p in self.cells_dir.glob("*.parquet"):
            p.unlink()
        self._merged_cells = set(df["cell"]) if len(df) else set()
        return merged

    def __len__(self) -> int:
        return len(self.cells())

    def __repr__(self) -> str:
        return f"ScoreBank({str(self.path)!r}, cells={len(self)}, weights={self.weights}, code={self.code})"
