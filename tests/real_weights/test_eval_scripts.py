"""The quality scripts themselves, here where no real image or sound weights exist: each says why it
evaluated nothing, each runs end to end on random-weight models of the real format (figures at chance),
the score-range fit writes what the engine reads, and the per-model cost table is whole."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from engine.models import registry
from engine.models.costs import load_costs
from engine.search import score_range
from tests.real_weights._scripts import BENCH, DATA, run_script

needs_data = pytest.mark.skipif(
    not (DATA / "coco128_val2017" / "labels.csv").is_file(), reason=f"labelled photos not found at {DATA}"
)


def _skipped_or_real(result: dict) -> None:
    if "skipped" in result:
        assert "no real weights of" in result["skipped"]
    else:  # a machine that has the real weights: then it evaluated them
        assert result["real_weights"] is True


@needs_data
@pytest.mark.parametrize("script", ["eval_text_image.py", "eval_image_image.py", "fit_score_range.py"])
def test_without_real_weights_each_script_says_why(script: str, tmp_path: Path) -> None:
    out, result = run_script(script, home=tmp_path / "home")
    _skipped_or_real(result)
    if "skipped" in result:
        assert "No evaluation" in out and "--random-weights" in out


@needs_data
def test_text_image_eval_runs_on_random_weights(tmp_path: Path) -> None:
    scores = tmp_path / "scores.json"
    out, result = run_script("eval_text_image.py", "--random-weights", "--scores", str(scores), home=tmp_path)
    if result["real_weights"]:
        pytest.skip("real weights present: the real-weights tests cover this")
    assert "RANDOM WEIGHTS" in out
    assert result["caption_top1_chance"] == 0.125 and result["coco_classes"] >= 20
    assert 0.0 <= result["coco_p_at_5"] <= 1.0
    assert scores.is_file() and '"match"' in scores.read_text()


@needs_data
def test_image_image_eval_runs_on_random_weights(tmp_path: Path) -> None:
    _, result = run_script("eval_image_image.py", "--random-weights", "--classes", "6", home=tmp_path)
    if result["real_weights"]:
        pytest.skip("real weights present")
    assert result["photos"] == 48 and result["classes"] == 6
    assert result["p_at_5_chance"] == pytest.approx(7 / 47, abs=1e-3)


@needs_data
def test_a_fit_on_random_weights_is_never_written(tmp_path: Path) -> None:
    before = score_range.RANGES_FILE.read_text(encoding="utf-8")
    out, result = run_script("fit_score_range.py", "--random-weights", "--write", home=tmp_path)
    if result["real_weights"]:
        pytest.skip("real weights present")
    assert "Not written: random weights" in out and "written" not in result
    assert score_range.RANGES_FILE.read_text(encoding="utf-8") == before


def test_the_fit_finds_the_crossing_and_the_engine_reads_what_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import fit_score_range as fit
    finally:
        sys.path.remove(str(BENCH))
    rng = np.random.default_rng(0)
    match, other = rng.normal(0.30, 0.03, 300), rng.normal(0.15, 0.03, 6000)
    a, b = fit.logistic(np.r_[match, other], np.r_[np.ones(300), np.zeros(6000)])
    # Equal spreads, classes weighted equally: P = 0.5 half-way between the means.
    assert fit.at(a, b, 0.5) == pytest.approx(0.225, abs=0.005)
    low, high = fit.at(a, b, 0.05), fit.at(a, b, 0.95)
    assert 0.15 < low < 0.225 < high < 0.30

    table = tmp_path / "score_ranges.toml"
    table.write_text(score_range.RANGES_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(score_range, "RANGES_FILE", table)
    score_range.reload()
    try:
        fit.write_fit(
            "uform3-image-text-english-base", {"low": low, "high": high, "floor": 0.225, "source": "t"}, False
        )
        got = score_range.text_image_range("uform3-image-text-english-base")
        assert (got.low, got.high, got.floor) == (round(low, 4), round(high, 4), 0.225)
        assert score_range.text_image_range("uform3-image-text-english-small").floor is None  # the default
        from engine.search.results import match_from_cosine

        assert match_from_cosine(high + 0.01, "uform3-image-text-english-base") == 1.0
        assert match_from_cosine(low, "uform3-image-text-english-base") == pytest.approx(0.0, abs=1e-3)
    finally:
        score_range.reload()


def test_the_shipped_range_is_the_documented_guess_until_a_fit() -> None:
    r = score_range.text_image_range(None)
    assert (r.low, r.high) == (0.10, 0.35) or r.source.startswith("fitted")


def test_the_cost_table_has_every_image_and_sound_model() -> None:
    costs = load_costs()
    for spec in registry.MODELS.values():
        if spec.role in ("image-text", "audio", "speech"):
            assert spec.id in costs, (
                f"{spec.id} is not in model_costs.toml: run bench/bench_models.py --write"
            )
            c = costs[spec.id]
            assert c.rate > 0 and c.unit == ("photos/s" if spec.role == "image-text" else "audio h/h")
            assert c.load and c.measured and c.shape.startswith("real")
