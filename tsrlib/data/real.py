"""Real recordings from Debian data packages: voices, sampled instruments, drum kits and game sound effects.

The synthetic corpus taught the first model an empty top octave: its voices have almost nothing above
8-10 kHz, while real speech sits some 40 dB below its total energy there. This module builds a corpus of
real recordings that installs from the package registry, with the same manifest columns as the
synthetic one (``tsr data build --size real``):

=========  =========================================  ==========================================  ===============
domain     source (Debian package)                    clips                                       split by
=========  =========================================  ==========================================  ===============
speech     ``ktuberling-data``: single words spoken   3 s utterances of one voice's words          language (voice)
           by real people, ~20 languages, 44.1-48 kHz
music      ``fluid-soundfont-gm``: FluidR3_GM sampled  generated MIDI (:mod:`tsrlib.data.music`),    instrument
           instruments                                 4 s
music      ``hydrogen-drumkits``: recorded drum kits   4 s drum loops drawn from a seed             kit
sfx        game and desktop sounds: ``frozen-bubble-   one clip per file, at most 3 s              package
           data``, ``sound-theme-freedesktop``
           (train); ``kgoldrunner``, ``kapman``,
           ``granatier``, ``knavalbattle``, ``kolf``
           (test)
=========  =========================================  ==========================================  ===============

A package that is installed is read in place; otherwise ``apt-get download`` fetches it into a cache
(``data/packages/``, or ``$TSR_DEB_CACHE``) and ``dpkg-deb -x`` unpacks it, which needs no root.

**Bandwidth.** Many files are narrower than their sample rate says (8 kHz phone-quality words stored at
44.1 kHz, 22.05 kHz voices). :func:`measure_bandwidth` measures each file at its own rate; the manifest keeps
it in ``params["bandwidth_hz"]`` (capped at the corpus's Nyquist), the trainer masks the loss above it, and a
file narrower than :data:`MIN_BANDWIDTH_HZ` (test and val: :data:`MIN_TEST_BANDWIDTH_HZ`) is dropped.
``data/README.md`` states each source's licence.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsrlib import audio as tsa
from tsrlib.errors import AudioInputError, TsrError

MIN_BANDWIDTH_HZ: float = 5000.0
"""Training files narrower than this are dropped: they have nothing above a 4 kHz input band worth learning."""

MIN_TEST_BANDWIDTH_HZ: float = 10_500.0
"""Test and validation files must be (nearly) full band at 24 kHz, so LSD measures the band a model invents."""

SPEECH_SPLITS: dict[str, str] = {  # language folder (one voice each) -> split; languages at 8 kHz are left out
    "en": "test",
    "el": "test",
    "sl": "test",
    "ro": "test",
    "ga": "val",
    "gl": "val",
    "da": "train",
    "de": "train",
    "fr": "train",
    "lt": "train",
    "nn": "train",
    "ru": "train",
    "uk": "train",
    "wa": "train",
    "ca": "train",
}
KIT_SPLITS: dict[str, str] = {  # hydrogen kit folder -> split (others train)
    "The Black Pearl 1.0": "test",
    "Millo-Drums_v.1": "test",
    "VariBreaks": "test",
    "Audiophob": "test",
    "Gimme A Hand 1.0": "val",
}
INSTRUMENT_SPLITS: dict[str, str] = {  # General MIDI instrument (tsrlib.data.music.INSTRUMENTS) -> split (others train)
    "acoustic piano": "test",
    "violin": "test",
    "flute": "test",
    "steel guitar": "test",
    "vibraphone": "test",
    "trumpet": "val",
    "harpsichord": "val",
}
SFX_SPLITS: dict[str, str] = {
    "frozen-bubble-data": "train",
    "sound-theme-freedesktop": "train",
    "kgoldrunner": "test",
    "kapman": "test",
    "granatier": "test",
    "knavalbattle": "test",
    "kolf": "test",
}

PACKAGES: dict[str, str] = {  # package -> licence of the files used (see data/README.md)
    "ktuberling-data": "GPL-2+",
    "fluid-soundfont-gm": "MIT",
    "hydrogen-drumkits": "GPL-2 / GPL-2+ / CC-BY-3.0 / CC-BY-SA-3.0 / CC0, per kit",
    "frozen-bubble-data": "GPL-2",
    "sound-theme-freedesktop": "GPL-2+ / CC-BY-3.0 / CC-BY-SA-3.0, per file",
    "kgoldrunner": "GPL-2+",
    "kapman": "GPL-2+",
    "granatier": "GPL-2+",
    "knavalbattle": "GPL-2+",
    "kolf": "GPL-2+",
}
COUNTS: dict[str, dict[str, int]] = {  # generated clips per split (speech and sfx use every eligible file)
    "instruments": {"train": 60, "val": 6, "test": 16},
    "drums": {"train": 48, "val": 6, "test": 16},
}
SPEECH_SECONDS, MUSIC_SECONDS, SFX_SECONDS = 3.0, 4.0, 3.0


def deb_cache() -> Path:
    return Path(os.environ.get("TSR_DEB_CACHE", "data/packages"))


def package_root(package: str, cache: str | Path | None = None) -> Path:
    """The folder under which ``package``'s files (``usr/share/...``) lie: ``/`` if installed, else an unpacked copy.

    The copy is made once with ``apt-get download`` and ``dpkg-deb -x`` into ``cache`` (no root needed).
    Raises :class:`TsrError` with the command to run when neither works (no apt, no network, no such package).
    """
    if subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True).stdout.endswith(
        "install ok installed"
    ):
        return Path("/")
    root = Path(cache or deb_cache()) / package
    if (root / ".complete").is_file():
        return root
    hint = (
        f"install it (`apt-get install {package}`) or unpack it "
        f"(`apt-get download {package} && dpkg-deb -x {package}_*.deb DIR`)"
    )
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise TsrError(f"the real corpus needs the Debian package {package}, and apt-get/dpkg-deb are not here: {hint}")
    tmp = root.with_name(root.name + ".download")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    got = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
    debs = sorted(tmp.glob("*.deb"))
    if got.returncode != 0 or not debs:
        shutil.rmtree(tmp, ignore_errors=True)
        why = (got.stderr.strip().splitlines() or ["no .deb was written"])[-1]
        raise TsrError(f"cannot fetch the Debian package {package} ({why}); {hint}")
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp)], check=True, capture_output=True)
    debs[0].unlink()
    (tmp / ".complete").write_text(package + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    return root


def measure_bandwidth(x: np.ndarray, sr: int) -> float:
    """The real bandwidth (Hz) of a recording ``x [T]`` at its own rate ``sr``: :func:`tsrlib.audio.detect_cutoff`,
    which finds the top of the spectrum's last cliff. A file stored at 44.1 kHz but recorded at 8 kHz reads ~4 kHz."""
    return float(min(tsa.detect_cutoff(x, sr), sr / 2))


def band_energy_db(x: np.ndarray, sr: int, lo_hz: float) -> float:
    """The energy of ``x [T]`` at or above ``lo_hz``, in dB relative to its total energy (0 dB: all of it; white
    noise at 24 kHz has -4.8 dB above 8 kHz). On the test splits (medians, Chapter 1) real speech has -27 dB above 8 kHz
    and -41 dB above 11 kHz; the Piper voice -46 and -92 dB: it renders next to nothing up there."""
    f, db = tsa.mean_power_db(x, sr)
    p = 10 ** (db / 10)
    return float(10 * np.log10(max(p[f >= lo_hz].sum(), 1e-30) / max(p.sum(), 1e-30)))


@dataclass(frozen=True)
class Source:
    """One recording found in a package: where it is, which group (voice, kit, package) and split it belongs to."""

    path: Path
    package: str
    group: str
    split: str


def _read(path: Path) -> tuple[np.ndarray, int] | None:
    """Mono float32 audio at its own rate (:func:`tsrlib.audio.load`), or None for unreadable, empty, NaN, quiet
    (under -60 dBFS) or sub-0.1 s files."""
    try:
        x, sr = tsa.load(path, sr=None, max_seconds=None, allow_silent=True)
    except AudioInputError:
        return None
    if len(x) < 0.1 * sr or tsa.rms_dbfs(x) < -60:
        return None
    return x, sr


def speech_sources(root: Path) -> list[Source]:
    base = root / "usr/share/ktuberling/sounds"
    out = []
    for lang, split in SPEECH_SPLITS.items():
        for p in sorted((base / lang).glob("*")):
            if p.suffix in (".ogg", ".wav", ".opus", ".flac"):
                out.append(Source(p, "ktuberling-data", f"voice:{lang}", split))
    return out


def kit_sources(root: Path) -> dict[str, list[Path]]:
    """Drum kit name -> its sample files (wav, flac, aiff)."""
    base = root / "usr/share/hydrogen/data/drumkits"
    kits = {}
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in (".wav", ".flac", ".aiff", ".aif"))
        if files:
            kits[d.name] = files
    return kits


def sfx_sources(roots: dict[str, Path]) -> list[Source]:
    out = []
    for pkg, split in SFX_SPLITS.items():
        for p in sorted(roots[pkg].rglob("*")):
            if p.suffix in (".ogg", ".oga", ".wav") and "/doc/" not in p.as_posix():
                out.append(Source(p, pkg, f"package:{pkg}", split))
    return out


# ------------------------------------------------------------------------------------------- clip makers
def _load_measured(path: Path, sr: int) -> tuple[np.ndarray, float] | None:
    r = _read(path)
    if r is None:
        return None
    x, file_sr = r
    return tsa.resample(x, file_sr, sr), min(measure_bandwidth(x, file_sr), sr / 2)


def speech_clips(sources: list[Source], sr: int, seed: int) -> Iterable[tuple[str, np.ndarray, dict]]:
    """Utterances of :data:`SPEECH_SECONDS` (a voice's last may be shorter): one voice's words in a seeded order,
    0.15-0.3 s apart, cut at the length, so the last word may be cut short; ``params["words"]`` and the transcript
    (English voices: the file names' words) list the whole words, ``params["cut_word"]`` the cut one.

    A clip's bandwidth is its narrowest word's. Words under the split's bandwidth floor are left out.
    """
    by_voice: dict[str, list[Source]] = {}
    for s in sources:
        by_voice.setdefault(s.group, []).append(s)
    for voice, items in sorted(by_voice.items()):
        split = items[0].split
        floor = MIN_TEST_BANDWIDTH_HZ if split != "train" else MIN_BANDWIDTH_HZ
        rng = np.random.default_rng([seed, sum(voice.encode())])
        words = []
        for s in items:
            w = _load_measured(s.path, sr)
            if w is not None and w[1] >= floor and len(w[0]) < 2.5 * sr:
                words.append((s, *w))
        order = rng.permutation(len(words))
        clip, names, bws, k = [], [], [], 0
        for i in order:
            s, x, bw = words[int(i)]
            gap = np.zeros(int(rng.uniform(0.15, 0.3) * sr), np.float32)
            clip += [gap, x]
            names.append(s.path.stem)
            bws.append(bw)
            if sum(len(c) for c in clip) >= SPEECH_SECONDS * sr or i == order[-1]:
                y = np.concatenate(clip + [gap])[: int(SPEECH_SECONDS * sr)]
                lang = voice.split(":")[1]
                whole = names if sum(len(c) for c in clip) <= len(y) else names[:-1]  # the last word may be cut
                transcript = " ".join(n.split("_")[-1] for n in whole) if lang == "en" else ""
                yield (
                    f"speech-{lang}-{split}-{k:04d}",
                    y,
                    {
                        "split": split,
                        "speaker": voice,
                        "transcript": transcript,
                        "source": "ktuberling-data",
                        "params": {
                            "words": whole,
                            "cut_word": names[len(whole) :],
                            "language": lang,
                            "bandwidth_hz": round(min(bws), 1),
                        },
                    },
                )
                clip, names, bws, k = [], [], [], k + 1


def drum_loop(
    samples: list[tuple[np.ndarray, float, str]], sr: int, seconds: float, rng: np.random.Generator
) -> np.ndarray:
    """A drum loop ``[seconds * sr]``: kick, snare and hats (chosen by file name where the kit names them,
    else at random) on a 16th-note grid at a seeded tempo, with seeded ghost notes and velocities."""

    def pick(*keys: str) -> np.ndarray:
        hits = [x for x, _, n in samples if any(k in n.lower() for k in keys)]
        pool = hits or [x for x, _, _ in samples]
        return pool[int(rng.integers(len(pool)))]

    kick, snare, hat = pick("kick", "bd", "bass"), pick("snare", "sd", "snr", "clap"), pick("hat", "hh", "ride", "cym")
    extra = pick("tom", "perc", "conga", "bell", "shaker", "click")
    tempo = float(rng.uniform(80, 150))
    step = 60.0 / tempo / 4
    out = np.zeros(int(seconds * sr) + 2 * sr, np.float32)
    for i in range(int(seconds / step)):
        hits = []
        if i % 8 == 0 or (i % 8 == 6 and rng.uniform() < 0.3):
            hits.append(kick)
        if i % 8 == 4 or rng.uniform() < 0.05:
            hits.append(snare)
        if i % 2 == 0 or rng.uniform() < 0.2:
            hits.append(hat)
        if rng.uniform() < 0.08:
            hits.append(extra)
        s = int(i * step * sr)
        for h in hits:
            n = min(len(h), len(out) - s)
            out[s : s + n] += float(rng.uniform(0.4, 1.0)) * h[:n]
    y = out[: int(seconds * sr)]
    peak = float(np.abs(y).max())
    return (y * (0.7 / peak) if peak > 0 else y).astype(np.float32)


def drum_clips(kits: dict[str, list[Path]], sr: int, seed: int) -> Iterable[tuple[str, np.ndarray, dict]]:
    names = {split: [k for k in kits if KIT_SPLITS.get(k, "train") == split] for split in ("train", "val", "test")}
    for split, count in COUNTS["drums"].items():
        loaded = {}
        for kit in names[split]:
            samples = [
                (x, bw, p.name)
                for p in kits[kit]
                if (w := _load_measured(p, sr)) is not None
                for x, bw in [w]
                if bw >= MIN_BANDWIDTH_HZ
            ]
            if len(samples) >= 3:
                loaded[kit] = samples
        kit_names = sorted(loaded)
        for i in range(count if kit_names else 0):
            rng = np.random.default_rng([seed, 7, ("train", "val", "test").index(split), i])
            kit = kit_names[i % len(kit_names)]
            y = drum_loop(loaded[kit], sr, MUSIC_SECONDS, rng)
            bw = min(measure_bandwidth(y, sr), sr / 2)
            yield (
                f"drums-{split}-{i:04d}",
                y,
                {
                    "split": split,
                    "speaker": "",
                    "caption": f"a drum loop on the {kit} kit",
                    "source": "hydrogen-drumkits",
                    "params": {"kit": kit, "bandwidth_hz": round(bw, 1)},
                },
            )


def instrument_clips(soundfont: Path, sr: int, seed: int) -> Iterable[tuple[str, np.ndarray, dict]]:
    from tsrlib.data import music

    for split, count in COUNTS["instruments"].items():
        allowed = [n for n in music.INSTRUMENTS if INSTRUMENT_SPLITS.get(n, "train") == split]
        for i in range(count):
            rng = np.random.default_rng([seed, 11, ("train", "val", "test").index(split), i])
            piece = music.draw_piece(int(rng.integers(2**31)), instruments=allowed)
            y = music.render(piece, sr, MUSIC_SECONDS, sf2=str(soundfont))
            bw = min(measure_bandwidth(y, sr), sr / 2)
            if bw < (MIN_BANDWIDTH_HZ if split == "train" else 0.0):
                continue
            yield (
                f"instrument-{split}-{i:04d}",
                y,
                {
                    "split": split,
                    "speaker": "",
                    "caption": piece.caption,
                    "source": "fluid-soundfont-gm",
                    "params": {"instrument": piece.instrument, "bandwidth_hz": round(bw, 1)},
                },
            )


def sfx_clips(sources: list[Source], sr: int) -> Iterable[tuple[str, np.ndarray, dict]]:
    for s in sources:
        r = _read(s.path)
        if r is None or len(r[0]) > 20 * r[1]:  # long files are the games' music, not effects
            continue
        x, file_sr = r
        bw = min(measure_bandwidth(x, file_sr), sr / 2)
        if bw < (MIN_TEST_BANDWIDTH_HZ if s.split != "train" else MIN_BANDWIDTH_HZ):
            continue
        y = tsa.resample(x, file_sr, sr)[: int(SFX_SECONDS * sr)]
        yield (
            f"sfx-{s.package}-{s.path.stem}",
            y,
            {
                "split": s.split,
                "speaker": "",
                "caption": s.path.stem.replace("-", " ").replace("_", " "),
                "source": s.package,
                "params": {"file": s.path.name, "bandwidth_hz": round(bw, 1)},
            },
        )


def clips(
    sr: int = tsa.MODEL_SR,
    seed: int = 0,
    domains: tuple[str, ...] = ("speech", "music", "sfx"),
    cache: str | Path | None = None,
) -> Iterable[tuple[str, str, np.ndarray, dict]]:
    """Every real clip as ``(id, domain, audio [T] at sr, fields)``; fetches the packages it needs first."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stereo mix-downs and the like: every file is measured anyway
        if "speech" in domains:
            for cid, y, f in speech_clips(speech_sources(package_root("ktuberling-data", cache)), sr, seed):
                yield cid, "speech", y, f
        if "music" in domains:
            sf2 = package_root("fluid-soundfont-gm", cache) / "usr/share/sounds/sf2/FluidR3_GM.sf2"
            for cid, y, f in instrument_clips(sf2, sr, seed):
                yield cid, "music", y, f
            for cid, y, f in drum_clips(kit_sources(package_root("hydrogen-drumkits", cache)), sr, seed):
                yield cid, "music", y, f
        if "sfx" in domains:
            roots = {p: package_root(p, cache) for p in SFX_SPLITS}
            for cid, y, f in sfx_clips(sfx_sources(roots), sr):
                yield cid, "sfx", y, f


def bandwidth_of(params: str | dict, default: float) -> float:
    """The ``bandwidth_hz`` a manifest row's ``params`` records, else ``default`` (synthetic clips: the Nyquist)."""
    p = json.loads(params) if isinstance(params, str) and params else (params or {})
    return float(p.get("bandwidth_hz", default))
