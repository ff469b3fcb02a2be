"""Score inference precisions on the held-out folds of a finished `flashpoint model
train --keep-folds DIR` run, without retraining, and update the artifact's figures.

python models/score_precisions.py --data ../shared/data/complaints/complaints_train.csv \
    --folds-dir /tmp/folds --model-dir models/complaint

Writes smoothing.safetensors (int8 smoothing ranges of the final model, on its training
text) when missing, the per-precision macro-F1 into config.json, with --speed the
`flashpoint bench` table of this machine, and the model card.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from sklearn.metrics import f1_score

from pipeline.classification.finetune import (
    FinetuneConfig,
    MultiTask,
    predict_logits,
    score_precisions,
    smoothing_ranges,
)
from pipeline.classification.model import ComplaintModel, Encoder
from pipeline.classification.training import load_csv, model_card

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--folds-dir", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--speed", action="store_true", help="also measure and record the speed table")
    args = parser.parse_args()
    data = load_csv(args.data)
    config = json.loads((args.model_dir / "config.json").read_text())
    cfg = FinetuneConfig(**config["cross_validation"]["config"])
    scores: dict[str, list[float]] = {"fp32": []}
    for path in sorted(args.folds_dir.glob("fold*.pt"), key=lambda p: int(p.stem[4:])):
        saved = torch.load(path, weights_only=False)
        te = saved["test"]
        tr = np.setdiff1d(np.arange(len(data.texts)), te)
        encoder = Encoder(torch.device("cpu"), max_length=cfg.max_length)
        model = MultiTask(encoder, cfg.dropout)
        model.load_state_dict(saved["state"])
        model.eval()
        test_texts = [data.texts[i] for i in te]
        c, _ = predict_logits(model, encoder, test_texts)
        scores["fp32"].append(float(f1_score(data.labels[te], (c >= 0).astype(int), average="macro")))
        for precision, f1 in score_precisions(
            model, encoder, [data.texts[i] for i in tr], test_texts, data.labels[te]
        ).items():
            scores.setdefault(precision, []).append(f1)
        print(path.name, {p: round(v[-1], 4) for p, v in scores.items()}, flush=True)
    by_precision = {p: round(statistics.mean(v), 4) for p, v in scores.items()}
    print(json.dumps(by_precision))
    config["cross_validation"]["macro_f1_by_precision"] = {p: v for p, v in by_precision.items() if p != "fp32"}
    for stale in ("int8_macro_f1_mean", "int8_macro_f1_drop"):
        config["cross_validation"].pop(stale, None)
    smoothing = args.model_dir / "smoothing.safetensors"
    if not smoothing.exists():
        final = ComplaintModel.load(args.model_dir, "cpu", "fp32")
        save_file(smoothing_ranges(final.encoder, data.texts), str(smoothing))
    if args.speed:
        from pipeline.classification import bench

        model = ComplaintModel.load(args.model_dir, "auto", "fp32")
        config["speed"] = bench.run(model, (1, 8, 32, 64, 128, 256), seconds=1.0)
    (args.model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.model_dir / "MODEL_CARD.md").write_text(model_card(config))
