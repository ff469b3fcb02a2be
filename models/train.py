"""Train the complaint heads and write models/complaint/ (artifact + MODEL_CARD.md).

    python models/train.py --data ../shared/data/complaints/complaints_train.csv

Same as ``flashpoint model train``; the method is described in
pipeline/classification/training.py and in the model card it writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pipeline.classification.training import train

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "complaint")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    config = train(args.data, args.out, folds=args.folds, device=args.device)
    print(json.dumps(config["cross_validation"], indent=2))
