"""Score super-resolution methods on clips with the oracle metrics (LSD, LSD-HF, LSD-LF).

One function, :func:`compare_methods`, runs every method the book compares on one clip and returns
long-format rows, so chapters only aggregate and plot. Methods:

* ``input``: the band-limited input itself;
* ``noise fill (oracle)``: input plus high-passed noise at the LSD-optimal level (uses the reference);
* ``band replication`` and ``sbr``: the blind DSP baselines (:mod:`tsrlib.models.baselines`), the bars on real audio;
* ``regression``: the deterministic baseline (one output);
* ``diffusion``: each of ``n`` candidates (rows carry the candidate index);
* ``best of n (oracle)``: the candidate with the lowest LSD, the ceiling of any search with n samples.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tsrlib import audio as tsa
from tsrlib import metrics, sampler
from tsrlib.models import baselines


def band_level_db(x: np.ndarray, sr: int, lo_hz: float) -> float:
    """Mean log-level (dB) of ``x [T]`` over the Welch bins at or above ``lo_hz``.

    The average is taken over the dB values, as LSD compares spectra: a band that is loud only near
    its lower edge and empty above scores low, where a linear power average would hide the empty part.
    """
    f, db = tsa.mean_power_db(x, sr)
    return float(np.mean(db[f >= lo_hz]))


def oracle_scores(ref: np.ndarray, est: np.ndarray, sr: int, cutoff_hz: float) -> dict[str, np.ndarray]:
    """LSD, LSD-HF and LSD-LF of each row of ``est [N, T]`` against ``ref [T]``; arrays of shape ``[N]``."""
    return {
        "LSD": metrics.lsd(ref, est),
        "LSD-HF": metrics.lsd_hf(ref, est, sr, cutoff_hz),
        "LSD-LF": metrics.lsd_lf(ref, est, sr, cutoff_hz),
    }


def compare_methods(
    model,
    regression,
    ref: np.ndarray,
    sr: int,
    cutoff_hz: float,
    *,
    n: int = 16,
    seed: int = 0,
    steps: int = 25,
    eta: float = 0.0,
    filter: str = "cheby1",
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Degrade ``ref [T]`` at ``cutoff_hz``, run every method, and score it.

    Returns ``(rows, audio)``: a DataFrame with columns method, candidate, LSD, LSD-HF, LSD-LF, nfe, and
    the audio of each method (``diffusion`` as ``[n, T]``), all at ``sr`` (the model rate).
    """
    if sr != model.sr:
        raise ValueError(f"reference must be at the model rate {model.sr} Hz, got {sr}")
    lr = tsa.degrade(ref, sr, cutoff_hz, filter)
    cond = model.condition(lr, sr, cutoff_hz)
    cands = sampler.generate(model, cond, seed, range(n), steps=steps, eta=eta)
    dsp = {name.replace("-", " "): f(lr, sr, cutoff_hz, seed=seed)[None] for name, f in baselines.METHODS.items()}
    out = {
        "input": lr[None],
        "noise fill (oracle)": baselines.oracle_noise_fill(lr, ref, sr, cutoff_hz, seed)[0][None],
        **dsp,
        "diffusion": cands.audio,
    }
    nfe = {"input": 0, "noise fill (oracle)": 0, **dict.fromkeys(dsp, 0), "diffusion": cands.nfe // n}
    if regression is not None:
        reg = sampler.generate(regression, regression.condition(lr, sr, cutoff_hz), seed, [0])
        out["regression"], nfe["regression"] = reg.audio, reg.nfe
    rows = []
    for method, audio in out.items():
        s = oracle_scores(ref, audio, sr, cutoff_hz)
        for k in range(len(audio)):
            rows.append(
                {"method": method, "candidate": k, **{m: float(v[k]) for m, v in s.items()}, "nfe": nfe[method]}
            )
    df = pd.DataFrame(rows)
    best = df[df.method == "diffusion"].nsmallest(1, "LSD").iloc[0]
    rows.append({**best.to_dict(), "method": f"best of {n} (oracle)", "nfe": cands.nfe})
    out[f"best of {n} (oracle)"] = cands.audio[int(best.candidate)][None]
    return pd.DataFrame(rows), out
