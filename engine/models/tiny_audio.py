"""Random-weight sound and text models in the real file formats, for tests and benchmarks.

* :func:`write_tiny_panns` writes a PANNs checkpoint with the published file name and state-dict layout
  (``{"model": state_dict}``; the conv-STFT kernels, ``melW``, ``bn0``, the blocks, ``fc1`` and
  ``fc_audioset``), loadable by :class:`engine.models.panns.PannsEncoder` like a real one.
  MobileNetV1 is written at full width by default (4.3 M parameters, ~17 MB: its cost is the real cost);
  Cnn14 at 1/16 width by default (80 M parameters would be 320 MB).
* :func:`write_tiny_minilm` writes a tiny BERT in the folder layout of
  ``sentence-transformers/all-MiniLM-L6-v2`` (config.json, model.safetensors, tokenizer.json,
  tokenizer_config.json, vocab.txt, sentence-transformers' module files).

Both write ``manifest.json`` (``"test_model": true``), so ``engine.models.registry`` treats the folder as
an installed model and the app can say its results are not meaningful.

Random weights carry no meaning, but a random convolutional network still maps a sound and its
re-encoded copy closer together than two different sounds; batch-norm statistics are calibrated on
synthetic sounds so that activations neither vanish nor explode through the layers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.models.manifest import write_manifest
from engine.models.panns import (
    CHECKPOINTS,
    CLASSES,
    CNN14_WIDTHS,
    FMAX,
    FMIN,
    MEL_BINS,
    MOBILENET_V1_LAYOUT,
    SAMPLE_RATE,
    WINDOW,
    Layout,
    build_network,
    hann_dft_weights,
    mel_filterbank,
)

if TYPE_CHECKING:
    import torch

MINILM_ID = "all-minilm-l6-v2"
_SOURCE = "engine.models.tiny_audio (random weights)"

#: Words the tiny tokenizer knows whole; anything else is spelled out in single-letter pieces.
_WORDS = (
    "a an the of on in at and with is are man woman child baby dog cat bird car train engine rain "
    "water wind music guitar piano drum voice speech crying cry laughing laugh bark barking meow "
    "siren bell door knock footsteps applause thunder sea waves fire alarm phone eating food"
)


def _calibration_sounds(seconds: float = 2.0, seed: int = 1) -> np.ndarray:
    """A batch of varied synthetic sounds (noise, tones, chirps, clicks) for batch-norm statistics."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    out = [
        0.1 * rng.standard_normal(t.size),
        0.3 * np.sin(2 * np.pi * 440 * t),
        0.3 * np.sin(2 * np.pi * (200 * t + 2000 * t**2)),
        0.2 * np.sign(np.sin(2 * np.pi * 3 * t)) * (rng.random(t.size) < 0.01),
        0.05 * np.cumsum(rng.standard_normal(t.size)) / np.sqrt(t.size),
        0.2 * np.sin(2 * np.pi * 1200 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)),
        0.3 * np.sin(2 * np.pi * 90 * t) + 0.05 * rng.standard_normal(t.size),
    ]
    return np.stack(out).astype(np.float32)


def _init_stable(net: torch.nn.Module, noise: float = 0.1) -> None:
    """Random weights that keep a sound and its slightly altered copy close through every layer.

    The published init (i.i.d. xavier kernels) makes a deep batch-normed network chaotic: zero-mean
    random 3×3 kernels act as high-pass filters, batch norm scales their output back up, and after 14
    blocks a sound and its re-encoded copy are as far apart as two unrelated sounds (measured: cosine
    0.997 at the log-mel, 0.5 after the last block). Kernels centred on a delta with small noise
    (``noise`` relative to the delta) and orthogonal channel mixing keep the network in the stable
    regime, so the random features are a faithful, if meaningless, summary of the spectrogram.
    """
    import torch

    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            w = m.weight  # (out, in/groups, kh, kw)
            with torch.no_grad():
                mix = torch.empty(w.shape[0], w.shape[1])
                if w.shape[1] == 1:
                    mix.fill_(1.0)  # depthwise (or a first layer with one input): each channel its own
                else:
                    torch.nn.init.orthogonal_(mix)
                    mix *= max(1.0, (w.shape[0] / w.shape[1]) ** 0.5)
                w.copy_(noise * torch.randn_like(w) * mix.abs().mean())
                w[:, :, w.shape[2] // 2, w.shape[3] // 2] += mix
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)


def write_tiny_panns(folder: Path, model_id: str, *, width: float | None = None, seed: int = 0) -> Path:
    """Write a random-weight PANNs checkpoint for ``model_id`` ("panns-mobilenetv1" or "panns-cnn14")
    into ``folder`` under the published file name, plus ``manifest.json``; returns the checkpoint path.

    ``width`` scales every layer's channels (default 1.0 for MobileNetV1, 1/16 for Cnn14). The front end
    (conv STFT kernels, Slaney ``melW``) is the real one. Needs torch. Raises ValueError for an unknown id.
    """
    import torch

    if model_id not in CHECKPOINTS:
        raise ValueError(f"not a PANNs model id: {model_id!r}")
    arch, filename = CHECKPOINTS[model_id]
    if width is None:
        width = 1.0 if arch == "MobileNetV1" else 1 / 16
    full = [w for w, _ in MOBILENET_V1_LAYOUT] if arch == "MobileNetV1" else list(CNN14_WIDTHS)
    widths = tuple(max(2, int(round(w * width))) for w in full)
    layout = Layout(arch, widths, WINDOW, MEL_BINS, widths[-1], CLASSES)

    torch.manual_seed(seed)
    net = build_network(layout)
    _init_stable(net)
    net.get_buffer("logmel_extractor.melW").copy_(
        torch.from_numpy(mel_filterbank(SAMPLE_RATE, WINDOW, MEL_BINS, FMIN, FMAX).T)
    )
    # Batch-norm statistics from synthetic sounds (cumulative average over one pass), so that every
    # layer sees roughly unit-variance input as in a trained network.
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    sounds = torch.from_numpy(_calibration_sounds())
    net.train()
    with torch.no_grad():
        net(sounds)
    net.eval()
    # Centre fc1 on the same sounds. Its inputs are pooled ReLU outputs, all positive, so with random
    # weights every unit's pre-activation is dominated by one sound-independent offset: all embeddings
    # would point the same way (cosine ~0.95 between any two sounds). With each unit's median removed,
    # different sounds switch on different units, as in a trained network.
    fc1 = net.get_submodule("fc1")
    assert isinstance(fc1, torch.nn.Linear)
    pre: list[torch.Tensor] = []
    hook = fc1.register_forward_hook(lambda _m, _i, out: pre.append(out.detach()))
    with torch.no_grad():
        net(sounds)
    hook.remove()
    with torch.no_grad():
        fc1.bias.sub_(pre[0].median(dim=0).values)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.01  # PANNs' value; only matters if someone trains it

    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    real, imag = hann_dft_weights(WINDOW)
    # The reference front end's STFT kernels, stored as in the published checkpoints (ignored on load).
    state = {
        "spectrogram_extractor.stft.conv_real.weight": torch.from_numpy(real),
        "spectrogram_extractor.stft.conv_imag.weight": torch.from_numpy(imag),
        **state,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    tmp = folder / (filename + ".tmp")
    torch.save({"model": state}, tmp)
    os.replace(tmp, path)
    write_manifest(folder, model_id, source=_SOURCE, test_model=True)
    return path


def _wordpiece_vocab() -> list[str]:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789.,;:'\"!?()-":
        vocab += [ch, "##" + ch]
    vocab += _WORDS.split()
    return list(dict.fromkeys(vocab))


def write_tiny_minilm(folder: Path, *, hidden_size: int = 32, seed: int = 0) -> Path:
    """Write a random-weight BERT sentence encoder in all-MiniLM-L6-v2's folder layout; returns ``folder``.

    Loadable by :class:`engine.models.minilm.MiniLMEncoder` (and by transformers' Auto classes). Needs
    torch, transformers and tokenizers.
    """
    import torch
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    words = _wordpiece_vocab()
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=None, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=128,
        do_lower_case=True,
    )
    fast.save_pretrained(str(folder))
    tok.save(str(folder / "tokenizer.json"))
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(words),
        hidden_size=hidden_size,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=128,
    )
    BertModel(config).eval().save_pretrained(str(folder), safe_serialization=True)
    # sentence-transformers' own files, so the folder also loads there as the real one does.
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {
                    "idx": 2,
                    "name": "2",
                    "path": "2_Normalize",
                    "type": "sentence_transformers.models.Normalize",
                },
            ],
            indent=2,
        ),
        encoding="utf-8",
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 128, "do_lower_case": False}), encoding="utf-8"
    )
    pooling = folder / "1_Pooling"
    pooling.mkdir(exist_ok=True)
    (pooling / "config.json").write_text(
        json.dumps({"word_embedding_dimension": hidden_size, "pooling_mode_mean_tokens": True}),
        encoding="utf-8",
    )
    write_manifest(folder, MINILM_ID, source=_SOURCE, test_model=True)
    return folder
