"""Procedural sound effects with captions, in distinct categories.

Each category is a small physical-ish recipe driven by a seeded ``numpy`` generator: modal
resonators for impacts and bells, Poisson-timed grains for rain, crackle and applause, chirped
sinusoids for bubbles, modulated filtered noise for wind, a pulse train through formant filters
for engines. All of them carry energy far above 8 kHz, so the band a super-resolution model must
restore is not empty. Audio is float32 ``[T]`` at the requested rate.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal

from tsrlib.errors import ConfigError

CATEGORIES: tuple[str, ...] = (
    "impact",
    "bell",
    "rain",
    "engine",
    "clock",
    "bubbles",
    "wind",
    "crackle",
    "applause",
    "footsteps",
)


def _modes(rng, sr, n, freqs, decays, amps) -> np.ndarray:
    t = np.arange(n) / sr
    out = np.zeros(n)
    for f, d, a in zip(freqs, decays, amps):
        if f < sr / 2 * 0.95:
            out += a * np.exp(-t / d) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def _band_noise(rng, sr, n, lo, hi, order=4) -> np.ndarray:
    hi = min(hi, 0.45 * sr)
    sos = signal.butter(order, [lo, hi], btype="band", fs=sr, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def _grains(rng, sr, n, rate, make: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    out = np.zeros(n + sr)
    t = 0.0
    while True:
        t += rng.exponential(1 / rate)
        i = int(t * sr)
        if i >= n:
            break
        g = make(rng)
        out[i : i + len(g)] += g
    return out[:n]


def impact(rng, sr, n):
    mat = str(rng.choice(["wooden", "metal", "glass"]))
    base = {"wooden": 180, "metal": 420, "glass": 900}[mat] * rng.uniform(0.8, 1.25)
    ratios = {"wooden": [1, 2.3, 3.9, 6.1], "metal": [1, 2.76, 5.4, 8.9, 13.3], "glass": [1, 2.1, 3.4, 5.2, 7.7]}[mat]
    decay = {"wooden": 0.04, "metal": 0.6, "glass": 0.35}[mat]
    hits = int(rng.integers(1, 4))
    out = np.zeros(n)
    for h in range(hits):
        i = int(0.1 * sr + h * (n - 0.2 * sr) / hits)  # hits spread evenly over the clip
        m = n - i
        click = _band_noise(rng, sr, m, 2000, 11500) * np.exp(-np.arange(m) / (0.004 * sr))
        out[i:] += 0.8 * click + _modes(
            rng,
            sr,
            m,
            [base * r for r in ratios],
            [decay / (1 + 0.3 * k) for k in range(len(ratios))],
            [1 / (1 + k) for k in range(len(ratios))],
        )
    return out, f"{hits} {'knock' if mat == 'wooden' else 'strike'}{'s' if hits > 1 else ''} on a {mat} object"


def bell(rng, sr, n):
    f0 = rng.uniform(350, 1400)
    ratios = [0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011, 4.166, 5.433, 6.796]
    out = _modes(
        rng,
        sr,
        n,
        [f0 * r for r in ratios],
        [1.2 / (1 + 0.25 * k) for k in range(len(ratios))],
        [rng.uniform(0.3, 1.0) for _ in ratios],
    )
    strike = _band_noise(rng, sr, n, 3000, 11500) * np.exp(-np.arange(n) / (0.01 * sr))  # the clapper's broadband clang
    out = out + 0.6 * strike * np.max(np.abs(out)) / max(np.max(np.abs(strike)), 1e-9)
    size = "small" if f0 > 900 else "large"
    return out, f"a {size} bell struck once and ringing out"


def rain(rng, sr, n):
    heavy = rng.uniform() < 0.5

    def drop(r):
        return (
            _band_noise(r, sr, int(0.01 * sr), r.uniform(1500, 4000), 11500)
            * np.exp(-np.arange(int(0.01 * sr)) / (0.0015 * sr))
            * r.uniform(0.2, 1)
        )

    out = _grains(rng, sr, n, 400 if heavy else 60, drop) + 0.05 * _band_noise(rng, sr, n, 500, 11000)
    return out, f"{'heavy' if heavy else 'light'} rain falling on a hard surface"


def engine(rng, sr, n):
    rpm_hz = rng.uniform(18, 55)
    t = np.arange(n) / sr
    phase = 2 * np.pi * np.cumsum(rpm_hz * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))) / sr
    pulses = (np.sin(phase) > 0.95).astype(float) + 0.3 * _band_noise(rng, sr, n, 100, 11000)
    out = sum(
        signal.sosfilt(signal.butter(2, [f * 0.8, f * 1.2], btype="band", fs=sr, output="sos"), pulses)
        for f in (120, 450, 1800, 5200)
    )
    return out, f"an engine idling at {'low' if rpm_hz < 35 else 'high'} revs"


def clock(rng, sr, n):
    period = rng.uniform(0.4, 0.9)
    out = np.zeros(n)
    for k, i in enumerate(range(int(0.1 * sr), n, int(period * sr))):
        m = min(int(0.08 * sr), n - i)
        f = 2500 if k % 2 else 3100
        out[i : i + m] += _modes(rng, sr, m, [f, f * 2.3, f * 3.7], [0.01, 0.006, 0.004], [1, 0.6, 0.4])
    return out, "a mechanical clock ticking"


def bubbles(rng, sr, n):
    def bubble(r):
        m = int(r.uniform(0.02, 0.06) * sr)
        t = np.arange(m) / sr
        f = r.uniform(400, 3500) * (1 + 4 * t)
        return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / (m / sr / 4)) * r.uniform(0.3, 1)

    return _grains(rng, sr, n, rng.uniform(8, 30), bubble) + 0.02 * _band_noise(
        rng, sr, n, 200, 11000
    ), "water bubbling and gurgling"


def wind(rng, sr, n):
    t = np.arange(n) / sr
    mod = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.15, 0.5) * t + rng.uniform(0, 6))
    out = mod * _band_noise(rng, sr, n, 150, 11000, order=2) + 0.5 * mod**2 * _band_noise(
        rng, sr, n, rng.uniform(600, 1500), 2500
    )
    return out, "wind gusting through trees"


def crackle(rng, sr, n):
    pop = lambda r: _band_noise(r, sr, int(0.005 * sr), 1000, 11500) * r.uniform(0.1, 1.0) ** 2  # noqa: E731
    return _grains(rng, sr, n, rng.uniform(20, 80), pop) + 0.03 * _band_noise(
        rng, sr, n, 2000, 11500
    ), "a wood fire crackling"


def applause(rng, sr, n):
    def clap(r):
        m = int(0.02 * sr)
        f = r.uniform(900, 2500)
        return _band_noise(r, sr, m, f, min(4 * f, 11500)) * np.exp(-np.arange(m) / (0.004 * sr))

    crowd = int(rng.integers(5, 40))
    return _grains(rng, sr, n, crowd * 4, clap), f"{'a small group' if crowd < 15 else 'a crowd'} applauding"


def footsteps(rng, sr, n):
    step = rng.uniform(0.45, 0.7)
    out = np.zeros(n)
    for i in range(int(0.1 * sr), n, int(step * sr)):
        m = min(int(0.15 * sr), n - i)
        grit = _grains(rng, sr, m, 900, lambda r: r.standard_normal(int(0.002 * sr)) * r.uniform(0, 1))
        thud = _modes(rng, sr, m, [90, 210], [0.03, 0.02], [1, 0.5])
        out[i : i + m] += 0.6 * grit * np.exp(-np.arange(m) / (0.05 * sr)) + thud
    return out, "footsteps on gravel"


_RECIPES: dict[str, Callable] = {c: globals()[c] for c in CATEGORIES}


def generate(category: str, seed: int, sr: int, seconds: float = 3.0) -> tuple[np.ndarray, str]:
    """One sound of ``category``: ``(audio [T] float32 at sr Hz peaking at 0.7, caption)``. Deterministic in ``seed``."""
    if category not in _RECIPES:
        raise ConfigError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    x, caption = _RECIPES[category](rng, sr, n)
    x = np.asarray(x, dtype=np.float64)[:n]
    x -= x.mean()
    fade = int(0.02 * sr)
    x[:fade] *= np.linspace(0, 1, fade)
    x[-fade:] *= np.linspace(1, 0, fade)
    peak = float(np.max(np.abs(x)))
    return (x * (0.7 / peak)).astype(np.float32), caption
