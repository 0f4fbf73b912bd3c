"""The one duration formatter (engine.core.durations), as the CLI and the app show times."""

from __future__ import annotations

from engine.core.durations import format_duration


def test_durations_read_as_minutes_and_seconds_with_hours_when_there_are_some() -> None:
    assert [format_duration(t) for t in (0, 5.9, 83.4, 3599, 3723, -4)] == [
        "0:00", "0:05", "1:23", "59:59", "1:02:03", "0:00",
    ]  # fmt: skip
    # The CLI's results: fixed width, so moments line up in a column.
    assert [format_duration(t, padded=True) for t in (83.4, 3723, 40 * 3600)] == [
        "00:01:23", "01:02:03", "40:00:00",
    ]  # fmt: skip
