"""English sentences with known transcripts for the synthetic speech corpus.

A fixed list of hand-written sentences comes first; past its end, a small seeded grammar makes
as many more as a size needs. Every sentence uses common words that an ASR model knows, so that
WER measures the audio and not the vocabulary. Transcripts are lower-case without punctuation,
the form ``jiwer`` compares.
"""

from __future__ import annotations

import re

import numpy as np

HANDWRITTEN: tuple[str, ...] = (
    "The old ferry crossed the river before the morning fog lifted.",
    "Please bring three green apples and a loaf of bread.",
    "A sudden wind scattered the papers across the kitchen floor.",
    "We counted seven boats waiting near the harbour wall.",
    "The teacher wrote a long list of questions on the board.",
    "My brother fixed the broken lamp with a piece of wire.",
    "Cold rain kept the children inside for most of the day.",
    "She found a silver key under the loose stone by the gate.",
    "The baker opens his shop at six every morning.",
    "Turn left at the church and walk to the end of the road.",
    "The museum closes early on the first day of the month.",
    "A small dog chased the ball across the wet grass.",
    "He paid for the tickets with a handful of coins.",
    "The train to the coast was twenty minutes late.",
    "Fresh paint covered the wooden fence behind the barn.",
    "Our neighbours planted tall sunflowers along the path.",
    "The doctor asked him to breathe slowly and stay calm.",
    "Heavy snow closed the mountain pass for a week.",
    "They sang an old song while the fire burned low.",
    "The library lends books, maps and music for free.",
    "Keep the window open so the room can cool down.",
    "A yellow kite climbed high above the sandy beach.",
    "The farmer sold eggs and honey at the Sunday market.",
    "Nobody heard the phone ring during the loud storm.",
    "Write your name at the top of every page.",
    "The bridge was built of stone more than two hundred years ago.",
    "We waited for the bus under a narrow red roof.",
    "The pilot told us to fasten our seat belts.",
    "Bright lights flashed along the edge of the runway.",
    "The soup tastes better with a little salt and pepper.",
    "Four students stayed late to finish the science project.",
    "The clock on the tower stopped at half past nine.",
    "Her garden was full of roses, mint and tomatoes.",
    "The quiet street woke up when the market opened.",
    "He carried the heavy box up to the third floor.",
    "Thick clouds rolled in from the sea at noon.",
    "The band played until the last guests went home.",
    "Put the milk back in the fridge after breakfast.",
    "A gentle voice read the story to the sleeping child.",
    "The factory whistle blew at the end of each shift.",
    "We need more chairs for the meeting tomorrow.",
    "The river flooded the fields after three days of rain.",
    "His new shoes squeaked on the polished floor.",
    "The map showed a hidden lake behind the hills.",
    "Dinner will be ready when the bell rings twice.",
    "The painter mixed blue and white to make the sky.",
    "A long queue formed outside the cinema on Friday.",
    "The nurse checked the chart and smiled at the patient.",
)

_SUBJECTS = (
    "the old man",
    "a young girl",
    "the small boy",
    "my sister",
    "the driver",
    "our teacher",
    "the farmer",
    "a tired worker",
    "the captain",
    "his mother",
    "the little cat",
    "a tall soldier",
    "the singer",
    "her uncle",
)
_VERBS = (
    "carried",
    "painted",
    "found",
    "opened",
    "cleaned",
    "watched",
    "moved",
    "dropped",
    "sold",
    "bought",
    "lifted",
    "pushed",
    "counted",
    "followed",
    "mended",
    "hid",
)
_OBJECTS = (
    "the heavy box",
    "a red basket",
    "the wooden chair",
    "three letters",
    "the broken gate",
    "a bag of rice",
    "the blue door",
    "two empty bottles",
    "the silver ring",
    "a warm blanket",
    "the paper boat",
    "five stones",
)
_PLACES = (
    "near the river",
    "in the garden",
    "before dinner",
    "after the storm",
    "behind the school",
    "at the station",
    "under the bridge",
    "on the top shelf",
    "during the night",
    "by the window",
    "in the market",
    "on the hill",
)


def normalize_transcript(text: str) -> str:
    """Lower-case, strip punctuation, collapse spaces: the form WER is computed on."""
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9' ]+", " ", text.lower())).strip()


def sentences(n: int, offset: int = 0, seed: int = 0) -> list[str]:
    """``n`` sentences starting at index ``offset`` of the infinite deterministic sentence stream.

    Indices below ``len(HANDWRITTEN)`` are hand-written sentences; later ones come from a template
    grammar, drawn with ``numpy.random.default_rng((seed, index))``, so any index is reproducible alone.
    Disjoint index ranges give disjoint sentence sets for train/val/test.
    """
    out = []
    for i in range(offset, offset + n):
        if i < len(HANDWRITTEN):
            out.append(HANDWRITTEN[i])
            continue
        rng = np.random.default_rng((seed, i))
        s, v, o, p = (str(rng.choice(words)) for words in (_SUBJECTS, _VERBS, _OBJECTS, _PLACES))
        out.append(f"{s[0].upper()}{s[1:]} {v} {o} {p}.")
    return out
