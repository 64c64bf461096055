"""Speech quality: DNSMOS (Microsoft's non-intrusive MOS predictor), whose ONNX models ship in speechmos.

The offline stand-in for Audiobox-Aesthetics on speech. DNSMOS takes 16 kHz audio in 9 s windows
(shorter clips are looped to 9 s) and predicts four MOS values on a 1-5 scale: ``ovrl`` (overall,
the primary axis), ``sig`` (speech signal), ``bak`` (background noise) and ``p808`` (the ITU-T P.808
overall rating). Like every 16 kHz model it cannot hear above 8 kHz. Measured: OVRL falls from
about 3.0 to 1.1 when noise is added.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tsrlib.verifiers.base import Context, Verifier

SR = 16_000


@functools.lru_cache(maxsize=1)
def dnsmos_model():
    """The packaged DNSMOS model pair (SIG/BAK/OVRL and P.808), loaded once."""
    import onnxruntime as ort
    import torch
    from speechmos import dnsmos

    here = Path(dnsmos.__file__).parent / "dnsmos_models"
    model = dnsmos.DNSMOS(str(here / "sig_bak_ovr.onnx"), str(here / "model_v8.onnx"))
    # ONNX Runtime's default threads spin-wait after each run and starve torch on a small CPU: replace the sessions.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model.onnx_sess = ort.InferenceSession(model.primary_model_path, opts, providers=["CPUExecutionProvider"])
    model.p808_onnx_sess = ort.InferenceSession(str(here / "model_v8.onnx"), opts, providers=["CPUExecutionProvider"])
    return model


class DNSMOS(Verifier):
    """DNSMOS OVRL, SIG, BAK and P.808 per candidate (MOS, 1-5, higher is better)."""

    name = "dnsmos"
    axes = ("ovrl", "sig", "bak", "p808")
    primary = "ovrl"
    native_sr = SR

    def __init__(self, device: str = "cpu"):
        self.device = device  # ONNX Runtime on the CPU; kept for a uniform signature

    def _evaluate(self, x: np.ndarray, sr: int, ctx: Context) -> dict[str, np.ndarray]:
        model = dnsmos_model()
        rows = [model(np.clip(row, -1, 1).astype(np.float64), SR, False) for row in x]
        return {
            "ovrl": [r["ovrl_mos"] for r in rows],
            "sig": [r["sig_mos"] for r in rows],
            "bak": [r["bak_mos"] for r in rows],
            "p808": [r["p808_mos"] for r in rows],
        }
