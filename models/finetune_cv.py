"""Cross-validate the fine-tuned multi-task model (slow on CPU: minutes per fold).

python models/finetune_cv.py --data ../shared/data/complaints/complaints_train.csv --folds 10

Any FinetuneConfig field can be overridden, e.g. --set epochs=4 --set emotion_weight=0;
--only-folds N runs the first N folds of the same split (quick comparisons);
--teacher-dir DIR distils from a teacher per fold (models/teacher.sh), and --keep-folds
DIR saves each fold so a later run (or `flashpoint model train --keep-folds DIR`, same
recipe) resumes from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from pipeline.classification.finetune import FinetuneConfig, auxiliary_labels, cross_validate
from pipeline.classification.training import load_csv

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--only-folds", type=int)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep-folds", type=Path, help="save each fold's model and scores here; resumes")
    parser.add_argument("--teacher-dir", type=Path, help="distil from this encoder, fine-tuned per fold")
    args = parser.parse_args()
    types = {f.name: f.type for f in dataclasses.fields(FinetuneConfig)}
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = {"int": int, "float": float}[str(types[key])](value)
    if args.teacher_dir is not None:
        overrides.setdefault("distil_weight", 0.5)
    cfg = dataclasses.replace(FinetuneConfig(), **overrides)
    data = load_csv(args.data)
    result = cross_validate(
        data,
        auxiliary_labels(args.data),
        args.folds,
        cfg,
        only_folds=args.only_folds,
        keep_folds=args.keep_folds,
        teacher_dir=args.teacher_dir,
    )
    logits = result.pop("out_of_fold_logits")
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps({**result, "out_of_fold_logits": logits}) + "\n")
