"""The percentile helper the benchmarks share."""

from __future__ import annotations

import pytest

from benchmarks.stats import percentile


def test_percentile_interpolates_between_neighbours() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 95) == pytest.approx(3.85)


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([7.0], 95) == 7.0


def test_percentile_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
