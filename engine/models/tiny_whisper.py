"""A Whisper model with random weights in CTranslate2's real format, for tests and benchmarks.

It goes through the same path as a real download: a transformers ``WhisperForConditionalGeneration``
(random weights) converted by CTranslate2's own ``TransformersConverter`` to ``model.bin`` +
``config.json`` + ``vocabulary.json``, with a ``tokenizer.json`` that has Whisper's special tokens in
Whisper's order (end of text, start of transcript, the languages, the tasks, no-timestamps, then the
1,501 timestamps), so faster-whisper loads and runs it exactly as it runs ``Systran/faster-whisper-*``.

``shape="test"`` is tiny (about 1 MB, for tests); ``"tiny"``, ``"base"`` and ``"small"`` have the real
models' layer sizes and vocabulary, so a benchmark on them costs what the real weights cost.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from engine.models.manifest import write_manifest

#: (d_model, layers, heads, ffn) of OpenAI's checkpoints; "test" is ours.
SHAPES: dict[str, tuple[int, int, int, int]] = {
    "test": (64, 1, 2, 128),
    "tiny": (384, 4, 6, 1536),
    "base": (512, 6, 8, 2048),
    "small": (768, 12, 12, 3072),
}
#: Whisper's multilingual vocabulary size.
REAL_VOCAB = 51_865


def _tokenizer(vocab_size: int | None) -> tuple[Any, list[str]]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    specials = (
        ["<|endoftext|>", "<|startoftranscript|>"]
        + [f"<|{code}|>" for code in _LANGUAGE_CODES]
        + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>"]
        + ["<|notimestamps|>"]
        + [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    )
    vocab = {c: i for i, c in enumerate(alphabet)}
    if vocab_size is not None:
        # Filler text tokens (pairs of byte characters) up to the real size, all below end-of-text.
        n_text = vocab_size - len(specials)
        for a in alphabet:
            for b in alphabet:
                if len(vocab) >= n_text:
                    break
                vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    return tok, _LANGUAGE_CODES


def whisper_config(shape: str, vocab_size: int, sot: int, eot: int) -> Any:
    """A transformers ``WhisperConfig`` of ``shape`` (see SHAPES), 80 mel bins, 30 s windows."""
    from transformers import WhisperConfig

    d_model, layers, heads, ffn = SHAPES[shape]
    return WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        d_model=d_model,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        bos_token_id=eot,
        suppress_tokens=[],
        begin_suppress_tokens=[eot],
    )


def write_tiny_whisper(
    folder: Path, model_id: str = "whisper-test", *, shape: str = "test", seed: int = 0
) -> Path:
    """Write a random-weight Whisper of ``shape`` in CTranslate2 format into ``folder`` (replaced)."""
    import ctranslate2
    import torch
    from transformers import WhisperForConditionalGeneration

    tok, languages = _tokenizer(None if shape == "test" else REAL_VOCAB)
    n = tok.get_vocab_size()
    sot, eot = tok.token_to_id("<|startoftranscript|>"), tok.token_to_id("<|endoftext|>")
    config = whisper_config(shape, n, sot, eot)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    gen: Any = model.generation_config  # Whisper's generation fields are set as attributes
    gen.lang_to_id = {f"<|{c}|>": tok.token_to_id(f"<|{c}|>") for c in languages}
    gen.alignment_heads = [[0, 0]]
    gen.no_timestamps_token_id = tok.token_to_id("<|notimestamps|>")
    gen.is_multilingual = True
    folder = Path(folder)
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        model.save_pretrained(hf)
        tok.save(str(hf / "tokenizer.json"))
        (hf / "preprocessor_config.json").write_text(
            json.dumps({"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30}),
            encoding="utf-8",
        )
        if folder.exists():
            shutil.rmtree(folder)
        converter = ctranslate2.converters.TransformersConverter(
            str(hf), copy_files=["tokenizer.json", "preprocessor_config.json"]
        )
        converter.convert(str(folder), quantization="int8", force=True)
    write_manifest(
        folder, model_id, source=f"engine.models.tiny_whisper ({shape}, random weights)", test_model=True
    )
    return folder
