from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.classification import ComplaintModel
from pipeline.classification.bench import at_precision, run, sample_posts, table
from pipeline.classification.precision import bf16_native
from pipeline.settings import Settings

pytestmark = pytest.mark.model  # loads the MiniLM encoder


def test_bench_reports_every_precision_and_both_paths() -> None:
    model = ComplaintModel.load(Settings().model_dir, "cpu")
    result = run(model, [1, 4], seconds=0.05)
    rows = {(r["precision"], r["batch_size"]): r for r in result["rows"]}
    precisions = ["fp32", "int8"] + (["bf16"] if bf16_native() else [])
    assert set(rows) == {(p, b) for p in precisions for b in (1, 4)}
    for r in rows.values():
        assert r["bare_posts_per_s"] > 0 and r["deployed_posts_per_s"] > 0
        assert r["deployed_ms_per_batch"] > 0
    assert "| int8 | 4 |" in table(result)
    assert result["machine"]["cores"]


def test_benchmarked_variants_leave_the_fp32_model_alone() -> None:
    model = ComplaintModel.load(Settings().model_dir, "cpu")
    texts = sample_posts(16)
    before = [v.complaint_probability for v in model.predict(texts)]
    b = [v.complaint_probability for v in at_precision(model, "int8", None).predict(texts)]
    assert max(abs(x - y) for x, y in zip(before, b, strict=True)) < 0.15
    at_precision(model, "bf16", None)
    assert [v.complaint_probability for v in model.predict(texts)] == before


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
