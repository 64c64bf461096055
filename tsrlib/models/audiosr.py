"""AudioSR (Liu et al. 2024), the paper's model, as a searchable :class:`~tsrlib.models.protocol.SRDiffusionModel`.

AudioSR is a latent diffusion model at 48 kHz: a 256-bin log-mel spectrogram (hop 480, 100 frames/s) goes through a
VAE (8x down in time and frequency) into a 16-channel latent; a UNet predicts v on that latent, conditioned by
concatenating the band-limited input's own latent; a HiFi-GAN vocoder turns the decoded mel back into audio.

This module drives the ``audiosr`` package's own classes (``LatentDiffusion``, its VAE, UNet and vocoder) step by
step through tsrlib's sampler, so every searcher and verifier runs on it unchanged:

* **explicit noises**: each candidate's ``x_T`` and per-step noise come from tsrlib's per-candidate generators, never
  torch's global RNG (upstream's ``generate_batch`` refuses an ``x_T`` and draws from the global RNG);
* **batched guidance**: cond and uncond run as one UNet batch (upstream makes two calls per step), which counts as two
  network evaluations per candidate (the searchers count them);
* **time**: tsrlib's continuous cosine time ``t`` maps to the fractional DDPM step whose ``alphas_cumprod`` has the
  same signal-to-noise ratio, so intermediate starts and stops (search over paths) land on the model's own levels;
* **decoding**: the VAE decodes x0 to a mel, the mel below the input's band is replaced by the input's (as upstream
  does), the vocoder makes audio, and the input's own low band is restored exactly (upstream rescales it by an
  energy ratio) at the input's loudness (upstream peak-normalises every output to 0.5);
* **determinism**: the condition latent is the VAE posterior's mean (upstream draws a posterior sample), and the input
  is not low-pass filtered again with a randomly chosen filter family (upstream picks one with numpy's global RNG).

**Importing the package offline.** ``import audiosr`` runs its pipeline module, which needs torchaudio (whose wheels pin
their own torch) and, through the CLAP text model every ``LatentDiffusion`` builds, downloads the ``roberta-base``
tokenizer. Super-resolution uses neither. :func:`import_audiosr` therefore loads the model classes without the package's
``__init__``, stands in placeholders for the modules super-resolution never calls (a placeholder raises
:class:`MissingDependencyError` naming itself if anything does call it), and builds ``LatentDiffusion`` with an empty
module in place of its unused CLAP member. Checkpoints load from a local file only (:func:`load`).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import io
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tsrlib import audio as tsa
from tsrlib import schedule
from tsrlib.errors import CheckpointError, TsrError
from tsrlib.models.protocol import Condition

SR = 48_000
"""AudioSR's sample rate (Hz)."""
HOP = 480
"""Mel hop (samples at 48 kHz): 100 frames per second."""
N_FFT = 2048
N_MELS = 256
UNCOND_LATENT = -11.4981
"""The constant latent upstream's concat conditioner gives for "no condition" (classifier-free guidance)."""
COND_KEY = "concat_lowpass_cond"
CHECKPOINTS = {
    "basic": "haoheliu/audiosr_basic",
    "speech": "haoheliu/audiosr_speech",
}
"""Hugging Face repositories of the two released checkpoints; each holds one ``pytorch_model.bin`` (6.2 GB)."""

INSTALL = (
    "the AudioSR backend needs the audiosr package, installed without its pins, and what it imports: "
    "`pip install --no-deps audiosr==0.0.7 && pip install 'tsrlib[audiosr]'` (README: Running on AudioSR)"
)


class MissingDependencyError(TsrError, ImportError):
    """A package or module the AudioSR backend needs is not installed, or a placeholder for one was called."""


class _Absent:
    """Stands for anything reached through a placeholder module; calling it raises :class:`MissingDependencyError`."""

    def __init__(self, path: str, why: str):
        self._path, self._why = path, why

    def __getattr__(self, name: str) -> _Absent:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Absent(f"{self._path}.{name}", self._why)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise MissingDependencyError(f"{self._path} was called, but tsrlib's AudioSR backend replaced it: {self._why}")


class _Placeholder(types.ModuleType):
    """A module that exists so that ``import`` succeeds; every attribute is an :class:`_Absent`."""

    def __init__(self, name: str, why: str):
        super().__init__(name)
        self.__path__: list[str] = []  # a package, so `import name.sub` finds placeholders too
        self._why = why

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(f"{self.__name__}.{attr}", self._why)


UNUSED_MODULES = {
    "audiosr.clap.open_clip": "the CLAP text-audio model, which super-resolution never runs",
    "audiosr.clap.training.data": "CLAP's data helpers; importing them downloads the roberta-base tokenizer",
    "audiosr.latent_diffusion.modules.audiomae.AudioMAE": "AudioMAE conditioning (needs timm), unused by AudioSR",
}
"""Modules of the audiosr package that super-resolution never calls and whose import fails or downloads offline."""
OPTIONAL_IMPORTS = {
    "torchaudio": "torchaudio serves upstream's file pipeline, which tsrlib replaces (its wheels pin their own torch)",
    "torchvision": "torchvision's make_grid serves training logs only",
    "progressbar": "progressbar serves checkpoint downloads only",
}
"""Third-party modules audiosr imports at module level but super-resolution never calls: a placeholder stands in
while the model classes import, when the module is not installed."""


class _GraphStep(nn.Module):
    """A compiled UNet's call: each call starts a new CUDA-graph step and copies its output out of the graph's memory
    (the sampler keeps one step's prediction while it makes the next, which a graph's replay would overwrite). The
    compiled function is held outside the module's registry, so it adds no weights."""

    def __init__(self, compiled: Any):
        super().__init__()
        self.__dict__["compiled"] = compiled

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(*args, **kwargs).clone()


class _NoCLAP(nn.Module):
    """Takes the place of the CLAP text-audio model every upstream ``LatentDiffusion`` builds but AudioSR never uses
    (building it would download roberta-base and hold an unused HTSAT network)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()


def import_audiosr() -> types.ModuleType:
    """audiosr's ``latent_diffusion.models.ddpm`` module (``LatentDiffusion``), imported offline (module docstring).

    Raises :class:`MissingDependencyError` with the install command when audiosr or one of its real dependencies
    (einops, librosa, transformers, ...) is missing.
    """
    name = "audiosr.latent_diffusion.models.ddpm"
    if name in sys.modules:  # imported before (here, or by the user's own `import audiosr`)
        sys.modules[name].CLAPAudioEmbeddingClassifierFreev2 = _NoCLAP
        return sys.modules[name]
    spec = importlib.util.find_spec("audiosr")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(INSTALL)
    if "audiosr" not in sys.modules:  # the package without its __init__ (which imports the download pipeline)
        pkg = types.ModuleType("audiosr")
        pkg.__path__ = list(spec.submodule_search_locations)
        pkg.__spec__, pkg.__file__ = spec, spec.origin
        sys.modules["audiosr"] = pkg
    for mod, why in UNUSED_MODULES.items():
        sys.modules.setdefault(mod, _Placeholder(mod, why))
    try:  # first, so that transformers probes for torchvision before a placeholder stands in for it
        from transformers import AutoTokenizer, RobertaTokenizer, T5Config, T5EncoderModel  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"{INSTALL}; the import failed with: {e}") from None
    stand_ins = [m for m in OPTIONAL_IMPORTS if m not in sys.modules and importlib.util.find_spec(m) is None]
    for mod in stand_ins:
        sys.modules[mod] = _Placeholder(mod, OPTIONAL_IMPORTS[mod])
        if mod == "torchvision":
            sys.modules["torchvision.utils"] = _Placeholder("torchvision.utils", OPTIONAL_IMPORTS[mod])
    import matplotlib

    use = matplotlib.use  # audiosr.utilities.tools calls matplotlib.use("Agg") on import: a notebook's figures would
    matplotlib.use = lambda *args, **kwargs: None  # stop showing, so that call does nothing while audiosr imports
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            ddpm = importlib.import_module(name)
            for mod in ("audiosr.hifigan", "audiosr.utilities.model", "audiosr.utils"):
                importlib.import_module(mod)
    except ImportError as e:
        for mod in list(sys.modules):
            if mod == "audiosr" or mod.startswith("audiosr."):
                del sys.modules[mod]
        raise MissingDependencyError(f"{INSTALL}; the import failed with: {e}") from None
    finally:
        for mod in stand_ins + (["torchvision.utils"] if "torchvision" in stand_ins else []):
            sys.modules.pop(mod, None)  # the rest of the process sees the real (absent) packages
        matplotlib.use = use
    ddpm.CLAPAudioEmbeddingClassifierFreev2 = _NoCLAP
    return ddpm


# ------------------------------------------------------------------------------------------------ configurations
REDUCED = {
    "unet": {"model_channels": 32, "channel_mult": [1, 2], "attention_resolutions": [2], "num_head_channels": 32},
    "vae": {"ch": 32, "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1},
    "vocoder": {"upsample_initial_channel": 32, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]]},
    "pad_seconds": 1.28,
}
"""The reduced configuration: the same classes at a fraction of the width (for tests and CPU benchmarks)."""


def config(reduced: bool = False) -> dict:
    """The ``LatentDiffusion`` parameters: the package's own ``basic`` configuration, or :data:`REDUCED` applied to it.

    Returns a dict with ``params`` (for ``LatentDiffusion(**params)``), ``vocoder`` (HiFi-GAN overrides, or None for
    the package's 48 kHz vocoder), ``pad_seconds`` (inputs are padded to a multiple of it: 5.12 s upstream) and
    ``reduced``. JSON-ready: a checkpoint written by :meth:`AudioSR.save` stores it.
    """
    import_audiosr()
    from audiosr.utils import get_basic_config

    params = copy.deepcopy(get_basic_config()["model"]["params"])
    params["use_ema"] = False  # upstream samples with the raw weights; an EMA copy would double the UNet's memory
    for stage in (params["first_stage_config"], params["cond_stage_config"][COND_KEY]["params"]["first_stage_config"]):
        stage["params"].pop("reload_from_ckpt", None)
    out = {"params": params, "vocoder": None, "pad_seconds": 5.12, "reduced": bool(reduced)}
    if reduced:
        params["unet_config"]["params"].update(REDUCED["unet"])
        for stage in (
            params["first_stage_config"],
            params["cond_stage_config"][COND_KEY]["params"]["first_stage_config"],
        ):
            stage["params"]["ddconfig"].update(REDUCED["vae"])
        out["vocoder"], out["pad_seconds"] = dict(REDUCED["vocoder"]), REDUCED["pad_seconds"]
    return out


def padded_samples(cfg: dict, n: int) -> int:
    """The length (samples at :data:`SR`) that an ``n``-sample input is zero-padded to under configuration ``cfg``: the
    next whole multiple of ``cfg["pad_seconds"]`` (5.12 s upstream, 1.28 s reduced)."""
    unit = int(round(cfg["pad_seconds"] * SR))
    return -(-n // unit) * unit


def build(cfg: dict, device: str | torch.device = "cpu") -> nn.Module:
    """An upstream ``LatentDiffusion`` of configuration ``cfg`` (:func:`config`), randomly initialised, in eval mode.

    With ``cfg["vocoder"]`` set, both VAEs (the first stage's and the conditioner's) get a HiFi-GAN of those settings
    in place of the package's 48 kHz one.
    """
    ddpm = import_audiosr()
    import audiosr.hifigan as hifigan
    import audiosr.latent_encoder.autoencoder as autoencoder
    from audiosr.utilities.model import get_vocoder_config_48k

    def small_vocoder(config: Any, device: Any, mel_bins: int) -> nn.Module:
        voc = hifigan.Generator_old(hifigan.AttrDict({**get_vocoder_config_48k(), **cfg["vocoder"]}))
        voc.remove_weight_norm()
        return voc.eval()

    params = copy.deepcopy(cfg["params"])
    params["device"] = torch.device(device)
    package_vocoder = autoencoder.get_vocoder
    if cfg.get("vocoder"):
        autoencoder.get_vocoder = small_vocoder
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # upstream prints parameter counts
            warnings.simplefilter("ignore", FutureWarning)  # torch's weight_norm deprecation, inside HiFi-GAN
            ld = ddpm.LatentDiffusion(**params)
    finally:
        autoencoder.get_vocoder = package_vocoder
    return ld.to(device).eval()


# ------------------------------------------------------------------------------------------------------ the model
class AudioSR:
    """AudioSR through tsrlib's model protocol.

    ``ld``: an upstream ``LatentDiffusion`` (:func:`load` or :func:`build`); ``cfg``: its :func:`config`;
    ``guidance_scale``: the classifier-free guidance the searchers use by default (3.5, upstream's).
    """

    sr = SR
    max_chunk_seconds = 10.24
    """Longest stretch one sample covers (upstream's training length); ``tsr upsample`` cuts longer files."""

    def __init__(self, ld: nn.Module, cfg: dict, *, guidance_scale: float = 3.5, name: str = "audiosr"):
        self.ld, self.cfg, self.guidance_scale, self.name = ld, cfg, float(guidance_scale), name
        self.device = next(ld.parameters()).device
        self._graph_step: _GraphStep | None = None  # the compiled UNet (:meth:`compile`), swapped in per call
        ac = ld.alphas_cumprod.detach().double().cpu()
        self._neg_logsnr = -torch.log(ac / (1 - ac))  # increasing with the DDPM step index
        import librosa

        basis = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS, fmin=20, fmax=SR // 2)
        self._mel_basis = torch.from_numpy(basis).float().to(self.device)  # [256, 1025]
        self._mel_top_hz = librosa.mel_frequencies(N_MELS + 2, fmin=20, fmax=SR // 2)[2:]  # each bin's upper edge

    # ------------------------------------------------------------------------------------- conditioning
    @staticmethod
    def stft_magnitude(x: torch.Tensor) -> torch.Tensor:
        """Upstream's STFT: ``x [B, T]`` at 48 kHz, reflect-padded by 784 samples each side -> ``|X| [B, 1025, T / 480]``."""
        pad = (N_FFT - HOP) // 2
        y = torch.nn.functional.pad(x[:, None], (pad, pad), mode="reflect")[:, 0]
        window = torch.hann_window(N_FFT, device=x.device)
        return torch.stft(y, N_FFT, HOP, N_FFT, window=window, center=False, return_complex=True).abs()

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """Upstream's log-mel front end: ``x [B, T]`` at 48 kHz -> ``[B, T / 480, 256]`` (natural log, floor 1e-5)."""
        return torch.log(torch.clamp(self._mel_basis @ self.stft_magnitude(x), min=1e-5)).transpose(1, 2)

    @torch.no_grad()
    def condition(self, lr_audio: np.ndarray, sr: int, cutoff_hz: float | None = None) -> Condition:
        """Prepare band-limited ``lr_audio [T]`` (at ``sr`` Hz, resampled to 48 kHz): mean removed and peak-normalised to
        0.5 as upstream does, zero-padded to a multiple of ``pad_seconds`` (``features["wave"]``, ``[1, T']``), its log-mel
        and the VAE posterior mean of it (the concat condition, ``[1, 16, frames / 8, 32]``)."""
        x = tsa.check_audio(lr_audio, sr, name="input", min_seconds=tsa.MIN_SECONDS)
        if sr != SR:
            x = tsa.resample(x, sr, SR)
        cutoff = tsa.band_cutoff(x, SR, cutoff_hz)
        mean = float(np.mean(x))
        gain = 0.5 / max(float(np.max(np.abs(x - mean))), 1e-8)
        n = len(x)
        padded = np.zeros(padded_samples(self.cfg, n), np.float32)
        padded[:n] = (x - mean) * gain
        wave = torch.from_numpy(padded).to(self.device)[None]
        mel = self.log_mel(wave)
        vae = self.ld.cond_stage_models[0].vae
        z = vae.encode(mel[:, None]).mode()
        cut_bin = int(np.searchsorted(self._mel_top_hz, cutoff, side="right"))
        return Condition(
            audio=x,
            sr=SR,
            cutoff_hz=cutoff,
            features={"cond": z, "mel": mel, "wave": wave},
            extra={"length": n, "gain": gain, "mean": mean, "mel_cutoff_bin": cut_bin},
        )

    def noise_shape(self, cond: Condition) -> tuple[int, ...]:
        """One candidate's latent: ``(16, frames / 8, 32)``."""
        return tuple(cond.features["cond"].shape[1:])

    # ------------------------------------------------------------------------------------------ denoising
    def model_time(self, t: torch.Tensor) -> torch.Tensor:
        """tsrlib's continuous times ``t [N]`` as fractional DDPM steps of the same signal-to-noise ratio ``[N]``."""
        a, s = schedule.alpha_sigma(t.detach().double().cpu())
        neg_logsnr = -torch.log(a.clamp_min(1e-12) ** 2 / (s**2).clamp_min(1e-12))
        steps = np.interp(neg_logsnr.numpy(), self._neg_logsnr.numpy(), np.arange(len(self._neg_logsnr)))
        return torch.from_numpy(steps).float().to(self.device)

    def denoise(
        self, x_t: torch.Tensor, t: torch.Tensor, cond: Condition, guidance_scale: float | None = None
    ) -> tuple[torch.Tensor, int]:
        """v for ``x_t [N, 16, F, 32]`` at times ``t [N]``; with guidance (``guidance_scale``, default the model's) the
        conditional and unconditional passes run as one batch of ``2N``. Returns ``(v, evaluations per candidate)``."""
        g = self.guidance_scale if guidance_scale is None else float(guidance_scale)
        n = x_t.shape[0]
        c = cond.features["cond"].to(x_t.dtype).expand(n, -1, -1, -1)
        tau = self.model_time(t)
        with self._unet_in_use():
            if g == 1.0:
                return self.ld.apply_model(x_t, tau, {COND_KEY: c}), 1
            both = self.ld.apply_model(
                torch.cat([x_t, x_t]),
                torch.cat([tau, tau]),
                {COND_KEY: torch.cat([c, torch.full_like(c, UNCOND_LATENT)])},
            )
        v_c, v_u = both.chunk(2)
        return v_u + g * (v_c - v_u), 2

    def compile(self, mode: str = "reduce-overhead", backend: str = "inductor") -> AudioSR:
        """Run the UNet under ``torch.compile`` from now on; returns this model.

        At the batch sizes of a search the full-size UNet is bound by kernel launches, not arithmetic, so on a GPU
        the default, CUDA graphs (mode ``reduce-overhead``), pays most: on an NVIDIA H200, 16 candidates of 5.12 s
        with 50 steps took 0.35x the wall time of one upstream sample in bf16 with graphs, against 0.80x in fp32 and
        0.85x in bf16 without them (``bench/audiosr.py``). The first call for each batch size compiles (a minute or
        more); on a CPU there are no graphs to gain and inductor compiles C++ first. The weights, their names
        (:meth:`state_dict`, :meth:`save`) and so the fingerprint are unchanged, as the compiled UNet is swapped in
        only while :meth:`denoise` runs; the samples are the same network's, up to the floating-point differences of
        the compiled kernels. ``backend`` other than inductor (e.g. ``eager``, which takes no mode) is for tests.
        """
        unet = self.ld.model.diffusion_model
        if self._graph_step is None:
            options = {"mode": mode} if backend == "inductor" else {}
            self._graph_step = _GraphStep(torch.compile(unet, backend=backend, **options))
        return self

    @contextlib.contextmanager
    def _unet_in_use(self):
        """The compiled UNet in the wrapper's place for one call (nothing without :meth:`compile`)."""
        if self._graph_step is None:
            yield
            return
        wrapper = self.ld.model
        eager = wrapper._modules["diffusion_model"]
        wrapper._modules["diffusion_model"] = self._graph_step
        try:
            yield
        finally:
            wrapper._modules["diffusion_model"] = eager

    # ------------------------------------------------------------------------------------------- decoding
    @torch.no_grad()
    def decode_mel(self, x0: torch.Tensor, cond: Condition) -> torch.Tensor:
        """Latents ``x0 [N, 16, F, 32]`` -> log-mels ``[N, 8F, 256]`` with the input's mel below its band (upstream)."""
        mel = self.ld.decode_first_stage(x0.float())[:, 0]
        k = cond.extra["mel_cutoff_bin"]
        mel[..., :k] = cond.features["mel"][..., :k]
        return mel

    @torch.no_grad()
    def decode(self, x0: torch.Tensor, cond: Condition) -> np.ndarray:
        """Candidates' latents ``x0 [N, 16, F, 32]`` -> audio ``[N, T]`` at 48 kHz, at the input's loudness, with the
        input's own band below its cutoff."""
        from tsrlib.upsample import crossover

        mel = self.decode_mel(x0, cond)
        wav = self.ld.first_stage_model.vocoder(mel.transpose(1, 2))[:, 0].float().cpu().numpy()
        n = cond.extra["length"]
        wav = wav[:, :n] / cond.extra["gain"] + cond.extra["mean"]
        width = min(1000.0, cond.cutoff_hz / 4)
        return np.stack([crossover(cond.audio, w.astype(np.float32), SR, cond.cutoff_hz, width) for w in wav])

    # ------------------------------------------------------------------------------------------- upstream
    def upstream_batch(self, cond: Condition) -> dict[str, torch.Tensor]:
        """The batch upstream's ``LatentDiffusion.generate_batch`` takes for ``cond``'s input (what its
        ``make_batch_for_super_resolution`` makes from a file): waveform, STFT magnitude and log-mel of the padded,
        normalised input, which here is also the low-passed input (tsrlib's input is band-limited already).

        For comparisons with the upstream path (``bench/audiosr.py``): ``self.ld.generate_batch(batch, ddim_steps=50,
        unconditional_guidance_scale=3.5)`` samples one candidate the upstream way."""
        mel, w = cond.features["mel"], cond.features["wave"]
        return {
            "waveform": w,
            "stft": self.stft_magnitude(w).transpose(1, 2),
            "log_mel_spec": mel,
            "lowpass_mel": mel,
            "waveform_lowpass": w[:, None],
            "sampling_rate": torch.tensor([SR]),
        }

    # ----------------------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, torch.Tensor]:
        """The weights (upstream's names), so that a fingerprint (:func:`tsrlib.search.cache.model_fingerprint`)
        tells two checkpoints apart."""
        return self.ld.state_dict()

    def save(self, path: str | Path) -> Path:
        """Write the weights with their configuration (``{"state_dict", "tsr_config"}``), which :func:`load` reads."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state_dict": self.ld.state_dict(), "tsr_config": self.cfg}, path)
        return path


def load(
    checkpoint: str | Path | None,
    device: str | torch.device = "cpu",
    *,
    guidance_scale: float = 3.5,
) -> AudioSR:
    """AudioSR from a local checkpoint: upstream's ``pytorch_model.bin`` (key ``state_dict``; the ``basic``
    configuration) or a file :meth:`AudioSR.save` wrote (its own configuration). Nothing is downloaded.

    Raises :class:`CheckpointError` naming what to fetch when the file is missing, unreadable, or lacks weights the
    model needs; :class:`MissingDependencyError` when the audiosr package is not installed.
    """
    from tsrlib.devices import resolve

    device = resolve(device)
    fetch = (
        "download pytorch_model.bin (6.2 GB) from https://huggingface.co/haoheliu/audiosr_basic (or audiosr_speech) "
        "on a machine with internet, copy it here and pass --checkpoint PATH"
    )
    if checkpoint is None:
        raise CheckpointError(f"the AudioSR backend needs a local checkpoint: {fetch}")
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"AudioSR checkpoint {path} not found: {fetch}")
    import_audiosr()
    try:
        try:  # memory-mapped: a 6 GB file is not read into memory twice
            raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (pre-1.6) format cannot be mapped
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {e}); {fetch}") from None
    state = raw.get("state_dict") if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'state_dict' in it; an AudioSR checkpoint has one. {fetch}")
    cfg = raw.get("tsr_config") or config()
    ld = build(cfg, "cpu")
    own = ld.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        bad = (missing + wrong)[:3]
        raise CheckpointError(
            f"{path}: {len(missing)} weights missing and {len(wrong)} of another shape than AudioSR's "
            f"(e.g. {', '.join(bad)}): not an AudioSR checkpoint of this configuration"
        )
    ld.load_state_dict({k: state[k] for k in own})
    return AudioSR(ld.to(device).eval(), cfg, guidance_scale=guidance_scale, name=path.stem)


def random_init(
    reduced: bool = True, device: str | torch.device = "cpu", seed: int = 0, guidance_scale: float = 3.5
) -> AudioSR:
    """AudioSR of the real architecture (or :data:`REDUCED`) with random weights: for tests and benchmarks offline.

    Upstream initialises some layers to zero (the UNet's output convolution among them), which would make every
    prediction exactly 0; here those get small random weights too (normal, std 0.02), so outputs depend on the input.
    """
    from tsrlib.devices import resolve

    torch.manual_seed(seed)
    cfg = config(reduced)
    ld = build(cfg, resolve(device))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in ld.parameters():
            if p.ndim > 1 and not p.any():
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return AudioSR(ld, cfg, guidance_scale=guidance_scale, name="audiosr-random")


# ------------------------------------------------------------------------------------------------ arithmetic cost
def latent_shape(cfg: dict, seconds: float) -> tuple[int, int, int]:
    """One candidate's latent ``(channels, frames / f, mel bins / f)`` for a ``seconds``-long input under configuration
    ``cfg`` (:func:`config`): the input is padded to a multiple of ``pad_seconds``, framed at :data:`HOP` (100 frames
    per second) and downsampled ``f = 2 ** (VAE levels - 1)`` times by the VAE; 5.12 s gives ``(16, 64, 32)``."""
    if seconds <= 0:
        raise TsrError(f"seconds must be positive, got {seconds}")
    samples = padded_samples(cfg, int(round(seconds * SR)))
    dd = cfg["params"]["first_stage_config"]["params"]["ddconfig"]
    f = 2 ** (len(dd["ch_mult"]) - 1)
    return int(cfg["params"]["channels"]), samples // HOP // f, int(dd["mel_bins"]) // f


def denoiser_flops(cfg: dict, seconds: float, guided: bool = True) -> int:
    """Floating-point operations of one denoising step of **one** candidate on a ``seconds``-long input: the UNet's
    matrix products, convolutions and attention as :class:`torch.utils.flop_counter.FlopCounterMode` counts them (a
    multiply-add counts 2), times two with classifier-free guidance (the cond and uncond passes). Elementwise work
    (norms, activations) is not counted. The UNet is built on the meta device: nothing is allocated or computed, so the
    full-size count takes a second on any machine. N candidates over S steps cost ``N * S`` times this."""
    import_audiosr()
    from audiosr.latent_diffusion.util import instantiate_from_config
    from torch.utils.flop_counter import FlopCounterMode

    shape = latent_shape(cfg, seconds)
    passes = 2 if guided else 1
    with torch.device("meta"), contextlib.redirect_stdout(io.StringIO()):
        unet = instantiate_from_config(cfg["params"]["unet_config"])
        x = torch.zeros(passes, shape[0] * 2, *shape[1:])  # the noisy latent with the condition latent concatenated
        t = torch.zeros(passes)
        with FlopCounterMode(display=False) as counter:
            unet(x, t, context_list=[], y=None, context_attn_mask_list=[])
    return int(counter.get_total_flops())
