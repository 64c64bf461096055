"""Words for the book's prose: every sentence whose truth depends on a measurement is glued from one of these.

A glued value is a number or words, never ``nan``: where a statistic is undefined (one clip, flat scores) the
helpers say so.
"""

from __future__ import annotations

import numpy as np


def verdict(
    low: float,
    high: float | None = None,
    *,
    below: str = "better than",
    above: str = "worse than",
    between: str = "not distinguishable from",
) -> str:
    """Words for a difference where **lower is better** (ΔLSD): an interval ``(low, high)`` wholly below zero gives
    ``below``, wholly above zero ``above``, and one that holds zero (or is undefined) ``between``. A single number
    (``high`` omitted) is an interval of width zero, so ``verdict(a - b, below="beats", above="does not beat",
    between="does not beat")`` reads ``a < b``."""
    high = low if high is None else high
    if not (np.isfinite(low) and np.isfinite(high)):
        return between
    if high < 0:
        return below
    if low > 0:
        return above
    return between


def number_text(x: float, spec: str = "+.2f", missing: str = "undefined") -> str:
    """``format(x, spec)``, or ``missing`` when ``x`` is NaN or infinite (a glued number is never "nan")."""
    return format(float(x), spec) if np.isfinite(x) else missing


def ci_text(low: float, high: float, n: int, *, spec: str = "+.3f", level: float = 0.95, unit: str = "clip") -> str:
    """``"95 % CI -0.120 to +0.040"``, or, where ``n`` paired observations give no interval, words that say so."""
    if np.isfinite(low) and np.isfinite(high):
        return f"{100 * level:g} % CI {format(low, spec)} to {format(high, spec)}"
    return f"no confidence interval from {n} {unit}{'' if n == 1 else 's'}"


def claim_text(
    found: dict[str, str], said: dict[str, str], claim: str, *, unsure: str = "not distinguishable from"
) -> str:
    """Whether measured verdicts (``found``, :func:`verdict` words by case) bear out a ``claim`` that predicted
    ``said``: "reproduces" when every case matches, "contradicts" when any case is a verdict the other way, and
    otherwise words saying the data can neither confirm nor reject it."""
    if found == said:
        return f"this run reproduces {claim}"
    if any(v not in (said[k], unsure) for k, v in found.items()):
        return f"this run contradicts {claim}"
    return f"{claim} is a hypothesis this run can neither confirm nor reject"
