"""What an active cascade costs in a worker's state, and whether a million fit.

    .venv/bin/python -m benchmarks.state                     # per-cascade table, 1M cascades
    .venv/bin/python -m benchmarks.state --cascades 100000   # a quicker capacity run

The worker keeps its tables in memory (Faust's memory store: Python dicts), rebuilt
from their changelog topics on start. A cascade's state is its ``cascades`` entry
(counters, the root post, the arrival sketch) plus one ``participants`` entry per
author and one ``posts`` entry per post. This fills the same three stores through the
cascade stage's own code (:class:`pipeline.reach.CascadeTracker`) and reports:

- per cascade shape (root only, 10, 100 and 1,000 reposts over six hours): Python heap
  bytes (tracemalloc) and changelog bytes (JSON keys and values, what Kafka and a
  restarting worker hold);
- capacity: ``--cascades`` cascades of the median shape of the benchmark mix (a root and
  ``--reposts`` reposts), the worker process's resident memory before and after.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from pipeline.mention import parse
from pipeline.reach import CascadeTracker
from pipeline.records import BrandMatch, ClassifiedMention
from pipeline.settings import REPO_DIR
from pipeline.telemetry import procfs

T0 = 1_795_000_000.0  # 2026-11-18, any fixed instant
ACME = (BrandMatch("Acme", True, ("@AcmeCustServ",)),)
SIX_HOURS = 6 * 3600.0


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _mention(doc: dict[str, Any], root: bool) -> ClassifiedMention:
    m = parse(orjson.dumps(doc))
    if root:
        return ClassifiedMention(m, ACME, 0.93, 2, "bench")
    return ClassifiedMention(m)


def cascade(i: int, reposts: int, over: float = SIX_HOURS) -> Iterator[ClassifiedMention]:
    """A complaint and ``reposts`` reposts by distinct authors, spread over ``over`` seconds."""
    root = f"c{i}"
    start = T0 + (i % 86_400)
    yield _mention(
        {
            "id": root,
            "platform": "twitter",
            "kind": "post",
            "text": f"@AcmeCustServ my widget has been broken for {i % 30 + 2} days, third one this year. Disgusting!",
            "created_at": _iso(start),
            "author": {"id": f"u{i}", "handle": f"customer_{i}", "followers": 1_200 + i % 5_000, "verified": False},
            "url": f"https://twitter.example/customer_{i}/status/{root}",
            "lang": "en",
        },
        root=True,
    )
    for j in range(reposts):
        yield _mention(
            {
                "id": f"{root}-{j}",
                "platform": "twitter",
                "kind": "repost",
                "text": "",
                "created_at": _iso(start + over * ((j + 1) / (reposts + 1)) ** 2),
                "author": {"id": f"u{i}-{j}", "handle": f"fan_{i}_{j}", "followers": 50 + (j * 37) % 3_000},
                "parent_id": root,
                "root_id": root,
            },
            root=False,
        )


def fill(tracker: CascadeTracker, cascades: range, reposts: int) -> None:
    for i in cascades:
        for cm in cascade(i, reposts):
            tracker.apply(cm, partition=0, now=T0)


def fresh() -> CascadeTracker:
    return CascadeTracker({}, {}, {})


def changelog_bytes(tracker: CascadeTracker) -> int:
    return sum(
        len(orjson.dumps(k)) + len(orjson.dumps(v))
        for store in (tracker.cascades, tracker.participants, tracker.posts)
        for k, v in store.items()
    )


def shape(reposts: int, n: int) -> dict[str, Any]:
    """Heap and changelog bytes per cascade of one shape, over ``n`` cascades."""
    tracker = fresh()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    fill(tracker, range(n), reposts)
    tracker.drop_cache()  # a cache, not state
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    sketch = len(orjson.dumps(next(iter(tracker.cascades.values()))["arrivals"]))
    return {
        "reposts": reposts,
        "cascades": n,
        "heap_bytes_per_cascade": round(heap / n),
        "changelog_bytes_per_cascade": round(changelog_bytes(tracker) / n),
        "sketch_json_bytes": sketch,
    }


def capacity(cascades: int, reposts: int) -> dict[str, Any]:
    """``cascades`` cascades held at once: resident memory of this process, before and
    after (the worker's memory store is the same Python dicts)."""
    gc.collect()
    rss0 = procfs.memory_kib(os.getpid()) * 1024
    tracker = fresh()
    began = time.monotonic()
    step = 50_000
    for start in range(0, cascades, step):
        fill(tracker, range(start, min(start + step, cascades)), reposts)
        print(f"  {min(start + step, cascades):,} cascades, {time.monotonic() - began:.0f} s", file=sys.stderr)
    tracker.drop_cache()
    gc.collect()
    rss = procfs.memory_kib(os.getpid()) * 1024
    held = len(tracker.cascades)
    return {
        "cascades": held,
        "reposts_each": reposts,
        "entries": {
            "cascades": held,
            "participants": len(tracker.participants),
            "posts": len(tracker.posts),
        },
        "rss_before_mib": round(rss0 / 2**20, 1),
        "rss_after_mib": round(rss / 2**20, 1),
        "bytes_per_cascade": round((rss - rss0) / held),
        "seconds": round(time.monotonic() - began, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cascades", type=int, default=1_000_000, help="cascades held at once in the capacity run")
    p.add_argument("--reposts", type=int, default=2, help="reposts per cascade in the capacity run")
    p.add_argument("--sample", type=int, default=200, help="cascades per shape in the per-cascade table")
    p.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    args = p.parse_args(argv)
    result: dict[str, Any] = {
        "started": time.strftime("%Y%m%d-%H%M%S"),
        "python": platform.python_version(),
        "shapes": [shape(r, max(1, args.sample // max(1, r // 10))) for r in (0, 10, 100, 1000)],
    }
    for row in result["shapes"]:
        print(json.dumps(row), flush=True)
    if args.cascades:
        result["capacity"] = capacity(args.cascades, args.reposts)
        print(json.dumps(result["capacity"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"state-{result['started']}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
