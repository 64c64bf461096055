"""Build the deterministic synthetic corpus: speech, music and sound effects, with a manifest.

``tsr data build --size tiny|small|full`` calls :func:`build`. The same seed gives the same files,
byte for byte. Splits are disjoint by speaker (speech), by piece and by seed (music, sfx): every
clip's seed comes from ``SeedSequence([seed, domain, split, index])`` and the builder checks they are
unique. The build writes each clip's row as it goes and skips finished clips when run again, so a
killed ``full`` build resumes where it stopped.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from tsrlib.audio import MODEL_SR, save
from tsrlib.data import manifest, music, sfx, speech, text
from tsrlib.errors import ConfigError

SIZES: dict[str, dict[str, dict[str, int]]] = {
    # clips per domain and split; tiny builds in well under a minute, small serves the book, full trains.
    "tiny": {
        "speech": {"train": 4, "val": 2, "test": 2},
        "music": {"train": 2, "val": 1, "test": 1},
        "sfx": {"train": 2, "val": 1, "test": 2},
    },
    "small": {
        "speech": {"train": 64, "val": 12, "test": 24},
        "music": {"train": 32, "val": 6, "test": 12},
        "sfx": {"train": 40, "val": 10, "test": 20},
    },
    "full": {
        "speech": {"train": 3000, "val": 120, "test": 240},
        "music": {"train": 1500, "val": 60, "test": 120},
        "sfx": {"train": 1500, "val": 60, "test": 120},
    },
}
SECONDS = {"music": 4.0, "sfx": 3.0}
_SENTENCE_OFFSET = {"test": 0, "val": 10_000, "train": 20_000}  # hand-written sentences go to test first


def clip_seed(seed: int, domain: str, split: str, index: int) -> int:
    """The seed of one clip: a 32-bit draw from ``SeedSequence([seed, domain, split, index])``."""
    ss = np.random.SeedSequence([seed, manifest.DOMAINS.index(domain), manifest.SPLITS.index(split), index])
    return int(ss.generate_state(1)[0])


def plan(size: str, seed: int = 0, domains: tuple[str, ...] = manifest.DOMAINS) -> list[dict]:
    """Everything needed to make each clip of a build, without making it: one dict per clip."""
    if size not in SIZES:
        raise ConfigError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    jobs = []
    for domain in domains:
        for split, count in SIZES[size][domain].items():
            if domain == "speech":
                spks = speech.speakers(split)
                lines = text.sentences(count, offset=_SENTENCE_OFFSET[split], seed=seed)
            for i in range(count):
                job = {
                    "id": f"{domain}-{split}-{i:05d}",
                    "domain": domain,
                    "split": split,
                    "seed": clip_seed(seed, domain, split, i),
                }
                if domain == "speech":
                    # Alternate engines so even a tiny split holds both the natural and the formant voices.
                    spk = spks[(i // 2 if i % 2 else len(spks) - 1 - i // 2) % len(spks)]
                    job.update(speaker=spk.id, sentence=lines[i])
                elif domain == "sfx":
                    job.update(category=sfx.CATEGORIES[(i + manifest.SPLITS.index(split) * 3) % len(sfx.CATEGORIES)])
                jobs.append(job)
    seeds = [j["seed"] for j in jobs]
    assert len(set(seeds)) == len(seeds), "clip seeds collide; splits would share a seed"
    return jobs


def _make(job: dict, sr: int) -> tuple[np.ndarray, dict]:
    row = {"transcript": "", "caption": "", "speaker": ""}
    if job["domain"] == "speech":
        spk = next(s for s in speech.SPEAKERS if s.id == job["speaker"])
        x, params = speech.synthesize(job["sentence"], spk, sr, job["seed"])
        row.update(transcript=text.normalize_transcript(job["sentence"]), speaker=spk.id, source=spk.engine)
        params["text"] = job["sentence"]
    elif job["domain"] == "music":
        piece = music.draw_piece(job["seed"])
        x = music.render(piece, sr, SECONDS["music"])
        params = {
            "instrument": piece.instrument,
            "program": music.INSTRUMENTS[piece.instrument],
            "tempo": piece.tempo,
            "key": piece.key,
            "mode": piece.mode,
            "texture": piece.texture,
            "soundfont": Path(music.soundfont()).name,
        }
        row.update(caption=piece.caption, source="fluidsynth")
    else:
        x, caption = sfx.generate(job["category"], job["seed"], sr, SECONDS["sfx"])
        params = {"category": job["category"]}
        row.update(caption=caption, source="procedural")
    return x, {**row, "params": json.dumps(params, sort_keys=True)}


def build(
    out: str | Path,
    size: str = "tiny",
    seed: int = 0,
    sr: int = MODEL_SR,
    domains: tuple[str, ...] = manifest.DOMAINS,
    progress: bool = True,
) -> Path:
    """Generate the corpus into ``out`` and write ``out/manifest.csv``. Returns the manifest path.

    ``size="real"`` builds the corpus of real recordings from Debian packages instead (:func:`build_real`).

    Audio is 16-bit mono WAV at ``sr`` Hz under ``out/<domain>/<id>.wav``. Finished clips (listed in
    ``out/manifest.partial.csv`` with their file present and matching hash) are not made again.
    """
    if size != "real" and size not in SIZES:
        raise ConfigError(f"size must be one of {', '.join(SIZES)} or real, got {size!r}")
    domains = manifest.check_domains(domains)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if size == "real":
        return build_real(out, seed, sr, domains, progress)
    partial = out / "manifest.partial.csv"
    done: dict[str, dict] = {}
    if partial.is_file():
        with partial.open(newline="") as f:
            for r in csv.DictReader(f):
                p = out / r["path"]
                if p.is_file() and manifest.sha256(p) == r["sha256"]:
                    done[r["id"]] = r
    jobs = plan(size, seed, domains)
    new_file = not partial.is_file() or not done
    with partial.open("w" if new_file else "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=manifest.COLUMNS, lineterminator="\n")
        if new_file:
            w.writeheader()
        for job in tqdm(jobs, desc=f"corpus {size}", disable=not progress):
            if job["id"] in done:
                continue
            x, extra = _make(job, sr)
            rel = Path(job["domain"]) / f"{job['id']}.wav"
            save(out / rel, x, sr)
            row = {
                "id": job["id"],
                "domain": job["domain"],
                "split": job["split"],
                "path": rel.as_posix(),
                "sample_rate": sr,
                "duration": round(len(x) / sr, 4),
                "num_samples": len(x),
                "seed": job["seed"],
                "sha256": manifest.sha256(out / rel),
                **extra,
            }
            w.writerow(row)
            f.flush()
            done[job["id"]] = row
    wanted = {j["id"] for j in jobs}
    path = manifest.write([r for i, r in done.items() if i in wanted], out / "manifest.csv")
    partial.unlink()
    return path


def build_real(
    out: str | Path,
    seed: int = 0,
    sr: int = MODEL_SR,
    domains: tuple[str, ...] = manifest.DOMAINS,
    progress: bool = True,
) -> Path:
    """The real-recordings corpus (:mod:`tsrlib.data.real`) into ``out``, with the synthetic corpus's manifest columns.

    Clips are written as they are made and listed in ``manifest.partial.csv``; a rerun keeps the clips it finds
    there and makes the same bytes for the others, so a killed build resumes. Returns the manifest path.
    """
    from tsrlib.data import real

    out = Path(out)
    partial = out / "manifest.partial.csv"
    done: dict[str, dict] = {}
    if partial.is_file():
        with partial.open(newline="") as f:
            done = {r["id"]: r for r in csv.DictReader(f) if (out / r["path"]).is_file()}
    rows = []
    with partial.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=manifest.COLUMNS, lineterminator="\n")
        if not done:
            f.truncate(0)
            w.writeheader()
        for cid, domain, x, fields in tqdm(real.clips(sr, seed, domains), desc="corpus real", disable=not progress):
            if cid in done:
                rows.append(done[cid])
                continue
            rel = Path(domain) / f"{cid}.wav"
            save(out / rel, x, sr)
            row = {
                "id": cid,
                "domain": domain,
                "path": rel.as_posix(),
                "sample_rate": sr,
                "duration": round(len(x) / sr, 4),
                "num_samples": len(x),
                "seed": seed,
                "sha256": manifest.sha256(out / rel),
                "transcript": "",
                "caption": "",
                **{k: v for k, v in fields.items() if k != "params"},
                "params": json.dumps(fields["params"], sort_keys=True),
            }
            w.writerow({k: row.get(k, "") for k in manifest.COLUMNS})
            f.flush()
            rows.append(row)
    path = manifest.write(rows, out / "manifest.csv")
    partial.unlink()
    return path
