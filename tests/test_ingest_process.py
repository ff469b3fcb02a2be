from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from pipeline.flow import Incoming
from pipeline.ingest_process import IngestProcess, InlineIngest, model_threads
from pipeline.records import ClassifiedBatch, partition_of
from pipeline.settings import Settings
from tests.factories import mention_bytes


def test_the_event_loop_process_never_imports_torch() -> None:
    # The model lives in the child: PyTorch in the worker itself would cost ~300 MB.
    code = "import sys, pipeline.app, pipeline.cli, pipeline.ingest_process; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_model_threads_leave_a_core_for_the_loop() -> None:
    assert model_threads(Settings(model_threads=3)) == 3
    assert model_threads(Settings()) == max(1, (os.cpu_count() or 2) - 1)


@pytest.fixture(scope="module")
def process() -> Iterator[IngestProcess]:
    p = IngestProcess(Settings(device="cpu"))
    yield p
    p.close()


def batch() -> list[Incoming]:
    return [
        Incoming(
            mention_bytes(id="c", text="@AcmeCustServ my widget has been broken for 5 days, disgusting!"),
            b"k",
            "m",
            0,
            0,
        ),
        Incoming(b"{not json", b"k", "m", 0, 1),
        Incoming(mention_bytes(id="u", text="Lovely sunset tonight"), b"k", "m", 0, 2),
    ]


def test_ingest_in_the_child_gives_encoded_results(process: IngestProcess) -> None:
    out = asyncio.run(process.ingest(batch()))
    # The complaint, and the sunset (it names no brand, but a brand's account may
    # answer in its conversation), each on its cascade's partition.
    items = {i["mention"]["id"]: (p, i) for p, value in out.forward for i in ClassifiedBatch.items(value)}
    assert set(items) == {"c", "u"}
    partition, item = items["c"]
    assert partition == partition_of("twitter:c", Settings().partitions)
    assert item["complaint_probability"] > 0.5 and items["u"][1]["brands"] == []
    assert items["u"][0] == partition_of("twitter:u", Settings().partitions)
    assert out.forwarded == 2
    assert out.classified == 2 and out.unmatched == 1
    ((dead, letter),) = out.dead
    assert dead.offset == 1 and letter.code == "not_json"
    assert out.batch_sizes == [2] and len(out.inference_seconds) == 1
    assert process.version and process.precision in ("fp32", "bf16", "int8")


def test_the_naive_inline_ingest_gives_the_same_results(process: IngestProcess) -> None:
    # The precision the child chose: "auto" times each at start-up, and on a busy
    # machine two timings can pick differently (and round probabilities differently).
    inline = InlineIngest(Settings(device="cpu", precision=process.precision))
    same = batch()
    ours, theirs = asyncio.run(process.ingest(same)), asyncio.run(inline.ingest(same))
    assert (ours.forward, ours.unmatched) == (theirs.forward, theirs.unmatched)
    assert [(m, d.reason) for m, d in ours.dead] == [(m, d.reason) for m, d in theirs.dead]
    assert (inline.version, inline.precision) == (process.version, process.precision)


def test_a_dead_model_process_fails_loudly_never_as_a_verdict() -> None:
    p = IngestProcess(Settings(device="cpu"))
    try:
        for pid in list(p._pool._processes):
            os.kill(pid, signal.SIGKILL)
        batch = [Incoming(mention_bytes(id="x", text="@AcmeCustServ broken"), b"k", "m", 0, 0)]
        with pytest.raises(BrokenProcessPool):
            asyncio.run(p.ingest(batch))
    finally:
        p.close()


def test_the_child_exits_when_the_worker_is_killed(tmp_path: Path) -> None:
    code = (
        "import os, sys, time\n"
        "from pipeline.ingest_process import IngestProcess\n"
        "from pipeline.settings import Settings\n"
        "p = IngestProcess(Settings(device='cpu'))\n"
        "print(*p._pool._processes, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{child}").exists():
        time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
