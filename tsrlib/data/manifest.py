"""The corpus manifest: one CSV row per clip, the same columns for the synthetic corpus and real ones.

Columns: ``id, domain, split, path, sample_rate, duration, num_samples, transcript, caption, speaker,
source, seed, params, sha256``. ``path`` is relative to the manifest's folder; ``params`` is a JSON
string of generation parameters; ``transcript`` (speech) and ``caption`` (music, sfx) may be empty.

:func:`index_folder` builds the same manifest from a folder of real recordings (VCTK, MusicCaps,
ESC-50 or any folder of audio files), so every chapter can run on real data.
"""

from __future__ import annotations

import csv
import hashlib
import json
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import soundfile as sf

from tsrlib.errors import ConfigError, DataError

COLUMNS: tuple[str, ...] = (
    "id",
    "domain",
    "split",
    "path",
    "sample_rate",
    "duration",
    "num_samples",
    "transcript",
    "caption",
    "speaker",
    "source",
    "seed",
    "params",
    "sha256",
)
REQUIRED: tuple[str, ...] = ("id", "domain", "split", "path")
"""The columns every reader of a manifest relies on; the others may be empty or absent."""
DOMAINS: tuple[str, ...] = ("speech", "music", "sfx")
SPLITS: tuple[str, ...] = ("train", "val", "test")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")


def check_domains(domains: Sequence[str]) -> tuple[str, ...]:
    """``domains`` as a tuple if it is a non-empty list of :data:`DOMAINS`; a ConfigError naming the others if not."""
    bad = [d for d in domains if d not in DOMAINS]
    if bad or not domains:
        raise ConfigError(f"domains must be some of {', '.join(DOMAINS)}; got {', '.join(map(str, bad)) or 'none'}")
    return tuple(domains)


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write(rows: list[dict], path: str | Path) -> Path:
    """Write ``rows`` (dicts with :data:`COLUMNS`) sorted by id as a CSV manifest."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: r["id"]):
            w.writerow({k: r.get(k, "") for k in COLUMNS})
    return p


def load(path: str | Path, *, domain: str | None = None, split: str | None = None) -> pd.DataFrame:
    """Read a manifest, optionally filtered by domain and split; adds ``abspath`` (absolute audio path)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no manifest here; build one with `tsr data build` or `tsr data index`")
    try:
        df = pd.read_csv(
            p, dtype={"transcript": str, "caption": str, "speaker": str, "params": str}, keep_default_na=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: not a readable CSV manifest ({e})") from None
    if missing := [c for c in REQUIRED if c not in df.columns]:
        raise DataError(
            f"{p}: a manifest needs the columns {', '.join(REQUIRED)}; it lacks {', '.join(missing)} "
            "(`tsr data index FOLDER --domain D` writes one)"
        )
    if domain is not None:
        df = df[df.domain == domain]
    if split is not None:
        df = df[df.split == split]
    df = df.reset_index(drop=True)
    df["abspath"] = [str((p.parent / q).resolve()) for q in df.path]
    return df


def _split_of(key: str, val_pct: int = 10, test_pct: int = 10) -> str:
    h = zlib.crc32(key.encode()) % 100
    return "test" if h < test_pct else "val" if h < test_pct + val_pct else "train"


def _esc50_meta(root: Path) -> dict[str, dict]:
    meta = next(root.rglob("esc50.csv"), None)
    if meta is None:
        return {}
    df = pd.read_csv(meta)
    fold_split = {5: "test", 4: "val"}
    return {
        Path(r.filename).stem: {
            "caption": str(r.category).replace("_", " "),
            "split": fold_split.get(int(r.fold), "train"),
        }
        for r in df.itertuples()
    }


def _musiccaps_meta(root: Path, skipped: list[str]) -> dict[str, str]:
    """Captions by YouTube id from the first CSV with ``ytid`` and ``caption`` columns; unreadable CSVs go to ``skipped``."""
    for c in sorted(root.rglob("*.csv")):
        try:
            df = pd.read_csv(c, nrows=5)
        except Exception as e:
            skipped.append(f"{c.relative_to(root)} ({type(e).__name__})")
            continue
        if {"ytid", "caption"} <= set(df.columns):
            return dict(zip(*pd.read_csv(c, usecols=["ytid", "caption"]).to_dict("list").values()))
    return {}


def index_folder(root: str | Path, domain: str, out: str | Path | None = None) -> pd.DataFrame:
    """Build a manifest for the audio files under ``root`` (recursively) and write it to ``out``.

    Text comes from what the corpus ships, when it is there:

    * **speech** (e.g. VCTK): a ``.txt`` file with the audio file's stem anywhere under ``root`` is its
      transcript; the speaker is the parent folder's name (VCTK: ``p225``). Splits are disjoint by speaker.
    * **sfx** (e.g. ESC-50): ``meta/esc50.csv`` gives the category as caption; folds 1-3 train, 4 val, 5 test.
    * **music** (e.g. MusicCaps): a CSV with ``ytid`` and ``caption`` columns captions files whose stem
      starts with the YouTube id.

    Otherwise splits are a stable hash (80/10/10) of the speaker (speech) or the file stem.
    ``path`` entries are relative to the manifest's folder (``out``'s parent, or ``root``).

    Files soundfile cannot read, and CSVs pandas cannot parse, are left out and counted: one warning names how
    many and the first few, and ``df.attrs["skipped"]`` lists them all. No readable audio at all is a DataError.
    """
    check_domains([domain])
    root = Path(root).resolve()
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    base = Path(out).resolve().parent if out is not None else root
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise DataError(f"{root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    texts = {p.stem: p for p in root.rglob("*.txt")} if domain == "speech" else {}
    esc = _esc50_meta(root) if domain == "sfx" else {}
    skipped: list[str] = []
    caps = _musiccaps_meta(root, skipped) if domain == "music" else {}
    rows = []
    for f in files:
        try:
            info = sf.info(str(f))
        except Exception as e:
            skipped.append(f"{f.relative_to(root)} ({type(e).__name__})")
            continue
        speaker, transcript, caption = "", "", ""
        split = None
        if domain == "speech":
            speaker = f.parent.name
            if f.stem in texts:
                transcript = texts[f.stem].read_text(errors="replace").strip()
            split = _split_of(speaker)
        elif domain == "sfx" and f.stem in esc:
            caption, split = esc[f.stem]["caption"], esc[f.stem]["split"]
        elif domain == "music":
            caption = next((c for y, c in caps.items() if f.stem.startswith(str(y))), "")
        rows.append(
            {
                "id": f"{domain}-{f.relative_to(root).with_suffix('').as_posix().replace('/', '-')}",
                "domain": domain,
                "split": split or _split_of(f.stem),
                "path": Path(f).relative_to(base).as_posix() if f.is_relative_to(base) else str(f),
                "sample_rate": info.samplerate,
                "duration": round(info.duration, 4),
                "num_samples": info.frames,
                "transcript": transcript,
                "caption": caption,
                "speaker": speaker,
                "source": f"indexed:{root.name}",
                "seed": "",
                "params": json.dumps({"channels": info.channels}),
                "sha256": "",
            }
        )
    if not rows:
        raise DataError(f"{root}: none of its {len(files)} audio files could be read (first: {skipped[0]})")
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        warnings.warn(f"{root}: {len(skipped)} unreadable file(s) left out of the manifest: {shown}", stacklevel=2)
    if out is not None:
        write(rows, out)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs["skipped"] = skipped
    return df
