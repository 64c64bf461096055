"""Speech quality: DNSMOS (Microsoft's non-intrusive MOS predictor), whose ONNX models ship in speechmos.

The offline stand-in for Audiobox-Aesthetics on speech. DNSMOS takes 16 kHz audio in 9.01 s windows
(shorter clips are looped to fill one; ``dnsmos-clip`` runs the network at the clip's own length) and
predicts four MOS values on a 1-5 scale: ``ovrl`` (overall, the primary axis), ``sig`` (speech signal),
``bak`` (background noise) and ``p808`` (the ITU-T P.808 overall rating). Like every 16 kHz model it cannot
hear above 8 kHz. Measured: OVRL falls from about 3.0 to 1.1 when noise is added.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tsrlib.verifiers.base import Context, Verifier

SR = 16_000
INPUT_LENGTH = 9.01  # s, DNSMOS's window


def _cpu_session(model: str | bytes):
    """An ONNX Runtime CPU session of ``model`` (a path or serialised bytes) that shares the CPU with torch: as many
    threads as torch, and no spin-waiting after each run (ONNX Runtime's default starves torch on a small CPU)."""
    import onnxruntime as ort
    import torch

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@functools.lru_cache(maxsize=1)
def dnsmos_model():
    """The packaged DNSMOS model pair (SIG/BAK/OVRL and P.808), loaded once."""
    from speechmos import dnsmos

    here = Path(dnsmos.__file__).parent / "dnsmos_models"
    model = dnsmos.DNSMOS(str(here / "sig_bak_ovr.onnx"), str(here / "model_v8.onnx"))
    model.onnx_sess = _cpu_session(model.primary_model_path)  # speechmos's own sessions spin-wait
    model.p808_onnx_sess = _cpu_session(str(here / "model_v8.onnx"))
    return model


MIN_CLIP = 1.0  # s: dnsmos-clip loops a shorter clip to this length (the network pools its frames 8 to 1)


@functools.lru_cache(maxsize=8)
def dnsmos_clip_session(frames: int):
    """The SIG/BAK/OVRL network of :func:`dnsmos_model`, resized to ``frames`` STFT frames: its input is
    ``[N, 160 * (frames + 1)]`` samples at 16 kHz instead of ``[N, 144160]`` (900 frames).

    The network frames its input (320 samples, hop 160), then runs 2-D convolutions and max-pooling over the log
    spectrogram and a global max over time and frequency, so only its framing fixes the length: the two framing
    constants are rewritten and nothing else. At ``frames=900`` it is the packaged network, bit for bit.
    """
    import onnx
    from onnx import numpy_helper
    from speechmos import dnsmos

    if frames < int(MIN_CLIP * SR) // 160 - 1:
        raise ValueError(f"dnsmos-clip needs at least {MIN_CLIP} s ({frames} frames given)")
    m = onnx.load(str(Path(dnsmos.__file__).parent / "dnsmos_models" / "sig_bak_ovr.onnx"))
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        if init.name.startswith("shape_tensor"):  # [-1, 900, 160]: frames of 160 samples, then pairs of them
            new = np.array([-1, frames, 160], a.dtype)
        elif init.name == "input_1:01_cropping_end":  # [max, 144000]: the first 900 half-frames
            new = np.array([a[0], 160 * frames], a.dtype)
        else:
            continue
        init.CopyFrom(numpy_helper.from_array(new, init.name))
    m.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 160 * (frames + 1)
    del m.graph.value_info[:]  # intermediate shapes recorded for 900 frames
    return _cpu_session(m.SerializeToString())


def dnsmos_windows(audio: np.ndarray, as_speechmos: bool = False) -> np.ndarray:
    """DNSMOS input windows ``[W, 144160]`` (9.01 s at 16 kHz) of one clip ``[T]``, hopped by 1 s.

    A clip shorter than a window is looped to fill it. speechmos doubles the clip until it is at least 9.01 s
    long and scores every window of the result: a 2 s clip becomes 16 s and 7 windows that each hold the
    same loop, cyclically shifted. ``as_speechmos=True`` reproduces that; the default tiles the clip to
    exactly one window: 7x less work for 1, 2, 4 or 8 s clips, 3x for 3 or 6 s clips, none for 5 s (one window
    either way); ``bench/verifiers.py`` measures the time and what it changes in the scores.
    """
    n = int(INPUT_LENGTH * SR)
    x = np.asarray(audio, dtype=np.float32)
    if len(x) < n:
        if as_speechmos:
            while len(x) < n:
                x = np.append(x, x)
        else:
            x = np.tile(x, int(np.ceil(n / len(x))))[:n]
    hops = int(np.floor(len(x) / SR) - INPUT_LENGTH) + 1
    # speechmos's own bounds: float rounding makes some windows one sample short, and it skips those
    wins = [x[int(h * SR) : int((h + INPUT_LENGTH) * SR)] for h in range(hops)]
    return np.stack([w for w in wins if len(w) >= n])


class DNSMOS(Verifier):
    """DNSMOS OVRL, SIG, BAK and P.808 per candidate (MOS, 1-5, higher is better).

    The windows of all candidates go through each ONNX model ``batch_size`` at a time; a candidate's score
    is the mean over its windows, as in speechmos. ``as_speechmos=True`` scores speechmos's windows of
    short clips (see :func:`dnsmos_windows`). ``clip_length=True`` (the ``dnsmos-clip`` verifier) runs SIG/BAK/OVRL
    on a clip shorter than 9.01 s at its own length, looped to at least 1 s, through :func:`dnsmos_clip_session`
    instead of on the loop tiled to 9.01 s: a 3 s clip costs a third as much, and no window holds the loop's seams,
    so its scores differ from ``dnsmos``: lower by 0.17 MOS on average on the bench's speech, and one input's
    candidates ranked differently (within-input Spearman with ``dnsmos`` +0.41; ``bench/verifiers.py``). The
    network's global max over time and frequency makes it sensitive to which frames it sees. P.808 keeps its window.
    """

    name = "dnsmos"
    axes = ("ovrl", "sig", "bak", "p808")
    primary = "ovrl"
    native_sr = SR

    def __init__(self, device: str = "cpu", as_speechmos: bool = False, batch_size: int = 2, clip_length: bool = False):
        if as_speechmos and clip_length:
            raise ValueError("as_speechmos and clip_length are two ways to score a short clip: choose one")
        self.device = device  # ONNX Runtime on the CPU; kept for a uniform signature
        self.as_speechmos, self.batch_size, self.clip_length = as_speechmos, batch_size, clip_length
        if clip_length:
            self.name = "dnsmos-clip"

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        model = dnsmos_model()
        wins = [dnsmos_windows(np.clip(row, -1, 1), self.as_speechmos) for row in x]
        owner = np.repeat(np.arange(len(x)), [len(w) for w in wins])
        batch = np.concatenate(wins).astype(np.float32)
        mels = np.stack([model.audio_melspec(audio=w[:-160]) for w in batch]).astype(np.float32)
        b = self.batch_size  # large ONNX batches run slower than a few windows at a time on a small CPU
        n = x.shape[-1]
        if self.clip_length and n < int(INPUT_LENGTH * SR):
            x = np.clip(x, -1, 1).astype(np.float32)
            if n < int(MIN_CLIP * SR):
                x = np.tile(x, (1, -(-int(MIN_CLIP * SR) // n)))
            frames = x.shape[-1] // 160 - 1
            clips, sess, raw_owner = x[:, : 160 * (frames + 1)], dnsmos_clip_session(frames), np.arange(len(x))
        else:
            clips, sess, raw_owner = batch, model.onnx_sess, owner
        raw = np.concatenate([sess.run(None, {"input_1": clips[i : i + b]})[0] for i in range(0, len(clips), b)])
        p808 = np.concatenate(
            [model.p808_onnx_sess.run(None, {"input_1": mels[i : i + b]})[0] for i in range(0, len(mels), b)]
        )
        # raw [W, 3] holds SIG, BAK, OVRL before speechmos's polynomial fit; p808 [W, 1]
        sig, bak, ovrl = model.get_polyfit_val(raw[:, 0], raw[:, 1], raw[:, 2], False)
        p808 = p808[:, 0]

        def per_clip(v: np.ndarray, owner: np.ndarray = raw_owner) -> np.ndarray:
            return np.bincount(owner, weights=v, minlength=len(x)) / np.bincount(owner, minlength=len(x))

        return {"ovrl": per_clip(ovrl), "sig": per_clip(sig), "bak": per_clip(bak), "p808": per_clip(p808, owner)}
