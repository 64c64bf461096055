"""Figures, audio players and widgets for the chapters. Chapters call these; they hold no plotting code.

Everything here works on the static site: ``IPython.display.Audio`` embeds a data-URI ``<audio>``
element, and :func:`cutoff_explorer` links a slider to pre-rendered views in the browser
(``jslink``), so it needs no running kernel.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import soundfile as sf

from tsrlib import audio, metrics

DISPLAY_N_FFT = 1024
DISPLAY_HOP = 256


def setup() -> None:
    """The book's plotting style (seaborn ``whitegrid``, readable sizes)."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 90, "savefig.bbox": "tight"})


def player(x: np.ndarray, sr: int):
    """An ``<audio>`` player for ``x [T]`` at ``sr`` Hz, at its true level (no per-clip normalisation)."""
    from IPython.display import Audio

    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return Audio(np.asarray(x, dtype=np.float32) / max(1.0, peak), rate=sr, normalize=False)


def players(signals: dict[str, np.ndarray], sr: int):
    """A row of labelled players, one per entry of ``signals`` (label -> audio ``[T]``), as HTML."""
    from IPython.display import HTML

    cells = "".join(
        f"<div style='display:inline-block;margin:0 1em 0.5em 0'><div><b>{k}</b></div>{player(v, sr)._repr_html_()}</div>"
        for k, v in signals.items()
    )
    return HTML(f"<div>{cells}</div>")


def spectrogram(
    ax, x: np.ndarray, sr: int, title: str = "", *, vmin: float = -100.0, cutoff_hz: float | None = None
) -> None:
    """Draw the dB spectrogram of ``x [T]`` on ``ax`` (time in s, frequency in kHz); mark ``cutoff_hz`` if given."""
    lp = 10 * metrics.log_power(x, n_fft=DISPLAY_N_FFT, hop=DISPLAY_HOP)[0].numpy()  # dB
    lp = lp - lp.max()
    ax.imshow(lp, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=0, extent=(0, len(x) / sr, 0, sr / 2000))
    if cutoff_hz is not None:
        ax.axhline(cutoff_hz / 1000, color="w", ls="--", lw=1)
    ax.set(title=title, xlabel="time (s)", ylabel="frequency (kHz)")
    ax.grid(False)


def spectrogram_grid(
    signals: dict[str, np.ndarray],
    sr: int,
    *,
    ncols: int = 4,
    cutoffs: dict[str, float] | None = None,
    height: float = 2.6,
    suptitle: str = "",
):
    """One figure with a spectrogram per entry of ``signals`` (label -> audio ``[T]``), ``ncols`` per row."""
    ncols = min(ncols, len(signals))
    nrows = -(-len(signals) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, height * nrows), sharey=True, squeeze=False)
    for ax, (k, v) in zip(axes.flat, signals.items()):
        spectrogram(ax, v, sr, k, cutoff_hz=(cutoffs or {}).get(k))
    for i, ax in enumerate(axes.flat):
        if i >= len(signals):
            ax.set_visible(False)
        elif i % ncols:
            ax.set_ylabel("")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def spectrogram_row(signals: dict[str, np.ndarray], sr: int, **kw):
    """:func:`spectrogram_grid` with every entry side by side in one row."""
    return spectrogram_grid(signals, sr, ncols=len(signals), **kw)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _wav(x: np.ndarray, sr: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1), sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def cutoff_explorer(x: np.ndarray, sr: int, cutoffs: list[float], filter: str = "cheby1"):
    """A widget: a slider over ``cutoffs`` (Hz) showing the band-limited spectrogram, a player and its LSD.

    Every view is rendered in Python beforehand and the slider is linked to them in the browser,
    so the widget keeps working on the static site without a kernel.
    """
    import ipywidgets as w

    views = []
    for c in cutoffs:
        y = audio.degrade(x, sr, c, filter)
        fig = spectrogram_row(
            {"original": x, f"band-limited at {c / 1000:g} kHz": y},
            sr,
            cutoffs={f"band-limited at {c / 1000:g} kHz": c},
        )
        views.append(
            w.VBox(
                [
                    w.Image(value=_png(fig), format="png", layout=w.Layout(max_width="100%")),
                    w.Audio(value=_wav(y, sr), format="wav", autoplay=False, loop=False),
                    w.HTML(
                        f"LSD against the original: <b>{metrics.lsd(x, y)[0]:.2f}</b>; "
                        f"LSD-HF: <b>{metrics.lsd_hf(x, y, sr, c)[0]:.2f}</b>; LSD-LF: <b>{metrics.lsd_lf(x, y, sr, c)[0]:.2f}</b>"
                    ),
                ]
            )
        )
    slider = w.SelectionSlider(
        options=[(f"{c / 1000:g} kHz", i) for i, c in enumerate(cutoffs)],
        value=0,
        description="cutoff",
        continuous_update=True,
        layout=w.Layout(width="60%"),
    )
    stack = w.Stack(views, selected_index=0)
    w.jslink((slider, "index"), (stack, "selected_index"))
    return w.VBox([slider, stack])
