"""The before/after throughput comparison: medians per cell and their ratio."""

from __future__ import annotations

from typing import Any

from benchmarks.before_after import compare


def _run(*cells: tuple[str, int, float]) -> dict[str, Any]:
    return {"rows": [{"precision": p, "batch_size": b, "deployed_posts_per_s": v} for p, b, v in cells]}


def test_each_cell_is_the_median_over_rounds_and_after_is_divided_by_before() -> None:
    before = [_run(("fp32", 64, 100.0), ("fp32", 1, 10.0)), _run(("fp32", 64, 110.0), ("fp32", 1, 12.0))]
    after = [_run(("fp32", 64, 99.0), ("fp32", 1, 11.0)), _run(("fp32", 64, 101.0), ("fp32", 1, 11.0))]
    rows = compare(before, after)
    assert [(r["batch_size"], r["before_posts_per_s"], r["after_posts_per_s"]) for r in rows] == [
        (1, 11.0, 11.0),
        (64, 105.0, 100.0),
    ]
    assert rows[1]["after_over_before"] == round(100.0 / 105.0, 3)


def test_a_cell_only_one_side_has_is_left_out() -> None:
    assert compare([_run(("int8", 8, 5.0))], [_run(("fp32", 8, 5.0))]) == []
