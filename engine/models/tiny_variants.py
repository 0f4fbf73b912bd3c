"""What the tiny random-weight stand-ins for the other UForm3 image-text models (base, large, multilingual
base) differ in; :func:`engine.models.tiny.write_tiny_uform_variant` writes them.

Each is a real-format UForm folder (config.json, tokenizer.json, image/text encoders as ONNX) that
:class:`engine.models.uform.UFormEncoder` loads unchanged, with its own embedding size so a test sees a
switch between models change the vectors' dimension. The multilingual one has a SentencePiece-style
(Unigram, ``▁`` word marks, ``<s>``/``</s>``, padding id 1) tokenizer like the XLM-R family the
multilingual UForm text tower uses, instead of the English models' BERT WordPiece: what differs in the
real files is exactly that, and that the loader reads both through ``tokenizer.json`` and the config's
``padding_idx``.
"""

from __future__ import annotations

from pathlib import Path

#: Embedding size of each tiny variant (the small one is 64, engine.models.tiny).
VARIANT_DIMS = {
    "uform3-image-text-english-base": 80,
    "uform3-image-text-english-large": 96,
    "uform3-image-text-multilingual-base": 48,
}

_WORDS = {
    "English": "a the of on in at and with dog cat beach sea sunset car house tree red blue photo",
    "Spanish": "un una el la los las de en con y perro gato playa mar atardecer coche casa árbol rojo foto",
    "French": "un une le la les de sur dans avec et chien chat plage mer coucher voiture maison",
    "German": "ein eine der die das von auf in mit und hund katze strand meer auto haus baum",
    "Portuguese": "um uma o a os as de em com e cão gato praia mar pôr do sol carro casa",
}


def write_multilingual_tokenizer(path: Path, max_len: int) -> tuple[int, int]:
    """A small SentencePiece-style Unigram tokenizer.json (XLM-R layout: ``<s>`` 0, ``<pad>`` 1,
    ``</s>`` 2, ``<unk>`` 3). Returns (vocabulary size, padding id)."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    pieces: dict[str, float] = {}
    for words in _WORDS.values():
        for w in words.split():
            pieces.setdefault("▁" + w, -5.0)
    chars = sorted({c for words in _WORDS.values() for c in words.replace(" ", "")} | set("bjkqwxyzñçäöü"))
    for c in chars:
        pieces.setdefault(c, -9.0)
        pieces.setdefault("▁" + c, -9.5)
    vocab = [(s, 0.0) for s in specials] + list(pieces.items())
    tok: Tokenizer = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.enable_truncation(max_length=max_len)
    tok.save(str(path))
    return len(vocab), 1

