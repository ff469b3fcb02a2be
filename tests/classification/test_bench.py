from __future__ import annotations

import json
import subprocess
import sys

from pipeline.classification import ComplaintModel
from pipeline.classification.bench import quantized, run, sample_posts, table
from pipeline.settings import Settings


def test_bench_reports_both_precisions_and_both_paths() -> None:
    model = ComplaintModel.load(Settings().model_dir, "cpu")
    result = run(model, [1, 4], seconds=0.05)
    rows = {(r["precision"], r["batch_size"]): r for r in result["rows"]}
    assert set(rows) == {("fp32", 1), ("fp32", 4), ("int8", 1), ("int8", 4)}
    for r in rows.values():
        assert r["bare_posts_per_s"] > 0 and r["deployed_posts_per_s"] > 0
        assert r["deployed_ms_per_batch"] > 0
    assert "| int8 | 4 |" in table(result)
    assert result["machine"]["cores"]


def test_int8_model_agrees_with_fp32_on_clear_cases() -> None:
    model = ComplaintModel.load(Settings().model_dir, "cpu")
    texts = sample_posts(16)
    a = [v.complaint_probability for v in model.predict(texts)]
    b = [v.complaint_probability for v in quantized(model).predict(texts)]
    assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 0.15


def test_predict_command_reads_lines() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "model", "predict", "-"],
        input="@AcmeCustServ my widget has been broken for 5 days, disgusting!\n\nlovely day\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    rows = [json.loads(line) for line in out]
    assert [r["text"] for r in rows] == [
        "@AcmeCustServ my widget has been broken for 5 days, disgusting!",
        "lovely day",
    ]
    assert rows[0]["complaint_probability"] > rows[1]["complaint_probability"]
    assert 1 <= rows[0]["severity"] <= 4
