"""End-to-end benchmark: the real worker on a real single-node Kafka, on this machine.

    .venv/bin/python -m benchmarks.pipeline                  # starts its own broker
    .venv/bin/python -m benchmarks.pipeline --bootstrap 127.0.0.1:9092 --mentions 20000

One run measures, on the same cores and one after the other (never overlapping):

1. **limit**: the bare encoder forward pass at the pipeline's batch size and precision,
   in posts per second (pre-tokenised, padded input: the model's ceiling);
2. **saturation**: a backlog of the mix (default 30% originals, 70% reposts over many
   cascades, :mod:`pipeline.loadgen`) produced as fast as Kafka takes it, the worker
   draining it: mentions and classified posts per second, CPU, peak memory;
3. **repost path**: the cascade stage alone (reach update and escalation check) on a
   backlog of already classified mentions, 99% of them reposts;
4. **latency**: the mix offered at fractions of the saturation rate (default 50% and
   90%) for ``--latency-seconds``: end-to-end latency of each escalation, from its
   mention's send to Kafka to the escalation's arrival at a read_committed consumer
   (what ops see), p50, p95 and p99;
5. **naive**: `flashpoint worker --naive`, the same pipeline classifying one mention at a
   time on the event loop.

It prints the ratios and writes ``<out>/pipeline-<stamp>.json`` and a PNG plot of
throughput and latency against offered load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from pipeline import flow
from pipeline.agents.ingest import MENTIONS_PER_BATCH
from pipeline.brands import Watchlist
from pipeline.classification.verdict import Verdict
from pipeline.flow import Incoming
from pipeline.kafka_admin import ensure_topics, security, topic_names
from pipeline.loadgen import WATCHLIST, Replayer, Workload, workload
from pipeline.records import ClassifiedBatch, ClassifiedMention
from pipeline.settings import REPO_DIR, Settings
from pipeline.telemetry import procfs

# -- the worker process -------------------------------------------------------------------


@dataclass
class Worker:
    settings: Settings
    log: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ)
        for var, _default, _doc in Settings.describe():
            env[var] = str(getattr(self.settings, var.removeprefix("FLASHPOINT_").lower()))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "worker", *self.args],
            env=env,
            stdout=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _get(self, path: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.settings.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

    def check(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise SystemExit(f"worker exited {self.proc.returncode}; see {self.log}")

    def wait_ready(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            with contextlib.suppress(OSError):
                if self._get("/ready")[0] == 200:
                    return
            time.sleep(0.3)
        raise SystemExit(f"worker not ready after {timeout}s; see {self.log}")

    def counters(self) -> dict[str, float]:
        """Every sample of /metrics, labels included in the name."""
        out: dict[str, float] = {}
        for line in self._get("/metrics")[1].splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return procfs.cpu_seconds(self.proc.pid)

    def peak_rss_mib(self) -> float:
        """Peak resident memory of the worker plus its model process (each one's peak)."""
        assert self.proc is not None
        return procfs.memory_kib(self.proc.pid, "VmHWM") / 1024


@contextlib.contextmanager
def running(
    s: Settings, log: Path, workers: int = 1, ready: bool = True, args: tuple[str, ...] = ()
) -> Iterator[list[Worker]]:
    asyncio.run(ensure_topics(s))
    ws = [
        Worker(replace(s, metrics_port=free_port(), data_dir=s.data_dir / str(i)), log.with_suffix(f".{i}.log"), args)
        for i in range(workers)
    ]
    try:
        for w in ws:
            w.settings.data_dir.mkdir(parents=True, exist_ok=True)
            w.start()
        for w in ws:
            if ready:
                w.wait_ready()
        yield ws
    finally:
        for w in ws:
            w.stop()
        asyncio.run(drop_topics(s))


async def drop_topics(s: Settings) -> None:
    """Delete a finished phase's topics, changelogs included. Left behind, the broker
    kept working on them in the next phase: the first latency run after a 60,000-mention
    repost phase found it using 0.9 of the two cores and fell behind."""
    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap_servers, request_timeout_ms=15000, **security(s))
    await admin.start()
    try:
        # Its own topics by name, and what Faust made for its app (changelogs, the
        # assignor's): never a prefix that could match another phase's or real topics.
        named = set(topic_names(s))
        mine = [t for t in await admin.list_topics() if t in named or t.startswith(f"{s.app_id}-")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


@contextlib.contextmanager
def spy(w: Worker, log: Path, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    assert w.proc is not None
    out = log.with_suffix(".speedscope.json")
    spy_bin = Path(sys.executable).parent / "py-spy"
    if not spy_bin.exists():
        raise SystemExit(f"--profile needs py-spy ({spy_bin}): deploy/setup.sh installs it")
    cmd = [str(spy_bin), "record", "--pid", str(w.proc.pid), "--rate", "200"]
    cmd += ["--format", "speedscope", "--output", str(out), "--idle"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        proc.wait(timeout=60)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def versus(spec: str) -> dict[str, Any]:
    """``"a=1,b=2"``: those settings, parsed as the environment would be."""
    pairs = dict(item.split("=", 1) for item in spec.split(",") if item.strip())
    parsed = Settings.from_env({f"FLASHPOINT_{k.strip().upper()}": v for k, v in pairs.items()})
    return {k.strip(): getattr(parsed, k.strip()) for k in pairs}


def fresh(base: Settings, **changes: Any) -> Settings:
    """Topics and a consumer group of their own for one phase."""
    run = f"b{uuid.uuid4().hex[:8]}"
    named: dict[str, Any] = {
        f.name: f"{run}.{getattr(base, f.name)}" for f in fields(base) if f.name.startswith("topic_")
    }
    return replace(base, app_id=f"flashpoint-{run}", **named, **changes)


# -- phases -------------------------------------------------------------------------------


def limit(s: Settings, seconds: float, repeats: int = 3) -> dict[str, Any]:
    """The bare forward pass (and the deployed classify path) at the worker's batch size,
    precision and model thread count, in this process, with nothing else running. Best
    of ``repeats``: on a shared machine a single timing can be several times too slow."""
    import torch

    from pipeline.classification import ComplaintModel
    from pipeline.classification.bench import run
    from pipeline.ingest_process import model_threads

    threads = torch.get_num_threads()
    torch.set_num_threads(model_threads(s))
    try:
        precision = ComplaintModel.load(s.model_dir, s.device, s.precision).encoder.precision
        fp32 = ComplaintModel.load(s.model_dir, s.device, "fp32")
        runs = [run(fp32, [s.batch_size], seconds=seconds, precisions=[precision]) for _ in range(repeats)]
    finally:
        torch.set_num_threads(threads)
    rows = [r["rows"][0] for r in runs]
    best = max(rows, key=lambda r: r["bare_posts_per_s"])
    return {
        "machine": runs[0]["machine"],
        "precision": precision,
        "model_threads": model_threads(s),
        **best,
        "bare_posts_per_s_runs": [r["bare_posts_per_s"] for r in rows],
        "deployed_posts_per_s_runs": [r["deployed_posts_per_s"] for r in rows],
    }


@dataclass
class Drain:
    mentions: int
    seconds: float
    mentions_per_s: float
    classified_per_s: float
    cascade_events_per_s: float
    cpu_cores: float
    peak_rss_mib: float
    escalations: int
    commits: int
    commit_ms_mean: float
    batch_mean: float  # texts per classification batch
    inference_ms_mean: float  # per batch
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, ingested, tracked)


def saturate(
    s: Settings,
    load: Workload,
    log: Path,
    workers: int = 1,
    profile: bool = False,
    classified: bool = False,
    args: tuple[str, ...] = (),
) -> Drain:
    """Produce ``load`` as fast as Kafka takes it and time the workers draining it.
    ``classified``: ``load`` is already classified, straight into the cascade stage.
    ``profile``: py-spy samples the first worker meanwhile (``<log>.speedscope.json``)."""
    # The backlog is in Kafka before the workers start: the producer does not compete
    # with them for the cores.
    asyncio.run(ensure_topics(s))
    topic = s.topic_classified if classified else s.topic_mentions
    sender = Replayer(s.bootstrap_servers, topic, load.messages, rate=1e9, partitions=load.partitions)
    mentions = load.mentions or len(load)
    sender.start()
    sender.join()
    if sender.error is not None:
        raise SystemExit(f"producer failed: {sender.error!r}")
    # Watched from the workers' start: they take the backlog as soon as they have
    # partitions, which can be before they report ready.
    with running(s, log, workers, ready=False, args=args) as ws, spy(ws[0], log, profile):
        began = time.monotonic()
        samples: list[tuple[float, float, float]] = []
        cpu: list[float] = []
        last_change, last = time.monotonic(), (-1.0, -1.0, -1.0)
        while True:
            time.sleep(SAMPLE_SECONDS)
            try:
                c = _sum([w.counters() for w in ws])
            except OSError:  # not serving metrics yet
                c = {}
                for w in ws:
                    w.check()
                if time.monotonic() - began > 240:
                    raise SystemExit(f"no metrics after 240 s; see {log}") from None
            ingested = sum(c.get(f'flashpoint_mentions_total{{outcome="{o}"}}', 0.0) for o in INGEST_OUTCOMES)
            tracked = c.get("flashpoint_cascade_events_total", 0.0)
            tracked += c.get('flashpoint_mentions_total{outcome="duplicate"}', 0.0)
            escalated = c.get("flashpoint_escalations_total", 0.0)
            now = time.monotonic()
            samples.append((now - began, ingested, tracked))
            cpu.append(sum(w.cpu_seconds() for w in ws))
            if (ingested, tracked, escalated) != last:
                last, last_change = (ingested, tracked, escalated), now
            # Done when every message was ingested, every forwarded one tracked, and the
            # desk has gone quiet (its escalations follow the cascade stage's).
            matched = mentions if classified else c.get('flashpoint_mentions_total{outcome="matched"}', 0.0)
            if (classified or ingested >= mentions) and tracked >= matched and now - last_change > 3:
                break
            if now - last_change > 120 and (ingested + tracked > 0 or now - began > 300):
                raise SystemExit(f"stalled at {ingested:.0f}/{mentions} ingested, {tracked:.0f} tracked; see {log}")
        # From the last sample before any work to the first sample after the last.
        end = min(i for i, (t, n, k) in enumerate(samples) if (n, k) == last[:2])
        start = min(i for i, (t, n, k) in enumerate(samples) if (k if classified else n) > 0) - 1
        seconds = samples[end][0] - samples[start][0]
        c = _sum([w.counters() for w in ws])
        return Drain(
            mentions=mentions,
            seconds=round(seconds, 2),
            mentions_per_s=round(mentions / seconds, 1),
            classified_per_s=round(c.get("flashpoint_classified_total", 0.0) / seconds, 1),
            cascade_events_per_s=round(last[1] / seconds, 1),
            cpu_cores=round((cpu[end] - cpu[start]) / seconds, 2),
            peak_rss_mib=round(max(w.peak_rss_mib() for w in ws), 1),
            escalations=int(last[2]),
            commits=int(c.get("flashpoint_commit_seconds_count", 0.0)),
            batch_mean=round(_mean(c, "flashpoint_inference_batch_size"), 1),
            inference_ms_mean=round(1000 * _mean(c, "flashpoint_inference_seconds"), 1),
            commit_ms_mean=round(
                1000
                * c.get("flashpoint_commit_seconds_sum", 0.0)
                / max(1.0, c.get("flashpoint_commit_seconds_count", 0.0)),
                2,
            ),
            samples=samples,
        )


INGEST_OUTCOMES = ("matched", "unmatched", "dead_letter")
SAMPLE_SECONDS = 0.1


def _mean(c: dict[str, float], histogram: str) -> float:
    return c.get(f"{histogram}_sum", 0.0) / max(1.0, c.get(f"{histogram}_count", 0.0))


def _sum(counters: list[dict[str, float]]) -> dict[str, float]:
    """Workers' samples added up; plus, for each metric, the sum over its labels."""
    out: dict[str, float] = {}
    for c in counters:
        for name, v in c.items():
            out[name] = out.get(name, 0.0) + v
            if "{" in name:
                bare = name.split("{", 1)[0]
                out[bare] = out.get(bare, 0.0) + v
    return out


class _Keywords:
    """Verdicts for the repost-path phase, whose 1% of originals need no real model."""

    version = "bench-keywords"

    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[Verdict]:
        words = ("broken", "refund", "charged", "cancelled", "so's")
        return [Verdict(0.9 if any(w in t for w in words) else 0.1, 3) for t in texts]


def preclassified(load: Workload, s: Settings) -> Workload:
    """``load`` as the cascade stage's input: the ingest step run here, in process, on
    as many mentions at a time as the worker's ingest agent takes at saturation."""
    watchlist = Watchlist.load(s.watchlist)
    batch = [Incoming(v, k, s.topic_mentions, 0, i) for i, (k, v) in enumerate(load.messages)]
    step = s.batch_size * MENTIONS_PER_BATCH
    records: list[tuple[int, bytes]] = []
    mentions = 0
    for i in range(0, len(batch), step):
        out = flow.ingest(batch[i : i + step], watchlist, _Keywords(), datetime.now(UTC)).encoded(s.partitions)
        records += out.forward
        mentions += out.forwarded
    return Workload(
        [(b"", v) for _, v in records], 0, load.texts, partitions=[p for p, _ in records], mentions=mentions
    )


# The latency phase's p99 per window of this many seconds of send time.
WINDOW_SECONDS = 10


def offered(s: Settings, load: Workload, rate: float, log: Path, warmup: Workload | None = None) -> dict[str, Any]:
    """Offer ``load`` at ``rate`` mentions/s; each escalation's latency as ops see it.
    ``warmup``: offered first, at the same rate, its escalations reported apart: a
    worker's first seconds (its first batches, transactions and fetches on new topics)
    are not its steady state."""
    warm_n = len(warmup) if warmup else 0
    if warmup:
        load = Workload(
            messages=warmup.messages + load.messages,
            bad=warmup.bad + load.bad,
            texts=warmup.texts + load.texts,
            events=warmup.events + load.events,
        )
    with running(s, log) as (w,):
        cpu0 = w.cpu_seconds()
        sender = Replayer(s.bootstrap_servers, s.topic_mentions, load.messages, rate=rate)
        arrivals: list[tuple[float, bytes]] = []
        decisions: dict[tuple[str, str, str], tuple[float, float]] = {}
        classified: dict[tuple[str, float], float] = {}
        began = time.monotonic()
        sender.start()
        asyncio.run(_receive(s, sender, arrivals, decisions, classified))
        cpu = w.cpu_seconds() - cpu0
        elapsed = time.monotonic() - began
        peak = w.peak_rss_mib()
        c = w.counters()
    # An escalation's trigger is its cascade's latest mention: (cascade, last_event_at).
    sent = {
        (f"twitter:{rid}", datetime.fromisoformat(at).timestamp()): sender.sent_at[i]
        for i, (rid, at) in enumerate(load.events)
        if rid
    }
    warming = {(f"twitter:{rid}", datetime.fromisoformat(at).timestamp()) for rid, at in load.events[:warm_n] if rid}
    latencies, unmatched, warm = [], 0, []
    # Whether the tail is a warm-up, a spell or spread out: latencies by send time.
    by_window: dict[int, list[float]] = {}
    first = sender.sent_at[0] if sender.sent_at else 0.0
    # Where the time goes: send -> the trigger readable on the classified topic (the
    # ingest step: decode, match, classify) -> the cascade stage's decision (its signal's time) ->
    # the decision readable on the desk topic (the stage's commit) -> the desk's
    # publication (escalated_at) -> ops' read_committed consumer (the desk's commit).
    stages: dict[str, list[float]] = {
        "to_classified": [],
        "to_decision": [],
        "to_desk": [],
        "to_published": [],
        "to_ops": [],
    }
    by_trigger: dict[str, list[float]] = {"root": [], "response": []}
    for received, value in arrivals:
        data = orjson.loads(value)["data"]
        key = (data.get("cascade"), datetime.fromisoformat(data["last_event_at"]).timestamp())
        if key in sent:
            by_window.setdefault(int((sent[key] - first) // WINDOW_SECONDS), []).append(received - sent[key])
            if key in warming:
                warm.append(received - sent[key])
                continue
            latencies.append(received - sent[key])
            # A cascade of its root alone was escalated on the root's verdict; any other
            # on a response's arrival (a repost is not classified, the rest are).
            by_trigger["root" if data["first_event_at"] == data["last_event_at"] else "response"].append(
                received - sent[key]
            )
            published = datetime.fromisoformat(data["escalated_at"]).timestamp()
            seen, decided = decisions.get((data["dedup_key"], data["severity"], data["last_event_at"]), (None, None))
            if key in classified:  # the trigger's classified record (ingest step done)
                stages["to_classified"].append(classified[key] - sent[key])
            if seen is not None and decided is not None:
                stages["to_decision"].append(decided - sent[key])
                stages["to_desk"].append(seen - decided)
                stages["to_published"].append(published - seen)
                stages["to_ops"].append(received - published)
        else:
            unmatched += 1
    latencies.sort()
    warm.sort()
    for xs in [*stages.values(), *by_trigger.values()]:
        xs.sort()
    achieved = len(load) / (sender.finished_at - began) if sender.finished_at else float("nan")
    return {
        "offered_per_s": round(rate, 1),
        "achieved_per_s": round(achieved, 1),
        "mentions": len(load) - warm_n,
        "warmup_mentions": warm_n,
        "escalations": len(arrivals),
        "unmatched": unmatched,
        "measured_escalations": len(latencies),
        "warmup_p50_p99_s": [_q(warm, 0.50), _q(warm, 0.99)],
        "p50_s": _q(latencies, 0.50),
        "p95_s": _q(latencies, 0.95),
        "p99_s": _q(latencies, 0.99),
        "max_s": round(latencies[-1], 3) if latencies else None,
        f"p99_by_{WINDOW_SECONDS}s_s": [
            _q(sorted(by_window.get(i, [])), 0.99) for i in range(max(by_window, default=-1) + 1)
        ],
        "stages_p50_p99_s": {name: [_q(xs, 0.50), _q(xs, 0.99)] for name, xs in stages.items()},
        "by_trigger_n_p50_p99_s": {name: [len(xs), _q(xs, 0.50), _q(xs, 0.99)] for name, xs in by_trigger.items()},
        "cpu_cores": round(cpu / elapsed, 2),
        "peak_rss_mib": round(peak, 1),
        # How the model kept up: small batches when it does, growing ones when it cannot.
        "batch_mean": round(_mean(c, "flashpoint_inference_batch_size"), 1),
        "inference_ms_mean": round(1000 * _mean(c, "flashpoint_inference_seconds"), 1),
        "ingest_step_ms_mean": round(1000 * _mean(c, "flashpoint_ingest_step_seconds"), 1),
        # Shares of the phase: the ingest agent within a step, the model within a batch.
        "ingest_busy": round(c.get("flashpoint_ingest_step_seconds_sum", 0.0) / elapsed, 2),
        "model_busy": round(c.get("flashpoint_inference_seconds_sum", 0.0) / elapsed, 2),
    }


async def _receive(
    s: Settings,
    sender: Replayer,
    out: list[tuple[float, bytes]],
    decisions: dict[tuple[str, str, str], tuple[float, float]],
    classified: dict[tuple[str, float], float],
) -> None:
    """Escalations as ops see them; the cascade stage's decisions as the desk can first
    read them, with the time each was decided; and when each mention was readable on the
    classified topic (for the latency's stages)."""
    c = AIOKafkaConsumer(
        s.topic_escalations,
        s.topic_desk,
        s.topic_classified,
        bootstrap_servers=s.bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await c.start()
    try:
        quiet_since = None
        while True:
            batch = await c.getmany(timeout_ms=200)
            now = time.time()
            for tp, records in batch.items():
                if tp.topic == s.topic_escalations:
                    out.extend((now, r.value or b"") for r in records)
                    continue
                if tp.topic == s.topic_classified:
                    for r in records:
                        for item in ClassifiedBatch.items(r.value):
                            m = ClassifiedMention.from_dict(item).mention
                            classified.setdefault((m.cascade_key, m.created_at.timestamp()), now)
                    continue
                for r in records:
                    signal = orjson.loads(r.value or b"{}")
                    if signal.get("kind") == "decision":
                        d = signal["draft"]["data"]
                        decided = datetime.fromisoformat(signal["at"]).timestamp()
                        decisions[(d["dedup_key"], d["severity"], d["last_event_at"])] = (now, decided)
            if sender.finished_at is None:
                continue
            # After the last mention: until nothing new for 5 s.
            if any(tp.topic == s.topic_escalations for tp in batch):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 5:
                return
    finally:
        await c.stop()


def _q(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)


# -- the run ------------------------------------------------------------------------------


@contextlib.contextmanager
def broker(bootstrap: str | None, state: Path) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    port = os.environ.get("FLASHPOINT_BENCH_KAFKA_PORT", "29092")
    env = {**os.environ, "KAFKA_STATE_DIR": str(state / "kafka"), "KAFKA_PORT": port}
    script = str(REPO_DIR / "deploy" / "kafka.sh")
    subprocess.run([script, "start"], env=env, check=True, timeout=600)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, timeout=120)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sat = result["saturation"]["mentions_per_s"]
    pts = sorted(result["latency"], key=lambda r: r["offered_per_s"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot([r["offered_per_s"] for r in pts], [r["achieved_per_s"] for r in pts], "o-", label="Flashpoint")
    a.axhline(sat, ls="--", c="C0", label=f"Flashpoint saturation {sat:.0f}/s")
    a.axhline(result["naive"]["mentions_per_s"], ls=":", c="C3", label="naive saturation")
    a.set(xlabel="offered mentions/s", ylabel="processed mentions/s", title="throughput")
    a.legend(fontsize=8)
    for q, style in (("p50_s", "o-"), ("p95_s", "s-"), ("p99_s", "^-")):
        b.plot([r["offered_per_s"] for r in pts], [r[q] for r in pts], style, label=q[:-2])
    b.axhline(1.0, ls=":", c="grey", label="p99 target (1 s)")
    b.set(xlabel="offered mentions/s", ylabel="seconds, send to escalation seen", title="end-to-end latency")
    b.legend(fontsize=8)
    fig.suptitle(f"Flashpoint on {result['limit']['machine']['cpu']}, {result['limit']['machine']['cores']} cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", help="a running Kafka; default: start one (deploy/kafka.sh) for the run")
    p.add_argument("--mentions", type=int, default=20_000, help="backlog size for the saturation phase")
    # Six times as fast to drain: a 20,000 backlog took 4 to 6 s, a second of it the ramp-up.
    p.add_argument("--repost-mentions", type=int, default=60_000, help="backlog size for the repost-path phase")
    p.add_argument("--originals", type=float, default=0.3, help="share of posts and replies in the mix")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--loads", default="0.5,0.9", help="offered load, as fractions of the saturation rate")
    p.add_argument("--latency-seconds", type=float, default=60.0)
    p.add_argument(
        "--versus",
        metavar="SETTING=VALUE,...",
        help="a second arm for the latency phase: each load is run with the settings as they are and with these "
        "changed (e.g. fetch_max_wait_seconds=0.01,fetch_min_bytes=4096), alternating, --latency-repeats times each",
    )
    p.add_argument("--latency-repeats", type=int, default=1, help="runs of each latency load (per arm)")
    p.add_argument(
        "--warmup-seconds",
        type=float,
        default=15.0,
        help="offered load before each latency measurement, reported apart (the worker's first seconds)",
    )
    p.add_argument(
        "--saturation-rate",
        type=float,
        help="mentions/s to take as saturation (from an earlier run) instead of measuring it: for latency runs alone",
    )
    p.add_argument("--naive-mentions", type=int, default=3_000)
    p.add_argument("--limit-seconds", type=float, default=5.0)
    p.add_argument("--profile", action="store_true", help="py-spy the worker in the saturation phases")
    p.add_argument(
        "--skip", default="", help="phases to leave out: limit,reposts,latency,naive; saturation: the limit alone"
    )
    p.add_argument("--out", type=Path, default=REPO_DIR / "benchmarks" / "results")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with tempfile.TemporaryDirectory(prefix="flashpoint-bench-") as tmp_, broker(args.bootstrap, Path(tmp_)) as kafka:
        tmp = Path(tmp_)
        logs = args.out / f"pipeline-{stamp}-logs"
        logs.mkdir()
        (tmp / "watchlist.toml").write_text(WATCHLIST)
        base = replace(
            Settings.from_env(),
            bootstrap_servers=kafka,
            watchlist=tmp / "watchlist.toml",
            partitions=args.partitions,
            data_dir=tmp / "data",
        )
        result: dict[str, Any] = {
            "started": stamp,
            "python": platform.python_version(),
            "args": vars(args) | {"out": str(args.out)},
        }
        if "limit" not in skip:
            result["limit"] = limit(base, args.limit_seconds)
            print(f"limit: bare forward {result['limit']['bare_posts_per_s']} posts/s", flush=True)
        if "saturation" in skip:  # the limit alone
            path = args.out / f"pipeline-{stamp}-limit.json"
            path.write_text(json.dumps(result, indent=2))
            print(json.dumps(result, indent=2))
            return 0
        if args.saturation_rate:
            saturation_rate = args.saturation_rate
            result["saturation"] = {"mentions_per_s": saturation_rate, "given": True}
        else:
            mix = workload(args.mentions, originals=args.originals, seed=101)
            sat = saturate(fresh(base), mix, logs / "saturation", args.workers, args.profile)
            saturation_rate = sat.mentions_per_s
            result["saturation"] = {k: v for k, v in vars(sat).items() if k != "samples"} | {
                "originals": args.originals,
                "workers": args.workers,
                "partitions": args.partitions,
            }
            result["saturation_samples"] = sat.samples
            print(f"saturation: {sat.mentions_per_s}/s mentions, {sat.classified_per_s}/s classified", flush=True)
        if "reposts" not in skip:
            only = preclassified(workload(args.repost_mentions, originals=0.01, seed=102), base)
            reposts = saturate(fresh(base), only, logs / "reposts", args.workers, profile=args.profile, classified=True)
            result["repost_path"] = {k: v for k, v in vars(reposts).items() if k != "samples"}
            print(f"repost path: {reposts.cascade_events_per_s}/s cascade events", flush=True)
        result["latency"] = []
        if "latency" not in skip:
            arms: dict[str, dict[str, Any]] = {"as set": {}} | ({"versus": versus(args.versus)} if args.versus else {})
            result["arms"] = arms
            for i, frac in enumerate(float(x) for x in args.loads.split(",")):
                rate = frac * saturation_rate
                load = workload(int(rate * args.latency_seconds), originals=args.originals, seed=200 + i)
                warm = workload(int(rate * args.warmup_seconds), originals=args.originals, seed=300 + i)
                # Arms alternate, so that a drift of the machine over the phase falls on both.
                for r in range(args.latency_repeats):
                    for arm, changes in arms.items():
                        log = logs / f"latency{i}-{arm.replace(' ', '-')}-{r}"
                        row = offered(fresh(base, **changes), load, rate, log, warm) | {"fraction": frac, "arm": arm}
                        result["latency"].append(row)
                        print(f"latency at {frac:.0%} ({arm}, run {r + 1}): {row}", flush=True)
        if "naive" not in skip:
            naive_load = workload(args.naive_mentions, originals=args.originals, seed=103)
            naive = saturate(fresh(base), naive_load, logs / "naive", args=("--naive",))
            result["naive"] = {k: v for k, v in vars(naive).items() if k != "samples"}
            print(f"naive: {naive.mentions_per_s}/s mentions", flush=True)
        result["ratios"] = ratios(result)
    path = args.out / f"pipeline-{stamp}.json"
    path.write_text(json.dumps(result, indent=2))
    if "latency" not in skip and "naive" not in skip and "limit" not in skip:
        plot(result, path.with_suffix(".png"))
    print(json.dumps({k: v for k, v in result.items() if k != "saturation_samples"}, indent=2))
    print(f"written: {path}", file=sys.stderr)
    return 0


def ratios(result: dict[str, Any]) -> dict[str, float]:
    out = {}
    sat = result["saturation"]
    if "limit" in result and "classified_per_s" in sat:
        out["classified_over_bare_forward"] = round(sat["classified_per_s"] / result["limit"]["bare_posts_per_s"], 3)
    if "naive" in result:
        out["flashpoint_over_naive"] = round(sat["mentions_per_s"] / result["naive"]["mentions_per_s"], 2)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
