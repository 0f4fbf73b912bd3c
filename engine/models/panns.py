"""PANNs sound encoders (Kong et al., 2020, "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition"): MobileNetV1 (default, fast) and Cnn14 (larger), loading the published AudioSet
checkpoints ``MobileNetV1_mAP=0.389.pth`` and ``Cnn14_mAP=0.431.pth`` unchanged.

Each sound gives a clip embedding (the ReLU output of ``fc1``, the layer before the AudioSet classifier:
1024-d for MobileNetV1, 2048-d for Cnn14, L2-normalised here) and 527 AudioSet class scores (the clipwise
sigmoid output, in ``engine/data/class_labels_indices.csv`` order).

Front end. The reference code computes the STFT as two 1-D convolutions whose weights (a Hann-windowed
DFT matrix, ``spectrogram_extractor.stft.conv_{real,imag}.weight``) are stored in the checkpoint. That
is a dense 513×1024 matrix product per frame; ``torch.stft`` computes the same numbers with an FFT at a
fraction of the cost, so the conv weights are only checked (they must be the Hann DFT we assume) and
then dropped. The mel matrix ``logmel_extractor.melW`` is taken from the checkpoint; :func:`mel_filterbank`
reproduces it (librosa's Slaney formula) for the test checkpoints.

Layer widths are read from the checkpoint's shapes, so narrow test checkpoints (see
:mod:`engine.models.tiny_audio`) load through exactly the code that loads the real ones.
"""

from __future__ import annotations

import logging
import math
import pickle
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ModelFileError
from engine.models.base import AudioEmbedding, l2_normalize
from engine.models.device import inference_threads

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

SAMPLE_RATE = 32_000
WINDOW = 1024
HOP = 320
MEL_BINS = 64
FMIN = 50.0
FMAX = 14_000.0
#: power_to_db floor of the reference front end (amin=1e-10, ref=1.0, top_db=None).
AMIN = 1e-10
CLASSES = 527
#: Clips shorter than this are zero-padded: the networks pool time by 32 frames (~0.32 s), and PANNs saw
#: zero padding in training (AudioSet clips shorter than 10 s were padded with zeros).
MIN_SECONDS = 1.0
#: Longer waveforms are encoded in windows of this length and combined (see PannsEncoder.encode): the
#: activations of one window of a few minutes would take gigabytes.
MAX_WINDOW_SECONDS = 60.0

CHECKPOINTS = {
    "panns-mobilenetv1": ("MobileNetV1", "MobileNetV1_mAP=0.389.pth"),
    "panns-cnn14": ("Cnn14", "Cnn14_mAP=0.431.pth"),
}

#: MobileNetV1's 14 feature blocks as published: (output width, time/frequency pooling).
MOBILENET_V1_LAYOUT = (
    (32, 2), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
CNN14_WIDTHS = (64, 128, 256, 512, 1024, 2048)


# --------------------------------------------------------------------------------------------------
# Mel filterbank: librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")
# --------------------------------------------------------------------------------------------------

_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz, 3 mel per 200 Hz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's (Auditory Toolbox) mel scale, as librosa's default (``htk=False``)."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_part = hz >= _MIN_LOG_HZ
    return np.where(log_part, _MIN_LOG_MEL + np.log(np.maximum(hz, 1e-12) / _MIN_LOG_HZ) / _LOGSTEP, mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel - _MIN_LOG_MEL)), _F_SP * mel)


def mel_filterbank(
    sr: int = SAMPLE_RATE, n_fft: int = WINDOW, n_mels: int = MEL_BINS, fmin: float = FMIN, fmax: float = FMAX
) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation, shape ``(n_mels, n_fft // 2 + 1)``, float32.

    The same numbers as ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)``
    (computed in float64, stored as float32); PANNs' ``melW`` is its transpose.
    """
    fftfreqs = np.linspace(0.0, sr / 2.0, 1 + n_fft // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def hann_dft_weights(n_fft: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The reference front end's conv STFT kernels ``(n_fft//2+1, 1, n_fft)`` (real, imaginary): the first
    half of the DFT matrix ``exp(-2πi·n·k/N)`` times a periodic Hann window, as torchlibrosa builds them.
    Used to check a checkpoint and by the tests' conv reference; inference uses ``torch.stft``."""
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
    angle = -2 * np.pi * np.outer(k, n) / n_fft
    real = (np.cos(angle) * window[None, :]).astype(np.float32)[:, None, :]
    imag = (np.sin(angle) * window[None, :]).astype(np.float32)[:, None, :]
    return real, imag


# --------------------------------------------------------------------------------------------------
# Networks (torch is imported lazily: building them is the first thing that needs it)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What a checkpoint's shapes say about its network."""

    arch: str  # "MobileNetV1" or "Cnn14"
    widths: tuple[int, ...]
    n_fft: int
    mel_bins: int
    embedding_dim: int
    classes: int


def build_network(layout: Layout) -> torch.nn.Module:
    """The PANNs network for ``layout``, with parameter names as in the published state dicts."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class LogMel(nn.Module):
        """Waveform (batch, samples) → log-mel (batch, 1, frames, mel_bins), via FFT."""

        window: torch.Tensor
        melW: torch.Tensor

        def __init__(self, n_fft: int, mel_bins: int) -> None:
            super().__init__()
            self.n_fft = n_fft
            # Not in the checkpoint; torch.hann_window(periodic=True) is librosa's get_window("hann").
            self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)
            self.register_buffer("melW", torch.zeros(n_fft // 2 + 1, mel_bins))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spec = torch.stft(
                x, self.n_fft, hop_length=HOP, win_length=self.n_fft, window=self.window,
                center=True, pad_mode="reflect", return_complex=True,
            )  # fmt: skip
            power = spec.real.square() + spec.imag.square()  # (batch, freq, frames)
            mel = torch.matmul(power.transpose(1, 2), self.melW)
            return (10.0 * torch.log10(torch.clamp(mel, min=AMIN)))[:, None]

    def conv_bn(cin: int, cout: int, pool: int) -> nn.Sequential:
        # Indices match the published state dict: 0 conv, 1 pool, 2 bn, 3 relu.
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.AvgPool2d(pool), nn.BatchNorm2d(cout), nn.ReLU(True)
        )

    def conv_dw(cin: int, cout: int, pool: int) -> nn.Sequential:
        # 0 depthwise conv, 1 pool, 2 bn, 3 relu, 4 pointwise conv, 5 bn, 6 relu.
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False), nn.AvgPool2d(pool), nn.BatchNorm2d(cin),
            nn.ReLU(True), nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        )  # fmt: skip

    class ConvBlock(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.bn2 = nn.BatchNorm2d(cout)

        def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
            x = F.relu_(self.bn1(self.conv1(x)))
            x = F.relu_(self.bn2(self.conv2(x)))
            return F.avg_pool2d(x, pool) if pool > 1 else x

    class Panns(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.logmel_extractor = LogMel(layout.n_fft, layout.mel_bins)
            self.bn0 = nn.BatchNorm2d(layout.mel_bins)
            w = layout.widths
            if layout.arch == "MobileNetV1":
                pools = [p for _, p in MOBILENET_V1_LAYOUT]
                blocks = [conv_bn(1, w[0], pools[0])]
                blocks += [conv_dw(w[i - 1], w[i], pools[i]) for i in range(1, len(w))]
                self.features = nn.Sequential(*blocks)
            else:
                for i, cout in enumerate(w):
                    setattr(self, f"conv_block{i + 1}", ConvBlock(w[i - 1] if i else 1, cout))
            self.fc1 = nn.Linear(w[-1], layout.embedding_dim)
            self.fc_audioset = nn.Linear(layout.embedding_dim, layout.classes)

        def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.body(self.logmel_extractor(wave))

        def body(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """Log-mel (batch, 1, frames, mel) → (embedding, clipwise tags)."""
            # bn0 normalises each mel bin: the reference transposes mel into the channel axis for it.
            x = self.bn0(x.transpose(1, 3)).transpose(1, 3)
            if layout.arch == "MobileNetV1":
                x = self.features(x)
            else:
                for i in range(len(layout.widths)):
                    x = getattr(self, f"conv_block{i + 1}")(x, 1 if i == len(layout.widths) - 1 else 2)
            x = x.mean(dim=3)  # over frequency
            x = x.amax(dim=2) + x.mean(dim=2)  # over time: max + mean, as published
            embedding = F.relu(self.fc1(x))
            return embedding, torch.sigmoid(self.fc_audioset(embedding))

    return Panns()


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a PANNs checkpoint (``{"model": state_dict, …}``, or a bare state dict).

    Loads with ``weights_only=True`` (no code runs from the file). Raises ModelFileError when the file is
    unreadable, truncated, not a torch checkpoint, or holds no state dict.
    """
    import torch

    # The published checkpoints may carry numpy scalars (e.g. an iteration count) beside the weights.
    safe: list[Any] = [np.dtype]
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    scalar = getattr(getattr(core, "multiarray", None), "scalar", None)
    if scalar is not None:
        safe.append(scalar)
    safe += [type(np.dtype(t)) for t in ("int64", "int32", "float64", "float32")]
    try:
        with torch.serialization.safe_globals(safe):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelFileError(f"Model file {path} is missing") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as e:
        raise ModelFileError(f"{path.name} is not a readable PANNs checkpoint: {_one_line(e)}") from e
    state = obj.get("model", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path.name} is not a PANNs checkpoint: no state dict under 'model'")
    # Checkpoints saved from DataParallel prefix every key with "module.".
    return {k.removeprefix("module."): v for k, v in state.items()}


def infer_layout(state: dict[str, torch.Tensor], arch: str) -> Layout:
    """Read the network's widths from the state dict's shapes. Raises ModelFileError when the state dict
    is not a PANNs ``arch`` network (missing layers, inconsistent shapes, another architecture)."""

    def shape(key: str) -> tuple[int, ...]:
        if key not in state:
            raise ModelFileError(f"Not a PANNs {arch} checkpoint: it has no {key!r}")
        return tuple(state[key].shape)

    n_freq, mel_bins = shape("logmel_extractor.melW")
    emb, last = shape("fc1.weight")
    classes, emb2 = shape("fc_audioset.weight")
    if arch == "MobileNetV1":
        # Block 0 is a plain conv (its weight at index 0), the others depthwise + pointwise (index 4).
        widths = [shape("features.0.0.weight")[0]]
        widths += [shape(f"features.{i}.4.weight")[0] for i in range(1, len(MOBILENET_V1_LAYOUT))]
        if f"features.{len(MOBILENET_V1_LAYOUT)}.0.weight" in state:
            raise ModelFileError("Not a PANNs MobileNetV1 checkpoint: it has more feature blocks")
    elif arch == "Cnn14":
        widths = [shape(f"conv_block{i + 1}.conv1.weight")[0] for i in range(len(CNN14_WIDTHS))]
        if "conv_block7.conv1.weight" in state:
            raise ModelFileError("Not a PANNs Cnn14 checkpoint: it has more conv blocks")
    else:
        raise ValueError(f"unknown PANNs architecture {arch!r}")
    if last != widths[-1] or emb2 != emb or n_freq < 2:
        raise ModelFileError(f"Not a PANNs {arch} checkpoint: its layer shapes do not fit together")
    return Layout(arch, tuple(widths), 2 * (n_freq - 1), mel_bins, emb, classes)


def _check_stft(state: dict[str, torch.Tensor], n_fft: int) -> None:
    """The conv STFT kernels in the checkpoint must be the Hann DFT that torch.stft reproduces."""
    real = state.get("spectrogram_extractor.stft.conv_real.weight")
    imag = state.get("spectrogram_extractor.stft.conv_imag.weight")
    if real is None or imag is None:
        return  # a checkpoint without them (e.g. re-saved without the front end): nothing to check
    want_real, want_imag = hann_dft_weights(n_fft)
    if tuple(real.shape) != want_real.shape or tuple(imag.shape) != want_imag.shape:
        raise ModelFileError("The checkpoint's STFT has an unexpected size: not a 32 kHz PANNs model")
    # Sampling rows keeps this cheap; a different window or transform fails on any row.
    rows = np.linspace(0, want_real.shape[0] - 1, 17).astype(int)
    err = max(
        float(np.abs(real.numpy()[rows] - want_real[rows]).max()),
        float(np.abs(imag.numpy()[rows] - want_imag[rows]).max()),
    )
    if err > 1e-3:
        raise ModelFileError("The checkpoint's STFT is not a Hann-window DFT: this front end cannot run it")


# --------------------------------------------------------------------------------------------------
# Encoder
# --------------------------------------------------------------------------------------------------


def fuse_mobilenet_features(features: torch.nn.Module) -> torch.nn.Module:
    """MobileNetV1's feature blocks with the same function and less work, for inference.

    Each published block is conv → AvgPool(p) → BN → ReLU [→ 1×1 conv → BN → ReLU]. Average pooling is
    linear, so a 3×3 conv followed by a 2×2 average pool is one 4×4 conv of stride 2 (kernel = the 3×3
    kernel summed over the four 2×2 offsets, / 4; same padding 1, same output size), which computes a
    quarter of the outputs; a pool of 1 is nothing at all. Batch norms fold into the conv before them.
    On CPU this removes ~30% of the network's time (the first, full-resolution conv dominated).
    """
    import torch
    from torch import nn

    def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d, pool: int) -> nn.Conv2d:
        w = conv.weight.detach()
        if pool == 2:
            k = w.shape[-1]
            w4 = w.new_zeros(*w.shape[:2], k + 1, k + 1)
            for a in (0, 1):
                for b in (0, 1):
                    w4[:, :, a : a + k, b : b + k] += w / 4
            w = w4
        assert bn.running_mean is not None and bn.running_var is not None
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        k = int(w.shape[-1])
        out = nn.Conv2d(conv.in_channels, conv.out_channels, k, stride=pool, padding=1 if k > 1 else 0,
                        groups=conv.groups, bias=True)  # fmt: skip
        with torch.no_grad():
            out.weight.copy_(w * scale[:, None, None, None])
            out.bias.copy_(bn.bias.detach() - bn.running_mean * scale)  # type: ignore[union-attr]
        return out

    blocks: list[nn.Module] = []
    for block in features.children():
        layers = list(block.children())
        conv, pool, bn = layers[0], layers[1], layers[2]
        assert (
            isinstance(conv, nn.Conv2d) and isinstance(pool, nn.AvgPool2d) and isinstance(bn, nn.BatchNorm2d)
        )
        p = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
        blocks += [folded(conv, bn, int(p)), nn.ReLU()]
        if len(layers) > 4:
            pw, pw_bn = layers[4], layers[5]
            assert isinstance(pw, nn.Conv2d) and isinstance(pw_bn, nn.BatchNorm2d)
            blocks += [folded(pw, pw_bn, 1), nn.ReLU()]
    return nn.Sequential(*blocks).eval()


def _onnx_body(net: torch.nn.Module, layout: Layout, threads: int) -> Any:
    """The network after the front end as an ONNX Runtime session, exported in memory.

    Measured on CPU (bench/bench_audio.py): ~3x faster than torch eager for MobileNetV1, whose
    depthwise convolutions and stride-1 pools torch runs poorly; outputs agree to ~1e-4. Needs the
    ``onnx`` package for torch's exporter. Raises ImportError or RuntimeError when the export fails.
    """
    import io
    import warnings

    import onnxruntime as ort
    import torch

    mobilenet = layout.arch == "MobileNetV1"

    class Body(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            if mobilenet:
                self.bn0 = net.get_submodule("bn0")
                self.fused = fuse_mobilenet_features(net.get_submodule("features"))
                self.fc1 = net.get_submodule("fc1")
                self.fc_audioset = net.get_submodule("fc_audioset")

        def forward(self, logmel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            if not mobilenet:
                return self.net.body(logmel)  # type: ignore[operator]
            x = self.bn0(logmel.transpose(1, 3)).transpose(1, 3)
            x = self.fused(x).mean(dim=3)
            x = x.amax(dim=2) + x.mean(dim=2)
            embedding = torch.relu(self.fc1(x))
            return embedding, torch.sigmoid(self.fc_audioset(embedding))

    buf = io.BytesIO()
    example = torch.zeros(1, 1, 101, layout.mel_bins)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter
        # The stub says a path; torch writes to a file object as well (no temporary file needed).
        torch.onnx.export(
            Body().eval(), (example,), buf,  # type: ignore[arg-type]
            input_names=["logmel"], output_names=["embedding", "tags"],
            dynamic_axes={"logmel": {0: "batch", 2: "frames"}}, opset_version=17, dynamo=False,
        )  # fmt: skip
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])


class PannsEncoder:
    """A PANNs network ready to encode 32 kHz mono waveforms (implements engine.models.base.AudioEncoder).

    The log-mel front end runs in torch; the rest runs in ONNX Runtime on CPU (``backend="onnx"``) or in
    torch (``"torch"``, and on CUDA/MPS). Not meant for concurrent ``encode`` calls from several threads
    (one engine thread owns the encoders); a lock makes accidental sharing merely slow, not wrong.
    """

    sample_rate = SAMPLE_RATE

    def __init__(
        self, model_id: str, net: torch.nn.Module, layout: Layout, device: str, batch_size: int, session: Any
    ) -> None:
        self.model_id = model_id
        self.layout = layout
        self.dim = layout.embedding_dim
        self.device = device
        self.batch_size = batch_size
        self.backend = "onnx" if session is not None else "torch"
        self._net = net
        self._session = session
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls, folder: Path, model_id: str, device: str = "cpu", batch_size: int = 8, backend: str = "auto"
    ) -> PannsEncoder:
        """Load ``folder/<checkpoint name>`` for ``model_id`` ("panns-mobilenetv1" or "panns-cnn14").

        ``backend``: "auto" (ONNX Runtime on CPU when the export works, else torch), "onnx" or "torch".
        Raises ModelFileError when the checkpoint is missing, unreadable or not a PANNs network of that
        kind; ValueError for an unknown model id or backend; with ``backend="onnx"``, ImportError or
        RuntimeError when the export to ONNX Runtime fails.
        """
        import torch

        if model_id not in CHECKPOINTS:
            raise ValueError(f"not a PANNs model id: {model_id!r} (known: {', '.join(CHECKPOINTS)})")
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"unknown backend {backend!r}")
        arch, filename = CHECKPOINTS[model_id]
        state = read_checkpoint(Path(folder) / filename)
        layout = infer_layout(state, arch)
        _check_stft(state, layout.n_fft)
        net = build_network(layout)
        state = {k: v for k, v in state.items() if not k.startswith("spectrogram_extractor.")}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelFileError(f"{filename} does not fit the PANNs {arch} network: {_one_line(e)}") from e
        del state
        net.eval().requires_grad_(False)
        threads = inference_threads()
        if device == "cpu":
            # torch's pool is process-wide: only ever lower it, so the decoders keep a core.
            torch.set_num_threads(max(1, min(torch.get_num_threads(), threads)))
        session = None
        if backend == "onnx" or (backend == "auto" and device == "cpu"):
            try:
                session = _onnx_body(net, layout, threads)
            except Exception as e:  # any export failure (no onnx package, an op it lacks): torch works
                if backend == "onnx":
                    raise
                log.info("PANNs runs in torch (ONNX export unavailable: %s)", _one_line(e))
        if session is not None:
            # Only the front end stays in torch; free the body's weights (320 MB for Cnn14).
            front = net.get_submodule("logmel_extractor")
            net = torch.nn.Module()
            net.add_module("logmel_extractor", front)
        net.to(device)
        return cls(model_id, net, layout, device, batch_size, session)

    def _run(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        logmel = self._net.get_submodule("logmel_extractor")(x)
        if self._session is not None:
            e, t = self._session.run(None, {"logmel": logmel.cpu().numpy()})
            return np.asarray(e, dtype=np.float32), np.asarray(t, dtype=np.float32)
        e, t = self._net.body(logmel)  # type: ignore[operator]
        return e.float().cpu().numpy(), t.float().cpu().numpy()

    def encode(self, waveforms: Sequence[np.ndarray]) -> AudioEmbedding:
        """Embed mono float32 waveforms at 32 kHz (any lengths; see :mod:`engine.media.audio`).

        Clips shorter than 1 s are zero-padded to 1 s. Clips are batched only with clips of the same
        length, so a clip's result never depends on what it was batched with. Waveforms longer than
        ``MAX_WINDOW_SECONDS`` are cut into windows of that length: the embedding is the normalised mean
        of the windows' unit embeddings and each tag score the maximum over windows (a sound present in
        any window is present in the file).

        Raises ValueError for a waveform that is not one-dimensional.
        """
        import torch

        n = len(waveforms)
        emb = np.zeros((n, self.dim), dtype=np.float32)
        tags = np.zeros((n, self.layout.classes), dtype=np.float32)
        if n == 0:
            return AudioEmbedding(emb, tags)
        # (item, window) pieces, grouped by length so each batch is one dense tensor.
        pieces: dict[int, list[tuple[int, np.ndarray]]] = {}
        win = int(MAX_WINDOW_SECONDS * SAMPLE_RATE)
        min_len = int(MIN_SECONDS * SAMPLE_RATE)
        counts = np.zeros(n, dtype=np.int64)
        for i, w in enumerate(waveforms):
            w = np.asarray(w, dtype=np.float32)
            if w.ndim != 1:
                raise ValueError(f"waveform {i} has shape {w.shape}; expected mono (samples,)")
            for s in range(0, max(len(w), 1), win):
                piece = w[s : s + win]
                if len(piece) < min_len:
                    piece = np.pad(piece, (0, min_len - len(piece)))
                pieces.setdefault(len(piece), []).append((i, piece))
                counts[i] += 1
        with self._lock, torch.inference_mode():
            for group in pieces.values():
                for b in range(0, len(group), self.batch_size):
                    batch = group[b : b + self.batch_size]
                    x = torch.from_numpy(np.stack([p for _, p in batch])).to(self.device)
                    e_np, t_np = self._run(x)
                    # Per window, so each window counts the same however loud it is.
                    e_np = l2_normalize(e_np)
                    for j, (i, _) in enumerate(batch):
                        emb[i] += e_np[j]
                        tags[i] = np.maximum(tags[i], t_np[j])
        return AudioEmbedding(l2_normalize(emb / counts[:, None]), tags)


def _one_line(e: object) -> str:
    text = " ".join(str(e).split())
    return text[:300] if text else type(e).__name__
