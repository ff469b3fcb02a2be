"""benchmarks/reach_policy.py: the policy sweep's held-out counts and plot, on small
synthetic files."""

import json
from pathlib import Path

from benchmarks import reach_policy
from tests.factories import cascade_csv_text, cascade_events, small_cascade_events


def test_the_sweep_counts_each_lean_held_out_and_draws_both_panels(tmp_path: Path) -> None:
    small = tmp_path / "small" / "events.csv"
    small.parent.mkdir()
    small.write_text(cascade_csv_text({f"s{i}": small_cascade_events(seed=i) for i in range(40)}))
    big = tmp_path / "big" / "events.csv"
    big.parent.mkdir()
    big.write_text(cascade_csv_text({f"b{i}": cascade_events(600, seed=40 + i) for i in range(4)}))
    result = reach_policy.sweep([small, big], leans=(0.0, 1.0), cv=2)
    assert set(result["datasets"]) == {"small", "big"} and "2-fold" in result["protocol"]
    for by_lean in result["datasets"].values():
        assert set(by_lean) == {"0.0", "1.0"}
        # Leaning towards the interval's top never takes a false alarm or an early warning away.
        for point, top in zip(by_lean["0.0"], by_lean["1.0"], strict=True):
            assert top["false_alarms"] >= point["false_alarms"]
            assert top["escalated_early"] >= point["escalated_early"]
    out = tmp_path / "plot.png"
    reach_policy.plot(json.loads(json.dumps(result)), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
