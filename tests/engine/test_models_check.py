"""``lookalike models check`` (issue 15): installed files verified, each model run once on probes, and a
damaged file reported with its name (exit status 1)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli.main import main
from engine.models.tiny import UFORM_ID


def test_check_passes_on_whole_models_and_names_a_damaged_file(home: Path, capsys) -> None:
    assert main(["models", "check", UFORM_ID, "panns-mobilenetv1", "all-minilm-l6-v2", "--json"]) == 0
    checks = json.loads(capsys.readouterr().out)
    assert [c["ok"] for c in checks] == [True, True, True]
    assert all(c["probe"] for c in checks)

    enc = home / "models" / UFORM_ID / "text_encoder.onnx"
    data = bytearray(enc.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    enc.write_bytes(bytes(data))
    assert main(["models", "check", UFORM_ID]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "text_encoder.onnx" in out


def test_check_says_what_is_missing(home: Path, capsys) -> None:
    assert main(["models", "check", "whisper-small"]) == 1
    assert "lookalike models download whisper-small" in capsys.readouterr().out
