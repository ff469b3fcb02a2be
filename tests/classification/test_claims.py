"""Several processes sharing one --keep-folds directory split the folds between them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline.classification import claims


@pytest.fixture
def other_process() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_claim(path: Path, host: str, pid: int) -> None:
    path.write_text(json.dumps({"host": host, "pid": pid}) + "\n")


def test_a_new_claim_is_ours_until_released(tmp_path: Path) -> None:
    path = tmp_path / "folds" / "fold0.claim"
    assert claims.claim(path)
    assert json.loads(path.read_text()) == {"host": socket.gethostname(), "pid": os.getpid()}
    assert claims.claim(path)  # claiming again is harmless
    assert not claims.held_by_other(path)
    claims.release(path)
    assert not path.exists()


def test_a_live_process_keeps_its_claim(tmp_path: Path, other_process: int) -> None:
    path = tmp_path / "fold0.claim"
    write_claim(path, socket.gethostname(), other_process)
    assert not claims.claim(path)
    assert claims.held_by_other(path)
    assert json.loads(path.read_text())["pid"] == other_process


def test_a_dead_process_loses_its_claim(tmp_path: Path) -> None:
    path = tmp_path / "fold0.claim"
    write_claim(path, socket.gethostname(), dead_pid())
    assert not claims.held_by_other(path)
    assert claims.claim(path)
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_another_hosts_claim_is_trusted(tmp_path: Path) -> None:
    path = tmp_path / "fold0.claim"
    write_claim(path, socket.gethostname() + "-elsewhere", dead_pid())
    assert not claims.claim(path)


def test_a_claim_still_being_written_is_held_and_an_old_empty_one_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "fold0.claim"
    path.write_text("")
    assert not claims.claim(path)
    assert claims.held_by_other(path)
    old = time.time() - 120
    os.utime(path, (old, old))
    assert claims.claim(path)


def test_cross_validation_trains_only_unclaimed_folds_and_reads_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, other_process: int
) -> None:
    from pipeline.classification import finetune
    from pipeline.classification.training import load_csv, splits
    from tests.factories import complaints_csv_text

    csv_file = tmp_path / "c.csv"
    csv_file.write_text(complaints_csv_text(24))
    data = load_csv(csv_file)
    aux = finetune.auxiliary_labels(csv_file)
    cfg = finetune.FinetuneConfig()
    folds = tmp_path / "folds"
    folds.mkdir()
    write_claim(folds / "fold0.claim", socket.gethostname(), other_process)

    trained: list[int] = []

    def fake_train(data: Any, aux: Any, train_idx: np.ndarray, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        trained.append(len(train_idx))
        return finetune.nn.Linear(1, 1), None

    def fake_logits(model: Any, encoder: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(texts), 1.0), np.zeros((len(texts), 4))

    monkeypatch.setattr(finetune, "train_fold", fake_train)
    monkeypatch.setattr(finetune, "predict_logits", fake_logits)
    monkeypatch.setattr(finetune, "score_precisions", lambda *a, **k: {})
    monkeypatch.setattr(finetune, "CLAIM_POLL_SECONDS", 0.05)

    _, _, te0 = splits(data, 2, 13, None)[0]
    log: list[str] = []

    def the_other_process_finishes() -> None:
        while not any("waiting for folds" in line for line in log):
            time.sleep(0.01)
        fold = {
            "test": te0.tolist(),
            "config": finetune._fold_identity(cfg, None, None),
            "complaint_logits": [-1.0] * len(te0),
            "severity_logits": [0.0] * (4 * len(te0)),
            "macro_f1_by_precision": {},
        }
        (folds / "fold0.json").write_text(json.dumps(fold) + "\n")

    helper = threading.Thread(target=the_other_process_finishes)
    helper.start()
    result = finetune.cross_validate(data, aux, 2, cfg, "cpu", log=log.append, keep_folds=folds)
    helper.join(timeout=10)

    assert len(trained) == 1  # fold 1 only; fold 0 was the other process's
    assert (folds / "fold1.json").exists() and not (folds / "fold1.claim").exists()
    assert any(line.startswith("fold 1/2: read from") for line in log)
    # Fold 0 scored from the other process's logits (all "not a complaint"), in fold order.
    assert result["folds"] == 2 and len(result["per_fold_macro_f1"]) == 2
    assert result["out_of_fold_logits"][int(te0[0])] == -1.0
