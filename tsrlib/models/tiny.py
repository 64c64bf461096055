"""The embedded diffusion SR model: a small network on compressed complex STFTs.

Representation. Audio at 24 kHz goes through an STFT (n_fft 512, hop 128, Hann; 257 bins of 46.9 Hz,
5.3 ms hop) whose magnitude is compressed, ``X_c = |X|^0.3 * exp(i angle X)``, as speech-enhancement
diffusion models do: the compression evens out the 60-80 dB between the low and the high band so one
Gaussian noise level suits both, and the output inverts directly with an inverse STFT (no vocoder).
Real and imaginary parts of all bins are stacked as channels: ``x`` has shape ``[N, 514, frames]``.

Network. :class:`FrameNet` treats frequency as channels and convolves over time: an input
convolution, residual blocks with dilations 1-8 (receptive field about 0.3 s) and FiLM conditioning
on the diffusion time, and an output convolution. Its input is the noisy ``x_t``, the band-limited
input's compressed STFT, and a per-bin mask of the given band.

Denoiser. Writing ``y = x_t / alpha`` and ``s = sigma / alpha`` (the noise level of ``y``), the network sees
``y`` scaled to unit variance (``c_in``, as in Karras et al. 2022) and predicts, per bin and frame, a mean
``mu`` and a local standard deviation ``sd``. The clean estimate is their per-bin Wiener combination,
``x0 = mu + sd^2 / (s^2 + sd^2) (y - mu)``, the exact posterior mean if the bin were Gaussian. The
combination is pointwise, so the network, whose 128 channels could never carry the per-bin noise of 514
input channels, only has to say how loud each bin should be, not which noise to remove. Bins of the given
band are pinned to the input (inpainting). Towards the sampler the model speaks v:
``v = (alpha x_t - x0) / sigma``.
The same backbone trained with a plain L2 loss on ``x0`` from the condition alone is the
deterministic regression baseline (``mode="regression"``).

Band code. With ``band_code`` (the shipped model has it), the mean of the initial noise over the invented
band chooses that band's overall gain and spectral tilt, so candidates differ in the clip-wide choices that
decide most of their LSD, not only in fine texture (see the section "band code" below).

After generation, :meth:`TinySR.decode` restores the input's low band (bins below the cutoff,
with a linear crossfade over ``crossfade_hz``), as AudioSR does, then undoes the input's loudness
normalisation. Chapter 2 of the book teaches this module.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tsrlib import audio as tsa
from tsrlib import schedule
from tsrlib.errors import CheckpointError, ConfigError
from tsrlib.models.protocol import Condition

LEVEL_DBFS = -23.0  # inputs are normalised to this RMS level before the network sees them
TRAINED_CUTOFFS_HZ = (2000.0, 11000.0)  # the trainer's cutoffs (train.data.SegmentSampler); below them, a notice


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; stored in the checkpoint's metadata. The defaults are the shipped
    models' network (``tiny`` sets ``band_code``; ``tiny-real`` also ``prior`` and ``silence_gate_db``;
    ``regression`` sets ``mode``), and :meth:`to_dict` / :meth:`from_dict` round-trip through JSON."""

    sr: int = tsa.MODEL_SR
    n_fft: int = 512
    hop: int = 128
    compress: float = 0.3
    hidden: int = 128
    dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    emb: int = 128
    mode: str = "diffusion"  # or "regression"
    crossfade_hz: float = 400.0
    global_context: bool = False  # each block also sees its features' mean over the whole clip (see FrameNet)
    band_code: bool = False  # the noise's mean over the invented band picks its level and tilt (see band code below)
    prior: str = "none"  # or "band-replication": start from the blind DSP estimate (see prior below)
    prior_smoothing: tuple[int, int] = (3, 5)  # bins and frames over which the prior's level is averaged (odd)
    silence_gate_db: float | None = None  # invent nothing in frames this far (dB) below the input's loudest (decode)
    code_prior: tuple[float, float] | None = None  # (mean, std) of the gain code at sampling (see band code below)
    envelope_cap_db: float | None = None  # no frame of the band above the copy's envelope + own gain + this (decode)

    def __post_init__(self) -> None:
        if self.mode not in ("diffusion", "regression"):
            raise ConfigError(f"mode must be diffusion or regression, got {self.mode!r}")
        if self.prior not in ("none", "band-replication"):
            raise ConfigError(f"unknown prior {self.prior!r}; use none or band-replication")
        if self.code_prior is not None:
            object.__setattr__(self, "code_prior", check_code_prior(self.code_prior))  # floats: one repr, one hash
            if not self.band_code:
                raise ConfigError("a code_prior needs a band_code model: without one there is no gain code to move")
        if self.envelope_cap_db is not None:
            if not isinstance(self.envelope_cap_db, (int, float)) or not math.isfinite(self.envelope_cap_db):
                raise ConfigError(f"envelope_cap_db must be a finite number of dB, got {self.envelope_cap_db!r}")
            object.__setattr__(self, "envelope_cap_db", float(self.envelope_cap_db))
            if self.prior != "band-replication":
                raise ConfigError(
                    "an envelope_cap_db needs prior='band-replication': the cap follows that copy's envelope"
                )

    def __repr__(self) -> str:
        """The dataclass repr, less the fields of :data:`LATER_FIELDS` while they hold their defaults: a model's
        fingerprint (:func:`tsrlib.search.cache.model_fingerprint`) hashes this repr, and a field added to the
        config must not change the fingerprint of the models (and the score banks) made before it existed."""
        shown = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in fields(self)
            if not (f.name in LATER_FIELDS and getattr(self, f.name) == f.default)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        """Plain JSON-ready values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, raw: dict) -> ModelConfig:
        """The inverse of :meth:`to_dict`; unknown keys are a ConfigError naming them."""
        names = {f.name for f in fields(cls)}
        if unknown := sorted(set(raw) - names):
            raise ConfigError(f"unknown model config keys {unknown}; known: {sorted(names)}")
        tuples = ("dilations", "prior_smoothing", "code_prior")
        return cls(**{k: tuple(v) if k in tuples and v is not None else v for k, v in raw.items()})


LATER_FIELDS = ("code_prior", "envelope_cap_db")
""":class:`ModelConfig` fields added after models were shipped; :meth:`ModelConfig.__repr__` leaves them out at their
defaults, so that those models keep their fingerprints."""


def check_code_prior(prior: tuple[float, float]) -> tuple[float, float]:
    """``prior`` as ``(mean, std)`` floats; a ConfigError unless it is two finite numbers with ``std > 0``."""
    try:
        mean, std = (float(v) for v in prior)
    except (TypeError, ValueError):
        raise ConfigError(f"a code prior is (mean, std), two numbers; got {prior!r}") from None
    if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
        raise ConfigError(f"a code prior needs a finite mean and a finite std > 0; got mean {mean}, std {std}")
    return mean, std


def parse_code_prior(text: str) -> tuple[float, float] | None:
    """``"MEAN:STD"`` (e.g. ``"-1.5:1"``) as ``(mean, std)``; ``"none"`` as ``None``. A ConfigError otherwise."""
    if text.strip().lower() == "none":
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise ConfigError(f"a code prior is MEAN:STD, e.g. -1.5:1, or none; got {text!r}")
    return check_code_prior(parts)


# ------------------------------------------------------------------------------------------ STFT codec
class STFTCodec:
    """Audio ``[N, T]`` <-> compressed complex STFT ``[N, 2F, frames]`` (real parts, then imaginary parts)."""

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        self._win: dict[torch.device, torch.Tensor] = {}

    def window(self, device: torch.device) -> torch.Tensor:
        if device not in self._win:
            self._win[device] = torch.hann_window(self.cfg.n_fft, device=device)
        return self._win[device]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            x.float(), self.cfg.n_fft, self.cfg.hop, window=self.window(x.device), center=True, return_complex=True
        )
        mag = spec.abs().clamp_min(1e-12)
        spec = spec * (mag ** (self.cfg.compress - 1))
        return torch.cat([spec.real, spec.imag], dim=1)

    def to_complex(self, z: torch.Tensor) -> torch.Tensor:
        f = self.cfg.bins
        spec = torch.complex(z[:, :f].float(), z[:, f:].float())
        mag = spec.abs().clamp_min(1e-12)
        return spec * (mag ** (1 / self.cfg.compress - 1))

    def decode(self, z: torch.Tensor, length: int) -> torch.Tensor:
        return torch.istft(
            self.to_complex(z), self.cfg.n_fft, self.cfg.hop, window=self.window(z.device), center=True, length=length
        )

    def frames(self, length: int) -> int:
        return length // self.cfg.hop + 1

    def bin_freqs(self) -> torch.Tensor:
        return torch.arange(self.cfg.bins, dtype=torch.float32) * self.cfg.sr / self.cfg.n_fft


# -------------------------------------------------------------------------------------------- network
class TimeEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.SiLU(), nn.Linear(2 * dim, 2 * dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = torch.exp(-math.log(10_000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        args = 1000.0 * t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([args.sin(), args.cos()], dim=1))


class ResBlock(nn.Module):
    def __init__(self, ch: int, dilation: int, emb: int, global_context: bool = False):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, ch)
        self.conv1 = nn.Conv1d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.film = nn.Linear(emb, 2 * ch)
        self.glob = nn.Linear(ch, 2 * ch) if global_context else None
        if self.glob is not None:  # starts as a no-op, so older weights load and behave as before
            nn.init.zeros_(self.glob.weight)
            nn.init.zeros_(self.glob.bias)
        self.norm2 = nn.GroupNorm(8, ch)
        self.conv2 = nn.Conv1d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        mod = self.film(emb)
        if self.glob is not None:  # the clip-wide mean of the input features, per example: [N, ch]
            mod = mod + self.glob(x.mean(dim=-1))
        scale, shift = mod.unsqueeze(-1).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        return x + self.conv2(nn.functional.silu(h))


class FrameNet(nn.Module):
    """``(x_t [N, 2F, L], cond [N, 2F, L], band mask [N, F], t [N]) -> v [N, 2F, L]``; optionally block features.

    The band mask is constant over time, so it enters as a learned per-channel bias (a linear map of
    the ``[F]`` mask) instead of ``F`` extra input channels: the same function, without its cost per frame.

    With ``global_context``, each block's FiLM modulation also takes a linear map of its input features
    averaged over all frames. The convolutions see about 0.3 s, so without it every decision about the
    invented band (how loud, how bright) is local, and independent local choices average out over a clip;
    the clip-wide mean lets a sample commit to one choice for the whole clip, as a recording chain does.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        f = cfg.bins
        self.inp = nn.Conv1d(4 * f, cfg.hidden, 3, padding=1)
        self.band = nn.Linear(f, cfg.hidden)
        self.temb = TimeEmbedding(cfg.emb)
        self.code = None
        if cfg.band_code:  # (code read from the noisy input [2], log noise level [1]) -> added to the time embedding
            self.code = nn.Sequential(nn.Linear(3, 2 * cfg.emb), nn.SiLU(), nn.Linear(2 * cfg.emb, 2 * cfg.emb))
            nn.init.zeros_(self.code[2].weight)  # starts as a no-op, so weights without it load and behave as before
            nn.init.zeros_(self.code[2].bias)
        self.blocks = nn.ModuleList(ResBlock(cfg.hidden, d, 2 * cfg.emb, cfg.global_context) for d in cfg.dilations)
        self.out_norm = nn.GroupNorm(8, cfg.hidden)
        self.out = nn.Conv1d(cfg.hidden, 3 * f, 3, padding=1)  # a mean for 2F channels, a log-std for F bins
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        # per-channel standard deviation of clean data, set from training data by the trainer
        self.register_buffer("sigma_data", torch.full((2 * f,), 0.3))

    def forward(self, x_t, cond, mask, t, return_features: bool = False, code: torch.Tensor | None = None):
        h = self.inp(torch.cat([x_t, cond], dim=1)) + self.band(mask).unsqueeze(-1)
        emb = self.temb(t)
        if self.code is not None:
            emb = emb + self.code(code)
        feats = []
        for blk in self.blocks:
            h = blk(h, emb)
            feats.append(h)
        out = self.out(nn.functional.silu(self.out_norm(h)))
        return (out, feats) if return_features else out


# ------------------------------------------------------------------------------------------ band code
# A sample's fine texture comes from the noise bin by bin, but the level and tilt of the whole invented
# band are one choice per clip, made from the noise's average over some 10^4-10^5 values. Its fluctuation
# is too small for a small network to read, so, left alone, every sample takes the average choice and
# search finds almost nothing to pick between (tools/headroom_study.py measures this). With ``band_code``,
# training writes a code for the band's gain and tilt into the noise: the mean of the real parts (gain)
# and of the imaginary parts (tilt) of the noise over the invented band, scaled to be N(0, 1) exactly as
# for untouched noise. The noise stays white Gaussian, so sampling is unchanged, and the model reads the
# code from its noisy input and learns to follow it. At inference every initial noise carries a code
# drawn from the prior, so candidates differ in level and tilt as recordings do. Offset noise (Guttenberg
# 2023) frees a global statistic the same way. Training draws the codes from N(0, 1); a ``code_prior``
# ``(mean, std)`` in the config draws the gain code from N(mean, std^2) at sampling instead
# (:meth:`TinySR.initial_noise`), which moves where search looks: tools/code_prior_study.py measures it.
def _band_sums(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of the real and imaginary parts of ``x [N, 2F, L]`` over bins outside ``mask [N, F]`` and all
    frames, ``[N, 2]``, and the number of values each sum covers, ``[N, 1]``."""
    f = mask.shape[1]
    hf = (1 - mask).unsqueeze(-1)
    sums = torch.stack([(x[:, :f] * hf).sum((1, 2)), (x[:, f:] * hf).sum((1, 2))], 1)
    return sums, (hf.sum((1, 2)) * x.shape[-1]).clamp_min(1).unsqueeze(1)


def write_band_code(noise: torch.Tensor, mask: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
    """Noise ``[N, 2F, L]`` whose scaled means over the invented band (bins outside ``mask [N, F]``) are ``code [N, 2]``.

    Only the band's mean is replaced: for white noise the mean is independent of the deviations from it,
    so with ``code ~ N(0, 1)`` the result is white Gaussian noise too.
    """
    sums, m = _band_sums(noise, mask)
    shift = (code.to(noise) * m.sqrt() - sums) / m  # [N, 2]: per-value offset of real and imaginary parts
    hf = (1 - mask).unsqueeze(-1)
    return noise + torch.cat([shift[:, :1, None] * hf, shift[:, 1:, None] * hf], 1)


def read_band_code(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The code ``[N, 2]`` of pure noise ``y [N, 2F, L]`` (the inverse of :func:`write_band_code`); for ``y = x0 + s * noise``,
    divide by ``s``. The clean part adds a term that grows as ``s`` falls, when the band's level is already set."""
    sums, m = _band_sums(y, mask)
    return sums / m.sqrt()


# ------------------------------------------------------------------------------------------------ prior
# On real recordings the band above the cutoff is far from empty, and much of its structure repeats the octave
# below (harmonics, noise bursts, onsets). Blind band replication (tsrlib.models.baselines) copies that octave up
# and beat the first, synthetic-trained model on real speech. With ``prior="band-replication"`` the model starts
# where that DSP trick ends: its condition holds the replicated band and its per-bin spread starts at that band's
# level, so training only has to learn what the copy gets wrong.
def band_replicated(lr: torch.Tensor, cutoff_hz: torch.Tensor | float, sr: int) -> torch.Tensor:
    """``lr [N, T]`` with each row's band above its cutoff (scalar or ``[N]``, Hz) filled by blind band replication
    (seed 0); silent rows are returned as they are. Same device and shape."""
    from tsrlib.models import baselines

    rows = lr.detach().float().cpu().numpy()
    cuts = np.broadcast_to(np.asarray(torch.as_tensor(cutoff_hz).cpu(), dtype=np.float64).reshape(-1), (len(rows),))
    with warnings.catch_warnings():  # training crops may touch full scale; that is no reason to warn per example
        warnings.simplefilter("ignore")
        out = [
            baselines.band_replication(r, sr, float(c)) if tsa.rms_dbfs(r) > tsa.SILENCE_DBFS else r
            for r, c in zip(rows, cuts)
        ]
    return torch.from_numpy(np.stack(out)).to(lr.device, lr.dtype)


# ------------------------------------------------------------------------------------------ envelope cap
# A candidate's band has one clip-wide level, set by its band code, and a level in each frame. Measured on the
# validation voices, the frame levels overshoot where the recording is quiet: the median candidate's band was 15-19 dB
# above the reference's in frames 40-60 dB below the loudest, against about +5 dB in loud frames, while band
# replication, a copy of the octave below, follows the recording's envelope frame by frame. The cap keeps each
# candidate's own clip gain against that copy (search still chooses among levels) and lowers only the frames that
# rise above the copy's envelope shifted by that gain.
def cap_band_envelope(
    z: torch.Tensor, envelope: torch.Tensor, mask: torch.Tensor, compress: float, cap_db: float, floor_db: float = -30.0
) -> torch.Tensor:
    """Candidates ``z [N, 2F, L]`` (compressed STFT, :class:`STFTCodec`) with each frame of their band outside ``mask
    [1, F]`` lowered to at most ``envelope [1, 2F, L]``'s band power in that frame times the candidate's gain, plus
    ``cap_db`` (dB).

    A candidate's gain ``g`` is the median, over the frames where the envelope's band is within ``-floor_db`` dB of
    its loudest, of its band power over the envelope's, in dB. A frame above ``envelope + g + cap_db`` is scaled down to
    exactly that; the other frames and the bins in ``mask`` are returned as they are. An envelope with no band at all
    (a silent input) leaves ``z`` unchanged.
    """
    f = mask.shape[-1]
    band = (1 - mask[0]).to(z)[:, None]  # [F, 1]: 1 on the invented band

    def power(x: torch.Tensor) -> torch.Tensor:  # [N, L]: |X|^2 over the band, from the compressed |X|^compress
        return ((x[:, :f] ** 2 + x[:, f:] ** 2) ** (1 / compress) * band).sum(1)

    ref = power(envelope.to(z))[0]  # [L]
    if not bool((ref > 0).any()):
        return z
    ratio_db = 10 * torch.log10(power(z).clamp_min(1e-20) / ref.clamp_min(1e-20))  # [N, L]
    loud = ref >= ref.max() * 10 ** (floor_db / 10)
    gain = ratio_db[:, loud].median(1).values[:, None]  # [N, 1]
    lower_db = (ratio_db - gain - cap_db).clamp_min(0)  # [N, L]: how far each frame is above its cap
    scale = 10 ** (-lower_db / 20 * compress)  # |X| down by lower_db, in the compressed domain
    band2 = torch.cat([band, band])[None]  # [1, 2F, 1]
    return z * (1 - band2 + band2 * scale[:, None, :])


# ------------------------------------------------------------------------------------- protocol wrapper
class TinySR(nn.Module):
    """The embedded model behind the :class:`~tsrlib.models.protocol.SRDiffusionModel` protocol."""

    def __init__(self, cfg: ModelConfig = ModelConfig(), name: str = "tiny"):
        super().__init__()
        self.cfg = cfg
        self.name = name
        self.sr = cfg.sr
        self.codec = STFTCodec(cfg)
        self.net = FrameNet(cfg)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def is_regression(self) -> bool:
        return self.cfg.mode == "regression"

    # -- conditioning -----------------------------------------------------------------------------------
    def band_mask(self, cutoff_hz: torch.Tensor | float, n: int = 1) -> torch.Tensor:
        """``[n, F]``: 1 for bins below the cutoff (the given band), 0 above. ``cutoff_hz`` scalar or ``[n]``."""
        c = torch.as_tensor(cutoff_hz, dtype=torch.float32, device=self.device).reshape(-1, 1)
        m = (self.codec.bin_freqs().to(self.device)[None] < c).float()
        return m.expand(n, -1) if c.shape[0] == 1 else m

    def features(self, lr: torch.Tensor, cutoff_hz: torch.Tensor | float) -> dict[str, torch.Tensor]:
        """Network inputs for band-limited audio ``lr [N, T]`` (already at the model rate and level).

        With ``prior="band-replication"`` the condition is the input with its empty band filled by
        :func:`tsrlib.models.baselines.band_replication` (seed 0): the network sees a DSP estimate of the band
        it must invent, aligned bin by bin, and its output's spread starts at that estimate's level.
        """
        mask = self.band_mask(cutoff_hz, lr.shape[0])
        if self.cfg.prior == "band-replication":
            lr = band_replicated(lr, cutoff_hz, self.sr)
        elif self.cfg.prior != "none":
            raise ConfigError(f"unknown prior {self.cfg.prior!r}; use none or band-replication")
        return {"cond": self.codec.encode(lr), "mask": mask}

    def condition(self, lr_audio: np.ndarray, sr: int, cutoff_hz: float | None = None) -> Condition:
        """Prepare band-limited audio ``[T]`` at any rate: resample, check, detect the cutoff, normalise the level."""
        x = tsa.check_audio(lr_audio, sr, name="input", min_seconds=tsa.MIN_SECONDS)
        if sr != self.sr:
            x = tsa.resample(x, sr, self.sr)
        cutoff = tsa.band_cutoff(x, self.sr, cutoff_hz)
        if cutoff < TRAINED_CUTOFFS_HZ[0]:  # above the range there is little left to invent: no notice
            warnings.warn(
                f"cutoff {cutoff:.0f} Hz is below the {TRAINED_CUTOFFS_HZ[0]:.0f} Hz the model was trained down to; "
                "the invented band may be far too loud or too quiet",
                stacklevel=2,
            )
        x, loud = tsa.normalize_loudness(x, LEVEL_DBFS)
        feats = self.features(torch.from_numpy(x)[None].to(self.device), cutoff)
        return Condition(
            audio=x, sr=self.sr, cutoff_hz=cutoff, features=feats, extra={"loudness": loud, "length": len(x)}
        )

    def noise_shape(self, cond: Condition) -> tuple[int, ...]:
        return tuple(cond.features["cond"].shape[1:])

    def initial_noise(self, x_T: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Candidates' starting noises ``x_T [N, 2F, L]`` as drawn (standard normal) -> as sampled from.

        With a ``code_prior`` ``(mean, std)`` in the config, each candidate's gain code ``z`` (the scaled mean of
        the noise's real parts over the invented band; see band code) becomes ``mean + std * z``: a negative mean
        draws quieter bands. The tilt code and every deviation from the band's mean are kept. Without a prior this
        is ``x_T`` itself. Every search calls it through :func:`tsrlib.sampler.initial_noise`.
        """
        if self.cfg.code_prior is None:
            return x_T
        mean, std = self.cfg.code_prior
        mask = cond.features["mask"].to(x_T.device).expand(x_T.shape[0], -1)
        code = read_band_code(x_T, mask)
        code[:, 0] = mean + std * code[:, 0]
        return write_band_code(x_T, mask, code)

    def with_code_prior(self, prior: tuple[float, float] | None) -> TinySR:
        """This model (changed in place, and returned) sampling with another gain-code prior (``None``: none).
        The model's fingerprint, and so its cache keys and bank identity, follow the config."""
        self.cfg = replace(self.cfg, code_prior=prior)
        return self

    # -- network ----------------------------------------------------------------------------------------
    def preconditioning(self, t: torch.Tensor, device: torch.device):
        """``(alpha, sigma, s, c_in, c_out)`` for times ``t [N]``, each broadcastable to ``[N, 2F, L]``.

        ``s = sigma / alpha`` is the noise level of ``y = x_t / alpha``; ``c_in`` scales ``y`` to unit variance
        for the network's input and ``c_out`` is the loss scale (EDM), both from the per-bin data std.
        """
        a, sig = schedule.alpha_sigma(t.double().to(device))
        a, sig = a.float().view(-1, 1, 1), sig.float().view(-1, 1, 1)
        s_ve = sig / a.clamp_min(1e-8)
        sd = self.net.sigma_data.view(1, -1, 1)
        norm = (s_ve**2 + sd**2).sqrt()
        return a, sig, s_ve, 1 / norm, s_ve * sd / norm

    def predict_x0(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        cond: torch.Tensor,
        mask: torch.Tensor,
        return_features: bool = False,
        pre: tuple[torch.Tensor, ...] | None = None,
    ):
        """The clean estimate ``x0 [N, 2F, L]``: a per-bin Wiener combination of the network's mean and ``y``.

        The network predicts, per bin and frame, a mean ``mu`` and a log standard deviation; with
        ``w = std^2 / (s^2 + std^2)``, ``x0 = mu + w (y - mu)``. Bins of the given band (``mask``) are the input's.
        ``pre`` takes :meth:`preconditioning`'s result when the caller already has it.
        Returns ``x0`` or ``(x0, network output, block features)``.
        """
        a, _, s_ve, c_in, _ = pre if pre is not None else self.preconditioning(t, x_t.device)
        y = x_t / a.clamp_min(1e-8)
        code = None
        if self.cfg.band_code:
            s = s_ve.view(-1)
            code = torch.cat(
                [torch.tanh(read_band_code(y, mask) / s[:, None] / 3), s.clamp_min(1e-4).log()[:, None] / 4], 1
            )
        out, feats = self.net(c_in * y, cond, mask, t, return_features=True, code=code)
        f = self.cfg.bins
        log_sd = (out[:, 2 * f :] + self.prior_log_sd(cond, mask)).clamp(-12.0, 4.0)
        var = torch.cat([log_sd, log_sd], dim=1).mul(2).exp()
        known = torch.cat([mask, mask], dim=1).unsqueeze(-1)
        mu = known * cond + (1 - known) * out[:, : 2 * f]
        x0 = mu + (1 - known) * var / (s_ve**2 + var) * (y - mu)
        return (x0, out, feats) if return_features else x0

    def prior_log_sd(self, cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Where the network's per-bin log standard deviation starts (its output is added), ``[N or 1, F, L or 1]``.

        Without a prior: the data's per-bin scale. With ``prior="band-replication"``, in the band to invent: the
        log of the condition's compressed magnitude, its power averaged over ``prior_smoothing`` (bins, frames;
        3 and 5 by default), over sqrt(2) (so a complex
        Gaussian bin has that magnitude's power). A network that outputs zeros then samples a band near the DSP
        estimate's level with Gaussian detail (a few dB under its mean log-level: Gaussian magnitudes in the
        compressed domain spread more than the copy's); training learns the corrections.
        """
        f = self.cfg.bins
        base = self.net.sigma_data[:f].clamp_min(1e-3).log().view(1, -1, 1)
        if self.cfg.prior == "none":
            return base
        power = cond[:, :f] ** 2 + cond[:, f:] ** 2
        kf, kt = self.cfg.prior_smoothing
        smooth = nn.functional.avg_pool2d(
            power[:, None], (kf, kt), stride=1, padding=(kf // 2, kt // 2), count_include_pad=False
        )[:, 0]
        est = (smooth / 2).clamp_min(1e-6).log() / 2
        known = mask.unsqueeze(-1)
        return known * base + (1 - known) * est

    def denoise(self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition, guidance_scale: float = 1.0):
        """v-prediction for ``x_t [N, 2F, L]`` at times ``t [N]``; returns ``(v, 1)`` (one evaluation per candidate).

        This model has no classifier-free guidance; ``guidance_scale`` must be 1.
        """
        if guidance_scale != 1.0:
            raise ConfigError("the embedded model is not trained for classifier-free guidance; use guidance_scale=1")
        n = x_t.shape[0]
        c, m = cond.features["cond"], cond.features["mask"]
        pre = self.preconditioning(t, x_t.device)
        x0 = self.predict_x0(x_t, t.to(x_t.device), c.expand(n, -1, -1), m.expand(n, -1), pre=pre)
        a, s = pre[0], pre[1]
        return (a * x_t - x0) / s.clamp_min(1e-8), 1

    def regress(self, cond: Condition, n: int = 1) -> torch.Tensor:
        """The regression baseline's ``x0`` estimate ``[n, 2F, L]``: the network's mean, the input's band kept."""
        c, m = cond.features["cond"], cond.features["mask"]
        return self.regression_x0(c.expand(n, -1, -1), m.expand(n, -1))

    def regression_x0(self, cond: torch.Tensor, mask: torch.Tensor, return_features: bool = False):
        """``x0`` of the regression baseline from ``cond [N, 2F, L]`` and ``mask [N, F]`` (no noisy input, t = 0)."""
        out, feats = self.net(
            torch.zeros_like(cond), cond, mask, torch.zeros(cond.shape[0], device=cond.device), return_features=True
        )
        known = torch.cat([mask, mask], dim=1).unsqueeze(-1)
        x0 = known * cond + (1 - known) * out[:, : 2 * self.cfg.bins]
        return (x0, out, feats) if return_features else x0

    # -- output -----------------------------------------------------------------------------------------
    def consistency(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Replace bins below the cutoff by the input's, with a linear crossfade over ``crossfade_hz``."""
        f = self.codec.bin_freqs().to(x0.device)
        lo = cond.cutoff_hz - self.cfg.crossfade_hz
        w = ((cond.cutoff_hz - f) / max(self.cfg.crossfade_hz, 1e-6)).clamp(0, 1)  # 1 deep in the band, 0 above it
        w = torch.where(f <= lo, torch.ones_like(w), w)
        w = torch.cat([w, w])[None, :, None]
        return w * cond.features["cond"] + (1 - w) * x0

    def silent_frames(self, cond: Condition) -> torch.Tensor:
        """``[L]`` bool: frames whose given band (below the cutoff) is ``silence_gate_db`` or more below the input's
        loudest frame, in power. Digital silence between words, or a gated recording's pauses, hold no signal to extend."""
        f = self.cfg.bins
        c, m = cond.features["cond"][0], cond.features["mask"][0]  # [2F, L], [F]
        power = ((c[:f] ** 2 + c[f:] ** 2) ** (1 / self.cfg.compress) * m[:, None]).sum(0)  # |X|^2 from |X|^(2 * 0.3)
        return power <= power.max() * 10 ** (self.cfg.silence_gate_db / 10)

    def decode(self, x0: torch.Tensor, cond: Condition) -> np.ndarray:
        """Candidates ``x0 [N, 2F, L]`` to audio ``[N, T]`` float32 at the model rate, at the input's level.

        With ``silence_gate_db``, :meth:`silent_frames` are the input's own (nothing invented): a sample's Gaussian
        detail would put energy there that the recording cannot have, and LSD, in log power, weighs such frames heavily.
        With ``envelope_cap_db``, no frame of a candidate's band rises above band replication's envelope shifted by the
        candidate's own gain, plus that many dB (:func:`cap_band_envelope`).
        """
        z = self.consistency(x0.float(), cond)
        if self.cfg.silence_gate_db is not None:  # silent frames: exactly the input, crossfade band included
            known = torch.cat([cond.features["mask"][0]] * 2)[:, None]  # [2F, 1]: bins of the given band
            gate = self.silent_frames(cond).float()[None, None]  # [1, 1, L]
            z = z * (1 - gate) + cond.features["cond"] * known * gate
        if self.cfg.envelope_cap_db is not None:
            z = cap_band_envelope(
                z, cond.features["cond"], cond.features["mask"], self.cfg.compress, self.cfg.envelope_cap_db
            )
        y = self.codec.decode(z, cond.extra["length"]).cpu().numpy()
        return np.stack([cond.extra["loudness"].undo(r) for r in y])

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, path: str | Path, half: bool = True) -> Path:
        """Write weights as safetensors (fp16 by default) with the config in the metadata."""
        from safetensors.torch import save_file

        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        state = {
            k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
            for k, v in self.net.state_dict().items()
        }
        save_file(state, str(p), metadata={"tsr_config": json.dumps(self.cfg.to_dict()), "name": self.name})
        return p


PACKAGED = {"tiny": "tiny.safetensors", "regression": "regression.safetensors", "tiny-real": "tiny-real.safetensors"}
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def weights_path(name_or_path: str | Path) -> Path:
    """The file of a shipped model's name (:data:`PACKAGED`), or the path itself."""
    return WEIGHTS_DIR / PACKAGED[str(name_or_path)] if str(name_or_path) in PACKAGED else Path(name_or_path)


def load(name_or_path: str | Path = "tiny", device: str | torch.device = "cpu") -> TinySR:
    """Load a shipped model (``tiny``: trained on the synthetic corpus; ``tiny-real``: on real recordings, with the
    band-replication prior; ``regression``: the deterministic baseline), or a safetensors file written by
    :meth:`TinySR.save`.

    Raises :class:`CheckpointError` naming the command that makes the missing file, and ConfigError for a device
    this machine lacks (``auto``: CUDA when there is one).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    from tsrlib.devices import resolve

    device = resolve(device)

    p = weights_path(name_or_path)
    if not p.is_file() and not p.suffix:
        raise CheckpointError(
            f"no shipped model {str(name_or_path)!r} (the shipped ones: {', '.join(PACKAGED)}) and no file of that name"
        )
    if not p.is_file():
        raise CheckpointError(
            f"checkpoint {p} not found. The shipped weights live in tsrlib/models/weights/; "
            f"make them with `tsr train --mode diffusion` (or --mode regression) and `--export {p}`"
        )
    try:
        with safe_open(str(p), "pt") as f:
            meta = f.metadata() or {}
        raw = json.loads(meta["tsr_config"])
    except Exception as e:
        raise CheckpointError(f"{p}: not a tsrlib checkpoint ({e})") from None
    model = TinySR(ModelConfig.from_dict(raw), name=meta.get("name", p.stem))
    state = {k: v.float() for k, v in load_file(str(p)).items()}
    model.net.load_state_dict(state)
    return model.to(device).eval()
