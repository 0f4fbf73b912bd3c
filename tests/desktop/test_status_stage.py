"""The status line while the slower analyzers run behind the embeddings."""

from __future__ import annotations

from desktop.status import describe
from engine.service.core import ServiceProgress


def test_an_analysis_stage_reads_as_its_label_and_counts() -> None:
    p = ServiceProgress(state="analyzing", stage="reading text in photos", stage_done=120, stage_total=1400)
    assert describe(p) == "Reading text in photos 120 / 1,400"
    p = ServiceProgress(state="analyzing", stage="reading dates", stage_done=3)
    assert describe(p) == "Reading dates 3"
    p = ServiceProgress(state="analyzing", waiting=2)
    assert describe(p) == "Analyzing files 0 · 2 files wait for models"
