"""Which device the models run on: CUDA, then Apple MPS, then CPU, unless the settings say otherwise."""

from __future__ import annotations

import os


def pick_device(setting: str = "auto") -> str:
    """Resolve a device setting ("auto", "cpu", "cuda", "mps") to the device to use.

    An explicit setting is honoured as given; "auto" probes torch (imported here, lazily) and falls back
    to "cpu" when torch is absent or sees no accelerator.
    """
    setting = (setting or "auto").lower()
    if setting != "auto":
        return setting
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def onnx_device(setting: str = "auto") -> str:
    """:func:`pick_device` for a model that runs on ONNX Runtime: "auto" asks ONNX Runtime which
    accelerators it was built with instead of importing torch (over a second on a laptop), so a text
    search over photos loads no torch at all."""
    setting = (setting or "auto").lower()
    if setting != "auto":
        return setting
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    if "CUDAExecutionProvider" in available:
        return "cuda"
    if "CoreMLExecutionProvider" in available:
        return "mps"
    return "cpu"


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime execution providers for a device, best first, limited to those installed."""
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    wanted = {
        "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        "mps": ["CoreMLExecutionProvider", "CPUExecutionProvider"],
    }.get(device, ["CPUExecutionProvider"])
    return [p for p in wanted if p in available] or ["CPUExecutionProvider"]


def inference_threads() -> int:
    """Threads for one model's inference: leave a core to the decoders when there are few."""
    env = os.environ.get("LOOKALIKE_THREADS")
    if env and env.isdigit():
        return max(1, int(env))
    n = os.cpu_count() or 2
    return max(1, n - 1) if n <= 4 else n // 2
