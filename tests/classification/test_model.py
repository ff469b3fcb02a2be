"""The shipped complaint model, loaded as the worker loads it (no network)."""

from __future__ import annotations

import pytest
import torch

from pipeline.classification import ComplaintModel
from pipeline.classification.model import pick_device
from pipeline.settings import Settings

pytestmark = pytest.mark.model  # loads the MiniLM encoder


@pytest.fixture(scope="module")
def model() -> ComplaintModel:
    return ComplaintModel.load(Settings().model_dir, "cpu")


def test_complaints_score_above_praise_and_questions(model: ComplaintModel) -> None:
    complaints = [
        "@AcmeCustServ my widget has been broken for 5 days, disgusting!",
        "@NorthwindAir cancelled my flight and lost my luggage. Worst airline ever.",
        "Been on hold with @UmbrellaBank for 2 hours, still no refund. Useless.",
    ]
    others = [
        "Huge thanks @NorthwindAir crew for finding my bag, amazing service!",
        "@GlobexCares what time does the store open on Sunday?",
        "Beautiful sunset over the bay tonight",
    ]
    verdicts = model.predict(complaints + others)
    probs = [v.complaint_probability for v in verdicts]
    assert min(probs[:3]) > 0.6 > max(probs[3:]), probs
    assert all(1 <= v.severity <= 4 for v in verdicts)


def test_batching_does_not_change_verdicts(model: ComplaintModel) -> None:
    texts = ["short", "a much longer text about a broken widget that keeps failing " * 3, "@x ok"]
    together = model.predict(texts, batch_size=3)
    alone = [model.predict([t])[0] for t in texts]
    for a, b in zip(together, alone, strict=True):
        assert a.complaint_probability == pytest.approx(b.complaint_probability, abs=1e-5)


def test_pipeline_stages_compose(model: ComplaintModel) -> None:
    with torch.inference_mode():
        out = model.postprocess(model.forward(model.preprocess(["a", "b"])))
    assert len(out) == 2


def test_empty_batch(model: ComplaintModel) -> None:
    assert model.predict([]) == []


def test_missing_artifact_says_how_to_train(tmp_path: object) -> None:
    with pytest.raises(FileNotFoundError, match="flashpoint model train"):
        ComplaintModel.load(tmp_path, "cpu")  # type: ignore[arg-type]


def test_auto_device_matches_hardware() -> None:
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_faster_precisions_agree_with_fp32(model: ComplaintModel, precision: str) -> None:
    fast = ComplaintModel.load(Settings().model_dir, "cpu", precision)
    assert fast.encoder.precision == precision and model.encoder.precision == "fp32"
    texts = [
        "@AcmeCustServ my widget has been broken for 5 days, disgusting!",
        "lovely day at the beach",
        "@NorthwindAir still waiting for my refund, third call this week",
        "@GlobexCares thanks, all sorted now!",
    ]
    a = [v.complaint_probability for v in model.predict(texts)]
    b = [v.complaint_probability for v in fast.predict(texts)]
    assert a == pytest.approx(b, abs=0.05 if precision == "bf16" else 0.15)


def test_auto_precision_follows_the_hardware() -> None:
    from pipeline.classification.precision import bf16_native, resolve_precision

    cpu = torch.device("cpu")
    int8_fast = {"int8": 0.001, "bf16": 0.002, "fp32": 0.003}.__getitem__
    int8_slow = {"int8": 0.150, "bf16": 0.002, "fp32": 0.003}.__getitem__
    assert resolve_precision("auto", cpu, speed=int8_fast) == ("bf16" if bf16_native() else "fp32")
    assert resolve_precision("auto", cpu, int8_ok=True, speed=int8_fast) == "int8"
    # An AVX2-only CPU has no int8 dot products: int8 measured slower is not chosen.
    assert resolve_precision("auto", cpu, int8_ok=True, speed=int8_slow) == ("bf16" if bf16_native() else "fp32")
    assert resolve_precision("auto", torch.device("cuda"), int8_ok=True, speed=int8_fast) == "fp32"
    # A near tie stays fp32, so a restart does not flip the arithmetic.
    tie = {"int8": 0.0028, "bf16": 0.0029, "fp32": 0.003}.__getitem__
    assert resolve_precision("auto", cpu, int8_ok=True, speed=tie) == "fp32"
    with pytest.raises(ValueError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ValueError, match="precision must be"):
        resolve_precision("fp8", cpu)


def test_auto_precision_measures_this_cpu() -> None:
    from pipeline.classification.precision import CLEARLY_FASTER, kernel_seconds, resolve_precision

    state = torch.random.get_rng_state()
    timed = {p: kernel_seconds(p) for p in ("fp32", "int8")}
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(0 < t < 1 for t in timed.values())
    expected = "int8" if timed["int8"] * CLEARLY_FASTER < timed["fp32"] else "fp32"
    # bf16, where native, is the only other contender.
    chosen = resolve_precision("auto", torch.device("cpu"), int8_ok=True)
    assert chosen == expected or chosen == "bf16"


def test_int8_is_automatic_only_when_measured_within_half_a_point() -> None:
    from pipeline.classification.precision import int8_measured_ok

    def config(int8: float | None) -> dict[str, object]:
        by = {} if int8 is None else {"int8": int8}
        return {"cross_validation": {"macro_f1_mean": 0.87, "macro_f1_by_precision": by}}

    assert int8_measured_ok(config(0.868))
    assert not int8_measured_ok(config(0.86))
    assert not int8_measured_ok(config(None))
    assert not int8_measured_ok({})


def test_length_buckets_keep_verdicts_in_input_order(model: ComplaintModel) -> None:
    texts = [("broken widget " * (i % 7 + 1)) + ("thanks!" if i % 3 else "disgusting!") for i in range(20)]
    bucketed = model.predict(texts, batch_size=64, bucket=4)
    one_by_one = [model.predict([t])[0] for t in texts]
    for a, b in zip(bucketed, one_by_one, strict=True):
        assert a.complaint_probability == pytest.approx(b.complaint_probability, abs=1e-5)
        assert a.severity == b.severity
