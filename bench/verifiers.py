"""Benchmark: WER (Whisper) and DNSMOS cost per second of audio, before and after batching and short windows,
and how far their scores move.

    .venv/bin/python bench/verifiers.py [--corpus data/generated/small] [--clips 8] [--n 4]

For every speech clip of the corpus (all splits: the verifiers never trained on them) it scores the clean clip,
its 4 and 8 kHz band-limited inputs and ``--n`` candidates of the shipped model at each cutoff, each way below:

* **before**: faster-whisper's ``transcribe`` per clip (every clip padded to Whisper's 30 s window), and speechmos's
  DNSMOS called per clip, as the verifier did before (a short clip doubled until it is 9.01 s long, then every
  9.01 s window of the result scored, one ONNX run per window);
* **batched only** (DNSMOS): ``DNSMOS(as_speechmos=True)``, speechmos's windows with every candidate's windows in
  batched ONNX runs: what batching alone buys, with scores identical to before;
* **after**: ``WhisperASR.transcribe_batch`` (one batch, a window of whole seconds just longer than the clip) and
  ``DNSMOS`` (the clip tiled to one 9.01 s window, every window of every candidate in batched ONNX runs);
* **clip length** (DNSMOS): ``DNSMOS(clip_length=True)``, the ``dnsmos-clip`` verifier: SIG/BAK/OVRL's network run
  at the clip's own length (at least 1 s), so a 3 s clip pays for 3 s, not 9.01 s.

It also splits ``dnsmos``'s own time into its parts (the P.808 mel features, the SIG/BAK/OVRL network, the P.808
network), which says what is left to gain without changing the scores.

It prints seconds of verifier time per second of audio and their ratio, measured in this one run, and what changed:
transcripts that differ, WER against the true transcript, DNSMOS OVRL differences, and the within-input Spearman
between the two ways (does the verifier still rank one input's candidates the same?). The speed target lives here,
not in a timed test.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _record import Record, add_json_option
from scipy.stats import spearmanr

from tsrlib import audio as tsa
from tsrlib import experiments, metrics, sampler
from tsrlib.models import tiny
from tsrlib.verifiers.asr import SR, WhisperASR, normalize_text, wer
from tsrlib.verifiers.quality import DNSMOS, dnsmos_model, dnsmos_windows


def speech_sets(corpus: str, n_clips: int, n: int, model_name: str) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """``(group, transcript, audio [K, T] at 16 kHz, LSD [K] in dB against the clean clip)``: per clip, the clean clip
    and each cutoff's input and candidates (a group is one input's candidates, the unit a verifier ranks)."""
    model = tiny.load(model_name)
    sets = []
    clips = []
    for split in ("test", "val", "train"):
        clips += experiments.test_clips(corpus, "speech", 0, split=split, max_seconds=4.0)
    for clip in clips[:n_clips]:
        sets.append((f"{clip.id}/clean", clip.transcript, tsa.resample(clip.audio, clip.sr, SR)[None], np.zeros(1)))
        for cutoff in (4000.0, 8000.0):
            lr = tsa.degrade(clip.audio, clip.sr, cutoff)
            cand = sampler.generate(model, model.condition(lr, model.sr, cutoff), 0, range(n)).audio
            rows = np.concatenate([lr[None], cand])
            at16 = np.stack([tsa.resample(r, clip.sr, SR) for r in rows])
            sets.append((f"{clip.id}/{cutoff:g}", clip.transcript, at16, metrics.lsd(clip.audio, rows, clip.sr)))
    return sets


def speechmos_per_clip(x: np.ndarray) -> np.ndarray:
    """DNSMOS OVRL ``[K]`` of clips ``x [K, T]`` at 16 kHz scored one at a time by speechmos's own ``DNSMOS.__call__``
    (on the same ONNX sessions as :class:`DNSMOS`): the verifier before batching and short windows."""
    model = dnsmos_model()
    return np.array([model(np.clip(r, -1, 1).astype(np.float64), SR, False)["ovrl_mos"] for r in x])


def dnsmos_parts(x: np.ndarray, batch: int = 2) -> dict[str, float]:
    """Seconds that ``dnsmos`` spends on candidates ``x [N, T]`` (16 kHz) in each of its parts: the P.808 network's
    mel features, the SIG/BAK/OVRL network, and the P.808 network (the same windows and batches as the verifier)."""
    model = dnsmos_model()
    wins = np.concatenate([dnsmos_windows(np.clip(r, -1, 1)) for r in x]).astype(np.float32)
    mels, t_mel = timed(lambda: np.stack([model.audio_melspec(audio=w[:-160]) for w in wins]).astype(np.float32))
    runs = range(0, len(wins), batch)
    _, t_net = timed(lambda: [model.onnx_sess.run(None, {"input_1": wins[i : i + batch]}) for i in runs])
    _, t_p808 = timed(lambda: [model.p808_onnx_sess.run(None, {"input_1": mels[i : i + batch]}) for i in runs])
    return {"mel features": t_mel, "SIG/BAK/OVRL network": t_net, "P.808 network": t_p808}


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/generated/tiny")
    ap.add_argument("--clips", type=int, default=8, help="speech clips (test split first, then val and train)")
    ap.add_argument("--n", type=int, default=4, help="model candidates per clip and cutoff")
    ap.add_argument("--model", default="tiny-real")
    add_json_option(ap)
    args = ap.parse_args()
    if not (Path(args.corpus) / "manifest.csv").is_file():
        raise SystemExit(f"no corpus at {args.corpus}: make it with `tsr data build --size tiny` (about a minute)")
    print(
        f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    sets = speech_sets(args.corpus, args.clips, args.n, args.model)
    seconds = sum(a.shape[0] * a.shape[1] for _, _, a, _ in sets) / SR
    print(f"{len(sets)} groups, {sum(a.shape[0] for _, _, a, _ in sets)} clips, {seconds:.0f} s of audio")

    asr = WhisperASR()
    dnsmos_model()  # load outside the timing
    asr.transcribe_batch([np.zeros(SR, np.float32)])
    rows: list[dict] = []
    t = dict.fromkeys(
        ("wer_before", "wer_after", "dnsmos_before", "dnsmos_batched", "dnsmos_after", "dnsmos_clip"), 0.0
    )
    DNSMOS(clip_length=True).evaluate(sets[0][2][:1], SR)  # build the first resized network outside the timing
    for group, transcript, x, lsd in sets:
        before, dt = timed(lambda: [asr._transcribe_long(r) for r in x])
        t["wer_before"] += dt
        after, dt = timed(lambda: asr.transcribe_batch(x))
        t["wer_after"] += dt
        d_before, dt = timed(lambda: speechmos_per_clip(x))
        t["dnsmos_before"] += dt
        d_batched, dt = timed(lambda: DNSMOS(as_speechmos=True).evaluate(x, SR)["ovrl"])
        t["dnsmos_batched"] += dt
        d_after, dt = timed(lambda: DNSMOS().evaluate(x, SR)["ovrl"])
        t["dnsmos_after"] += dt
        d_clip, dt = timed(lambda: DNSMOS(clip_length=True).evaluate(x, SR)["ovrl"])
        t["dnsmos_clip"] += dt
        for k in range(len(x)):
            rows.append(
                {
                    "group": group,
                    "lsd": lsd[k],
                    "same_text": normalize_text(before[k]) == normalize_text(after[k]),
                    "wer_before": wer(transcript, before[k]) if transcript else np.nan,  # real words: no transcript
                    "wer_after": wer(transcript, after[k]) if transcript else np.nan,
                    "ovrl_before": d_before[k],
                    "ovrl_batched": d_batched[k],
                    "ovrl_after": d_after[k],
                    "ovrl_clip": d_clip[k],
                }
            )
    df = pd.DataFrame(rows)

    rec = Record("verifiers", args.json, corpus=args.corpus, clips=args.clips, n=args.n, audio_seconds=seconds)
    print("\n## cost: seconds of verifier time per second of audio")
    for v in ("wer", "dnsmos"):
        b, a = t[f"{v}_before"] / seconds, t[f"{v}_after"] / seconds
        print(f"{v:7s} before {b:.3f}  after {a:.3f}  speed-up {b / a:.1f}x")
        rec(f"{v}: before", b, "s per s of audio")
        rec(f"{v}: after", a, "s per s of audio")
        rec(f"{v}: speed-up", b / a, "x")
    batched = t["dnsmos_batched"] / seconds
    print(
        f"dnsmos  batched only (speechmos's windows) {batched:.3f}  speed-up {t['dnsmos_before'] / t['dnsmos_batched']:.1f}x"
    )
    rec("dnsmos: batched only", batched, "s per s of audio")
    clip = t["dnsmos_clip"] / seconds
    print(
        f"dnsmos-clip (the clip's own length)       {clip:.3f}  speed-up {t['dnsmos_before'] / t['dnsmos_clip']:.1f}x"
    )
    rec("dnsmos-clip: after", clip, "s per s of audio")
    rec("dnsmos-clip: speed-up", t["dnsmos_before"] / t["dnsmos_clip"], "x")
    parts = pd.DataFrame([dnsmos_parts(x) for _, _, x, _ in sets]).sum()
    print("dnsmos: where its time goes: " + ", ".join(f"{k} {v / parts.sum():.0%}" for k, v in parts.items()))
    for k, v in parts.items():
        rec(f"dnsmos: share of {k}", 100 * v / parts.sum(), "%")

    def within_rho(a: str, b: str, sign: float = 1.0) -> float:
        """Mean Spearman between columns ``a`` and ``sign * b`` within each input's candidates (groups with ties
        in either column are skipped: Spearman is undefined there)."""
        rhos = [
            spearmanr(g[a], sign * g[b]).statistic
            for _, g in df.groupby("group")
            if len(g) > 2 and g[a].nunique() > 1 and g[b].nunique() > 1
        ]
        return float(np.nanmean(rhos)) if rhos else float("nan")

    print("\nDNSMOS windows of 9.01 s per clip, by clip length (the cost of a clip is its number of windows):")
    for sec in (1, 2, 3, 4, 5, 6, 8, 10, 12):
        clip = np.ones(sec * SR, np.float32)
        print(
            f"  {sec:2d} s: speechmos {len(dnsmos_windows(clip, as_speechmos=True))}, now {len(dnsmos_windows(clip))}"
        )

    print("\n## what changed")
    print(f"transcripts identical after normalisation: {df.same_text.mean():.0%} of {len(df)}")
    print(
        f"WER against the true transcript ({df.wer_before.notna().sum()} clips with one): before {df.wer_before.mean():.3f}, after {df.wer_after.mean():.3f}; "
        f"mean |change| {np.abs(df.wer_after - df.wer_before).mean():.3f}; "
        f"within-input Spearman before vs after {within_rho('wer_before', 'wer_after'):+.2f}"
    )
    print(f"DNSMOS OVRL batched only vs before: max |change| {(df.ovrl_batched - df.ovrl_before).abs().max():.2g}")
    d = df.ovrl_after - df.ovrl_before
    print(
        f"DNSMOS OVRL: mean change {d.mean():+.3f}, mean |change| {d.abs().mean():.3f}, max |change| {d.abs().max():.3f}; "
        f"within-input Spearman before vs after {within_rho('ovrl_before', 'ovrl_after'):+.2f}"
    )
    print("agreement with the oracle (within-input Spearman of the score with -LSD; higher is better):")
    for col, sign in (("wer", -1.0), ("ovrl", 1.0)):
        print(
            f"  {col:5s} before {within_rho('lsd', col + '_before', -sign):+.2f}  after {within_rho('lsd', col + '_after', -sign):+.2f}"
        )

    c = df.ovrl_clip - df.ovrl_after
    print(
        f"dnsmos-clip OVRL vs dnsmos: mean change {c.mean():+.3f}, mean |change| {c.abs().mean():.3f}, "
        f"max |change| {c.abs().max():.3f}; within-input Spearman {within_rho('ovrl_after', 'ovrl_clip'):+.2f}; "
        f"with -LSD {within_rho('lsd', 'ovrl_clip', -1.0):+.2f}"
    )
    rec("DNSMOS OVRL: mean |change|", d.abs().mean(), "MOS")
    rec("dnsmos-clip OVRL vs dnsmos: mean |change|", c.abs().mean(), "MOS")
    rec("dnsmos-clip vs dnsmos: within-input Spearman", within_rho("ovrl_after", "ovrl_clip"), "")
    rec("transcripts identical", 100 * df.same_text.mean(), "%")
    rec.write()


if __name__ == "__main__":
    main()
