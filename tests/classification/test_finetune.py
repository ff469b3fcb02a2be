"""Fine-tuning, end to end on a tiny set: the real code path that writes the shipped artifact."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from pipeline.classification import ComplaintModel
from pipeline.classification.finetune import FinetuneConfig, auxiliary_labels, train
from pipeline.classification.model import encoder_path
from tests.factories import complaints_csv_text


def test_auxiliary_labels_fold_rare_emotions_into_other(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(12))
    aux = auxiliary_labels(csv_file)
    assert set(aux) == {"sentiment", "emotion"}
    # Row order of the factory: anger, joy, sadness, other, disgust (-> other), blank (-> unknown).
    assert aux["emotion"][:6].tolist() == [1, 3, 2, 0, 0, -1]
    assert aux["sentiment"][:4].tolist() == [0, 2, 0, 1]


@pytest.mark.training
def test_train_writes_a_fine_tuned_artifact_that_loads(tmp_path: Path) -> None:
    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(24))
    cfg = dataclasses.replace(FinetuneConfig(), epochs=2, batch_size=8, lr_encoder=1e-4)
    out = tmp_path / "model"
    config = train(csv_file, out, folds=2, cfg=cfg, device="cpu", log=lambda *a: None, speed_batch_sizes=(2,))

    files = {p.name: p.stat().st_size for p in out.iterdir()}
    assert {"encoder.safetensors", "smoothing.safetensors", "head.safetensors", "config.json", "MODEL_CARD.md"} <= set(
        files
    )
    assert files["encoder.safetensors"] < 50_000_000  # fp16: fits in git
    assert json.loads((out / "config.json").read_text())["c"] is None
    card = (out / "MODEL_CARD.md").read_text()
    assert "fine-tuned" in card and "| int8 | 2 |" in card and "## Speed" in card
    cv = config["cross_validation"]
    assert cv["folds"] == 2 and set(cv["macro_f1_by_precision"]) == {"bf16", "int8"} and "out_of_fold_logits" not in cv
    # The recipe's severity head: four class logits, read as the median level.
    heads = load_file(str(out / "head.safetensors"))
    assert heads["severity.weight"].shape == (4, 384) and heads["severity.bias"].shape == (4,)
    assert config["severity_head"] == "multinomial" == cv["severity_head"]
    rated = [r for r in csv.DictReader(io.StringIO(complaints_csv_text(24))) if r["label"] == "1" and r["severity"]]
    assert sum(map(sum, cv["severity_confusion"])) == len(rated)
    assert "4-level severity head, read as the median level" in card and "| 4 blame |" in card

    # The encoder really changed, and the artifact carries the change.
    from transformers import AutoModel

    stock = AutoModel.from_pretrained(str(encoder_path()), local_files_only=True).state_dict()
    tuned = load_file(str(out / "encoder.safetensors"))
    key = "encoder.layer.0.attention.self.query.weight"
    assert tuned[key].dtype == torch.float16
    assert not torch.allclose(tuned[key].float(), stock[key], atol=1e-4)

    model = ComplaintModel.load(out, "cpu")
    rows = list(csv.DictReader(io.StringIO(complaints_csv_text(24))))
    verdicts = model.predict([r["text"] for r in rows])
    probs = np.array([v.complaint_probability for v in verdicts])
    labels = np.array([int(r["label"]) for r in rows])
    # Trained on these very rows: it must separate them.
    assert probs[labels == 1].mean() > probs[labels == 0].mean() + 0.2


@pytest.mark.training
def test_distillation_follows_the_teacher_over_the_labels(tmp_path: Path) -> None:
    from pipeline.classification.finetune import predict_logits, train_fold
    from pipeline.classification.training import load_csv

    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(24))
    data = load_csv(csv_file)
    # A teacher that contradicts every label: with all the weight on it, the student
    # must learn the teacher's view, not the labels'.
    teacher = np.where(data.labels == 1, -6.0, 6.0)
    cfg = dataclasses.replace(
        FinetuneConfig(), epochs=4, batch_size=8, lr_encoder=1e-4, distil_weight=1.0, severity_weight=0.0
    )
    idx = np.arange(len(data.texts))
    model, encoder = train_fold(data, {}, idx, cfg, "cpu", log=lambda *a: None, teacher=teacher)
    logits, _ = predict_logits(model, encoder, data.texts)
    assert logits[data.labels == 0].mean() > logits[data.labels == 1].mean()


@pytest.mark.training
def test_chatter_weight_zero_learns_from_the_brand_rows_alone(tmp_path: Path) -> None:
    from pipeline.classification.finetune import predict_logits, train_fold
    from pipeline.classification.training import load_csv

    # Every complaint again as a control-group row labelled "not a complaint": at weight
    # 1 the two cancel out; at weight 0 the control rows teach nothing.
    rows = list(csv.DictReader(io.StringIO(complaints_csv_text(24))))
    copies = [{**r, "domain": "random_tweet", "label": "0", "severity": "0"} for r in rows if r["label"] == "1"]
    csv_file = tmp_path / "c.csv"
    with csv_file.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows + copies)
    data = load_csv(csv_file)
    brand = np.array([d != "random_tweet" for d in data.domains])
    idx = np.arange(len(data.texts))
    margin = {}
    for weight in (0.0, 1.0):
        cfg = dataclasses.replace(
            FinetuneConfig(), epochs=4, batch_size=8, lr_encoder=1e-4, severity_weight=0.0, chatter_weight=weight
        )
        model, encoder = train_fold(data, {}, idx, cfg, "cpu", log=lambda *a: None)
        logits, _ = predict_logits(model, encoder, data.texts)
        margin[weight] = logits[brand & (data.labels == 1)].mean() - logits[brand & (data.labels == 0)].mean()
    assert margin[0.0] > margin[1.0] + 1.0


@pytest.mark.training
def test_a_transfer_set_teaches_what_the_labels_never_show(tmp_path: Path) -> None:
    from pipeline.classification.finetune import predict_logits, train_fold
    from pipeline.classification.training import load_csv

    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(24))
    data = load_csv(csv_file)
    # Unlabelled posts the labelled rows say nothing about, and a teacher with a firm
    # view of them: the student must learn that view from the transfer set alone.
    loud = [f"ZORBLAX quantum flux capacitor number {i}" for i in range(16)]
    quiet = [f"gentle meadow picnic afternoon number {i}" for i in range(16)]
    transfer = (loud + quiet, np.array([6.0] * 16 + [-6.0] * 16))
    cfg = dataclasses.replace(
        FinetuneConfig(), epochs=4, batch_size=8, lr_encoder=1e-4, distil_weight=1.0, severity_weight=0.0
    )
    idx = np.arange(len(data.texts))
    model, encoder = train_fold(data, {}, idx, cfg, "cpu", log=lambda *a: None, transfer=transfer)
    logits, _ = predict_logits(model, encoder, ["ZORBLAX quantum flux capacitor", "gentle meadow picnic afternoon"])
    assert logits[0] > logits[1] + 2.0


def test_perturb_makes_variants_from_the_post_and_its_donors() -> None:
    import random

    from pipeline.classification.finetune import perturb

    post = "my widget has been broken for five days and nobody answers"
    donors = ["alpha beta gamma delta epsilon"]
    variants = [perturb(post, random.Random(seed), donors) for seed in range(200)]
    allowed = set(post.split()) | set(donors[0].split())
    assert all(v and set(v.split()) <= allowed for v in variants)
    assert len(set(variants)) > 100
    assert any(set(v.split()) & set(donors[0].split()) for v in variants)  # a splice happened
    assert any(len(v.split()) < len(post.split()) for v in variants)  # a drop or a window
    # Reproducible from the generator's state.
    assert perturb(post, random.Random(7), donors) == perturb(post, random.Random(7), donors)
    # Too short to change: returned as is.
    assert perturb("broken again", random.Random(0), donors) == "broken again"


@pytest.mark.training
def test_a_teacher_distils_into_each_fold_and_a_cut_short_run_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.classification import finetune
    from pipeline.classification.training import load_csv

    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(24))
    # The packaged MiniLM stands in for the bigger teacher: the plumbing is the same.
    cfg = dataclasses.replace(
        FinetuneConfig(), epochs=1, batch_size=8, teacher_epochs=1, transfer_copies=2, distil_weight=0.5
    )
    labelled: list[int] = []
    real_label_variants = finetune.label_variants

    def spy(*args: Any, **kwargs: Any) -> tuple[list[str], np.ndarray]:
        texts, logits = real_label_variants(*args, **kwargs)
        labelled.append(len(texts))
        assert len(logits) == len(texts)
        return texts, logits

    monkeypatch.setattr(finetune, "label_variants", spy)
    folds = tmp_path / "folds"
    config = train(
        csv_file,
        tmp_path / "model",
        folds=2,
        cfg=cfg,
        device="cpu",
        log=lambda *a: None,
        speed_batch_sizes=(),
        keep_folds=folds,
        teacher_dir=encoder_path(),
    )
    # Two folds of 12 training posts and the final model's 24, two variants each.
    assert labelled == [24, 24, 48]
    assert "distilled from" in config["cross_validation"]["method"]
    assert "Distilled from a teacher" in (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert sorted(p.name for p in folds.glob("fold*.json")) == ["fold0.json", "fold1.json"]

    # Run again: every fold is read back, none retrained, and the figures are the same.
    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a saved fold was trained again")

    monkeypatch.setattr(finetune, "train_fold", no_training)
    data = load_csv(csv_file)
    aux = finetune.auxiliary_labels(csv_file)
    again = finetune.cross_validate(
        data, aux, 2, cfg, "cpu", log=lambda *a: None, keep_folds=folds, teacher_dir=encoder_path()
    )
    assert again["per_fold_macro_f1"] == config["cross_validation"]["per_fold_macro_f1"]
    assert again["macro_f1_by_precision"] == config["cross_validation"]["macro_f1_by_precision"]
    # Another recipe must not mix with the saved folds.
    with pytest.raises(ValueError, match="another split or recipe"):
        finetune.cross_validate(data, aux, 2, dataclasses.replace(cfg, epochs=2), "cpu", keep_folds=folds)
