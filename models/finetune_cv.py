"""Cross-validate the fine-tuned multi-task model (slow on CPU: minutes per fold).

python models/finetune_cv.py --data ../shared/data/complaints/complaints_train.csv --folds 10
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from pipeline.classification.finetune import FinetuneConfig, cross_validate, sentiments_of
from pipeline.classification.training import load_csv

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    data = load_csv(args.data)
    result = cross_validate(data, sentiments_of(args.data), args.folds, FinetuneConfig(epochs=args.epochs))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
