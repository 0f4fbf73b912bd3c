"""Search quality with real weights, the day they are present (issue 15). Each test runs a bench/eval_*
script exactly as a person would and skips with the script's own reason where the real weights are not
found (bench/_evals.py: ``$LOOKALIKE_REAL_MODELS``, the user's models folder, ``../shared/assets/models``;
any layout ``lookalike models install --from`` accepts). The floors below are far above chance and below
what a working model of the class gets: they catch a broken model, preprocessing or download, not a
model a little worse than another.

all-MiniLM-L6-v2 is real here, so the words side of text → sound runs for real on every machine that has
the shared assets."""

from __future__ import annotations

import pytest

from tests.real_weights._scripts import DATA, run_script, skip_unless_evaluated

pytestmark = [
    pytest.mark.real_weights,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"labelled data not found at {DATA}"),
]


def test_each_caption_picks_its_own_photo_and_class_queries_find_their_photos() -> None:
    _, r = run_script("eval_text_image.py")
    skip_unless_evaluated(r)
    assert r["real_weights"]
    assert r["caption_top1"] == 1.0, r  # all 8 captions pick their own photo
    assert r["caption_min_margin"] > 0
    assert r["coco_p_at_5"] >= 0.5, r  # chance ≈ 0.08


@pytest.mark.parametrize(
    "model",
    [
        "uform3-image-text-english-base",
        "uform3-image-text-english-large",
        "uform3-image-text-multilingual-base",
    ],
)
def test_the_larger_models_pick_the_captions_too(model: str) -> None:
    _, r = run_script("eval_text_image.py", "--model", model)
    skip_unless_evaluated(r)
    assert r["caption_top1"] == 1.0 and r["coco_p_at_5"] >= 0.5, r


def test_similar_photos_are_of_the_same_caltech_class() -> None:
    _, r = run_script("eval_image_image.py")
    skip_unless_evaluated(r)
    assert r["photos"] == 808 and r["p_at_5"] >= 0.5, r  # chance ≈ 0.009


@pytest.fixture(scope="module")
def sound_tags() -> dict:
    """One run of bench/eval_sound_tags.py for both of its parts."""
    return run_script("eval_sound_tags.py")[1]


def test_cnn14_gives_the_published_tags_of_the_readme_clip(sound_tags: dict) -> None:
    r = sound_tags
    skip_unless_evaluated(r["published"])
    p = r["published"]
    assert p["within_tolerance"], p["diffs"]  # each of the ten within 0.05 of the README
    assert [name for name, _ in p["top10"][:2]] == ["Speech", "Telephone bell ringing"]


def test_the_words_side_of_text_to_sound_with_the_real_minilm(sound_tags: dict) -> None:
    r = sound_tags
    skip_unless_evaluated(r["words"])
    w = r["words"]
    scores = w["clip_scores"]
    # The clip is speech and a ringing telephone (the published tags stand in for the model).
    assert scores["speech"] > 0.8 and scores["a phone ringing"] > 0.5, scores
    assert w["not_it_max"] <= 0.01, scores  # a dog, rain, an engine, nonsense: nothing
    assert w["esc50_top5"] >= 0.9 and w["esc50_top1"] >= 0.8, w


def test_the_fitted_range_separates_matches() -> None:
    _, r = run_script("fit_score_range.py")
    skip_unless_evaluated(r)
    assert r["fitted"] and r["low"] < r["floor"] < r["high"], r
    assert r["cutoff_with_floor"]["good_precision"] is None or r["cutoff_with_floor"]["good_precision"] >= 0.7


@pytest.mark.parametrize("model", ["panns-mobilenetv1", "panns-cnn14"])
def test_esc50_sounds_find_their_class(model: str) -> None:
    if not (DATA / "esc50_subset" / "esc50_subset.csv").is_file():
        pytest.skip(f"ESC-50 subset not found at {DATA}")
    _, r = run_script("eval_esc50.py", "--audio-model", model)
    skip_unless_evaluated(r)
    assert r["real_weights"] and r["clips"] == 100
    assert r["sound_p_at_1"] >= 0.3, r  # chance 0.01: the other clip of the class is nearest
    assert r["text_hit_at_10"] >= 0.5, r  # the class's name finds one of its 2 clips in the top 10
