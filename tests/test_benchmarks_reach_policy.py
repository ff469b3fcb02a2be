"""benchmarks/reach_policy.py: the policy sweep's counts and plot, on small synthetic files."""

import json
from pathlib import Path

from benchmarks import reach_policy
from tests.factories import cascade_csv_text, cascade_events, small_cascade_events


def test_the_sweep_counts_each_setting_and_draws_both_panels(tmp_path: Path) -> None:
    small = tmp_path / "small" / "events.csv"
    small.parent.mkdir()
    small.write_text(cascade_csv_text({f"s{i}": small_cascade_events(seed=i) for i in range(20)}))
    big = tmp_path / "big" / "events.csv"
    big.parent.mkdir()
    big.write_text(cascade_csv_text({f"b{i}": cascade_events(600, seed=40 + i) for i in range(2)}))
    result = reach_policy.sweep([small, big], min_reposts=(1, 5))
    assert set(result["datasets"]) == {"small", "big"}
    for by_n in result["datasets"].values():
        assert set(by_n) == {"1", "5"}
        # Waiting for more reposts never adds a false alarm or an early warning.
        for lo, hi in zip(by_n["1"], by_n["5"], strict=True):
            assert hi["false_alarms"] <= lo["false_alarms"] and hi["escalated_early"] <= lo["escalated_early"]
    out = tmp_path / "plot.png"
    reach_policy.plot(json.loads(json.dumps(result)), out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
