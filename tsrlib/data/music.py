"""Short music pieces with text captions: generated MIDI rendered by FluidSynth with a sampled-instrument SoundFont.

Every piece is drawn from a seed: instrument (General MIDI program), tempo, key, mode and a
texture (arpeggio, block chords, melody over bass, waltz, ostinato). The MIDI is written with
``mido`` and rendered offline by the ``fluidsynth`` program (Debian) with the General MIDI
SoundFont ``TimGM6mb.sf2`` (Debian ``timgm6mb-soundfont``), at 48 kHz, then resampled.
The caption states what a listener would hear: "a slow arpeggio on a nylon guitar in A minor, 72 BPM".
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tsrlib.audio import resample
from tsrlib.errors import TsrError

SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2")

INSTRUMENTS: dict[str, int] = {  # name -> General MIDI program (0-based)
    "acoustic piano": 0,
    "electric piano": 4,
    "harpsichord": 6,
    "music box": 10,
    "vibraphone": 11,
    "marimba": 12,
    "church organ": 19,
    "accordion": 21,
    "nylon guitar": 24,
    "steel guitar": 25,
    "violin": 40,
    "cello": 42,
    "string ensemble": 48,
    "trumpet": 56,
    "alto sax": 65,
    "clarinet": 71,
    "flute": 73,
    "pan flute": 75,
}
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TEXTURES = ("arpeggio", "block-chord progression", "melody over a bass line", "waltz", "ostinato")
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class Piece:
    """A generated piece: everything the MIDI and the caption are made from."""

    instrument: str
    tempo: int  # beats per minute
    key: str
    mode: str  # "major" | "minor"
    texture: str
    seed: int

    @property
    def caption(self) -> str:
        pace = "slow" if self.tempo < 90 else "lively" if self.tempo > 125 else "moderate"
        art = "an" if self.instrument[0] in "aeiou" else "a"
        return f"a {pace} {self.texture} on {art} {self.instrument} in {self.key} {self.mode}, {self.tempo} BPM"


def draw_piece(seed: int, instruments: list[str] | None = None) -> Piece:
    """The piece for ``seed`` (``numpy.random.default_rng(seed)``), its instrument drawn from ``instruments`` (default all)."""
    rng = np.random.default_rng(seed)
    return Piece(
        instrument=str(rng.choice(list(instruments or INSTRUMENTS))),
        tempo=int(rng.integers(64, 150)),
        key=str(rng.choice(KEYS)),
        mode=str(rng.choice(["major", "minor"])),
        texture=str(rng.choice(TEXTURES)),
        seed=seed,
    )


def _notes(p: Piece, seconds: float) -> list[tuple[float, float, int, int]]:
    """(start beat, length in beats, midi pitch, velocity) for the piece, covering ``seconds``."""
    rng = np.random.default_rng((p.seed, 1))
    scale = _MAJOR if p.mode == "major" else _MINOR
    root = 48 + KEYS.index(p.key)
    beats = int(np.ceil(seconds * p.tempo / 60)) + 1
    degrees = [0, 5, 3, 4] if p.mode == "major" else [0, 5, 2, 4]  # I-vi-IV-V / i-VI-iv-v

    def pitch(deg: int, octave: int = 0) -> int:
        return root + 12 * (octave + deg // 7) + scale[deg % 7]

    out: list[tuple[float, float, int, int]] = []
    for bar in range(beats // 4 + 1):
        d = degrees[bar % 4]
        chord = [pitch(d), pitch(d + 2), pitch(d + 4)]
        t0 = 4.0 * bar
        vel = lambda: int(rng.integers(70, 105))  # noqa: E731
        if p.texture == "arpeggio":
            for i in range(8):
                out.append((t0 + 0.5 * i, 0.6, chord[i % 3] + 12 * (i // 3 % 2), vel()))
        elif p.texture == "block-chord progression":
            for b in range(0, 4, 2):
                out += [(t0 + b, 1.9, n + 12, vel()) for n in chord]
        elif p.texture == "waltz":
            out.append((t0, 1.0, chord[0], vel()))
            for b in (1, 2, 3):
                out += [(t0 + b, 0.8, n + 12, vel() - 15) for n in chord[1:]]
        elif p.texture == "ostinato":
            for i in range(16):
                out.append((t0 + 0.25 * i, 0.25, chord[(0, 2, 1, 2)[i % 4]] + 12, vel()))
        else:  # melody over a bass line
            out.append((t0, 3.9, chord[0] - 12, vel()))
            t = 0.0
            while t < 4:
                dur = float(rng.choice([0.5, 1.0, 1.0, 1.5]))
                out.append((t0 + t, min(dur, 4 - t), pitch(d + int(rng.integers(0, 8)), 1), vel()))
                t += dur
    return [n for n in out if n[0] * 60 / p.tempo < seconds]


def write_midi(p: Piece, seconds: float, path: Path) -> None:
    """Write the piece as a one-track MIDI file (480 ticks per beat)."""
    import mido

    tpb = 480
    mid = mido.MidiFile(ticks_per_beat=tpb)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(p.tempo)))
    track.append(mido.Message("program_change", program=INSTRUMENTS[p.instrument], channel=0))
    events = []
    for start, length, note, vel in _notes(p, seconds):
        events.append((int(start * tpb), 1, mido.Message("note_on", note=note, velocity=max(1, min(vel, 127)))))
        events.append((int((start + length) * tpb), 0, mido.Message("note_off", note=note, velocity=0)))
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1], e[2].note)):
        track.append(msg.copy(time=tick - now))
        now = tick
    mid.save(str(path))


def soundfont() -> str:
    for sf2 in SOUNDFONTS:
        if Path(sf2).is_file():
            return sf2
    raise TsrError(
        "no General MIDI SoundFont found: run `apt-get install timgm6mb-soundfont` (make book/test does it as root)"
    )


def render(p: Piece, sr: int, seconds: float = 4.0, sf2: str | None = None) -> np.ndarray:
    """Render ``p`` with FluidSynth to ``seconds`` of mono float32 audio ``[T]`` at ``sr`` Hz.

    ``sf2``: a SoundFont file (default: the first of :data:`SOUNDFONTS` installed).
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise TsrError("fluidsynth is not installed: run `apt-get install fluidsynth` (make book/test does it as root)")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp, "p.mid"), Path(tmp, "p.wav")
        write_midi(p, seconds, mid)
        subprocess.run(
            [
                exe,
                "-ni",
                "-q",
                "-g",
                "0.5",
                "-r",
                "48000",
                "-o",
                "synth.chorus.active=0",
                "-o",
                "synth.reverb.active=1",
                "-F",
                str(wav),
                "-T",
                "wav",
                sf2 or soundfont(),
                str(mid),
            ],
            capture_output=True,
            check=True,
        )
        x, native = sf.read(str(wav), dtype="float32", always_2d=True)
    x = resample(x.mean(axis=1), int(native), sr)
    n = int(seconds * sr)
    x = np.pad(x, (0, max(0, n - len(x))))[:n]
    fade = int(0.05 * sr)
    x[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    peak = float(np.max(np.abs(x)))
    return (x * (0.7 / peak) if peak > 0 else x).astype(np.float32)
