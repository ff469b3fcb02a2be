"""The ``flashpoint`` command.

flashpoint demo [--bootstrap-servers HOST:PORT] [--duration S] [--speed X]
flashpoint worker                 run the stream worker (settings from FLASHPOINT_*)
flashpoint escalations            print escalations (and dead letters) as they arrive
flashpoint produce FILE.jsonl     send mentions, one JSON object per line
flashpoint replay FILE.jsonl      run a file through a worker and report on its escalations
flashpoint topics                 create Flashpoint's topics where missing
flashpoint model train|evaluate   the complaint model
flashpoint config                 every setting, its variable and default
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from aiokafka.errors import KafkaError

from pipeline.kafka_admin import security, start_clients
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.classification.finetune import FinetuneConfig


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (and the way to the help), not the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(bootstrap_servers=getattr(args, "bootstrap_servers", None))


def _logging(level: str, fmt: str = "text") -> None:
    from pipeline.telemetry.logs import configure

    configure(level, fmt)


def cmd_worker(args: argparse.Namespace) -> int:
    import platform
    from importlib.metadata import version

    import faust

    from pipeline import metrics
    from pipeline.app import build
    from pipeline.brands import Watchlist
    from pipeline.escalation import Policies, Policy
    from pipeline.ingest_process import IngestProcess, InlineIngest
    from pipeline.kafka_admin import ensure_topics, wait_for_broker
    from pipeline.telemetry import health, logs

    s = _settings(args)
    _logging(s.log_level, s.log_format)
    log = logging.getLogger("flashpoint.worker")
    from pipeline import faust_fixes

    # Before anything starts, and never restarted: an upgraded Faust or aiokafka would
    # otherwise run with the races pipeline/faust_fixes.py closes open again, and a
    # missing model would crash-loop under a supervisor.
    problems = faust_fixes.check() + s.missing_artifacts()
    if problems:
        raise ValueError("the worker will not start: " + "; ".join(problems))
    metrics.BUILD_INFO.labels(
        version("flashpoint"), platform.python_version(), version("faust-streaming"), version("aiokafka")
    ).set(1)
    # Up before the model loads: liveness answers at once, readiness once all is in place.
    readiness = health.Readiness(broker_grace=max(30.0, 3 * s.lag_interval_seconds))
    if s.metrics_port:
        health.serve(s.metrics_port, readiness)
        log.info("/metrics, /health and /ready on :%d", s.metrics_port)
    watchlist = Watchlist.load(s.watchlist)
    # A bad [brand.policy] table is a startup error, before the model loads.
    Policies.build(Policy.from_settings(s), watchlist.policy_tables(), str(s.watchlist))

    # The broker before the model: a wrong address fails in seconds, not after a load.
    async def prepare() -> None:
        await wait_for_broker(s.bootstrap_servers, s.broker_wait_seconds, **security(s))
        await ensure_topics(s)

    asyncio.run(prepare())
    ingester = InlineIngest(s) if args.naive else IngestProcess(s)
    metrics.MODEL_INFO.labels(ingester.version, ingester.device, ingester.precision).set(1)
    readiness.set(model_loaded=True)
    log.info(
        "model %s on %s (%s); %d brands watched",
        ingester.version,
        ingester.device,
        "on the event loop, one mention at a time" if args.naive else "its own process",
        len(watchlist.brands),
    )

    fp = build(s, ingester, watchlist, readiness, mentions_per_step=1 if args.naive else None)
    faust_level = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}
    worker = faust.Worker(
        fp.app,
        loglevel=faust_level.get(s.log_level, "info"),
        logging_config=logs.config(s.log_level, s.log_format),
        quiet=True,
    )
    # Faust's terminal spinner, kept at log levels from warning up, sets the root logger
    # to DEBUG for itself: every library debug line was then built and thrown away
    # (7% of a saturated worker's time) and its escape codes landed in the logs.
    worker.spinner = None
    began = time.monotonic()
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if worker._signal_stop_time is not None:  # SIGTERM or SIGINT: a requested stop
            raise
    except Exception:
        log.exception("worker crashed")
    finally:
        ingester.close()
    # Faust stops the whole worker on some transient Kafka errors (seen: a transactional
    # send failing while the only broker restarts). Exactly-once makes starting over safe:
    # a fresh process image (same pid) resumes from the committed state, as after SIGKILL.
    restarts = 0 if time.monotonic() - began > 300 else args.restarts + 1
    delay = min(30.0, 2.0**restarts)
    log.error("worker stopped unexpectedly; starting over in %.0f s (restart %d in a row)", delay, restarts)
    time.sleep(delay)
    argv = [a for a in sys.argv[1:] if not a.startswith("--restarts")]
    os.execv(sys.executable, [sys.executable, "-m", "pipeline", *argv, f"--restarts={restarts}"])


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo.run import run_demo

    return run_demo(Settings.from_env(), args.bootstrap_servers, args.duration, args.speed)


def cmd_escalations(args: argparse.Namespace) -> int:
    from pipeline.ops import follow, print_message

    s = _settings(args)
    topics = [s.topic_escalations] + ([s.topic_dead_letter] if args.dead_letters else [])
    stop = asyncio.Event()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            follow(
                s.bootstrap_servers,
                topics,
                print_message(s.topic_escalations),
                stop,
                from_beginning=args.from_beginning,
                **security(s),
            )
        )
    return 0


def cmd_tail(args: argparse.Namespace) -> int:
    from pipeline.ops import follow, format_line, passes

    s = _settings(args)
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    brands = {b.lower() for b in args.brand}
    teams = {t.lower() for t in args.team}
    stop = asyncio.Event()
    shown = 0

    def show(topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        nonlocal shown
        try:
            event = json.loads(value or b"")
            if not passes(event, brands, args.min_severity, teams):
                return
            line = format_line(event, colour)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"flashpoint tail: skipped an unreadable event on {topic}: {exc!r}", file=sys.stderr)
            return
        print(line, flush=True)
        shown += 1
        if args.limit and shown >= args.limit:
            stop.set()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            follow(
                s.bootstrap_servers,
                [s.topic_escalations],
                show,
                stop,
                from_beginning=args.from_beginning,
                **security(s),
            )
        )
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    from pipeline import relay
    from pipeline.kafka_admin import ensure_topics

    s = _settings(args)
    _logging(s.log_level, s.log_format)
    keys = relay.routing_keys(s.pagerduty_routing_keys)
    teams = frozenset(t.lower() for t in args.team)
    if args.to == "pagerduty" and not s.pagerduty_routing_key and not (teams and teams <= {k.lower() for k in keys}):
        raise ValueError(
            "--to pagerduty needs FLASHPOINT_PAGERDUTY_ROUTING_KEY (the integration key), "
            "or a key in FLASHPOINT_PAGERDUTY_ROUTING_KEYS for each --team"
        )
    target = relay.Target(args.to, args.url, s.pagerduty_routing_key, args.alert_hours, args.min_severity, teams, keys)
    # Each team's relay keeps its own offsets: one team's receiver being down holds back no other.
    group = args.group_id or f"{s.app_id}-relay-{args.to}" + "".join(f"-{t}" for t in sorted(teams))

    async def go(stop: asyncio.Event) -> None:
        await ensure_topics(s, [s.topic_escalations, s.topic_relay_dead_letter])
        await relay.run(
            s.bootstrap_servers, s.topic_escalations, s.topic_relay_dead_letter, group, target, stop, **security(s)
        )

    return _until_signal(go)


def _until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> int:
    """Run ``main(stop)``; SIGINT or SIGTERM sets ``stop``, for a clean exit 0."""
    import signal

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(go())
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    from typing import BinaryIO

    from aiokafka import AIOKafkaProducer

    s = _settings(args)

    async def send(fh: BinaryIO) -> int:
        producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", **security(s))
        await start_clients(producer)
        n = 0
        try:
            for line in fh:
                line = line.strip()
                if line:
                    await producer.send(s.topic_mentions, line)
                    n += 1
            await producer.flush()
        finally:
            await producer.stop()
        return n

    # Opened before the broker is reached: a wrong path is the first thing reported.
    with open(args.file, "rb") as fh:
        print(f"sent {asyncio.run(send(fh))} messages to {s.topic_mentions}")
    return 0


def cmd_board(args: argparse.Namespace) -> int:
    from pipeline import board

    s = _settings(args)

    async def go(stop: asyncio.Event) -> None:
        mode = "with buttons for signed-in people" if s.board_token else "read-only (no FLASHPOINT_BOARD_TOKEN)"
        print(f"board on http://{args.host}:{args.port}/ (escalations from {s.topic_escalations}; {mode})", flush=True)
        await board.serve(
            s.bootstrap_servers,
            s.topic_escalations,
            args.host,
            args.port,
            stop,
            token=s.board_token,
            feedback_topic=s.topic_feedback,
            **security(s),
        )

    return _until_signal(go)


def cmd_feedback(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    import orjson
    from aiokafka import AIOKafkaProducer

    from pipeline.escalation.feedback import parse

    s = _settings(args)
    action = {"ack": "acknowledge", "resolve": "resolve", "false-positive": "false_positive"}[args.feedback_command]
    doc = {"dedup_key": args.dedup_key, "action": action, "by": args.by, "note": args.note}
    doc["at"] = datetime.now(UTC).isoformat()
    value = orjson.dumps(doc)
    parse(value)  # the same contract the worker checks: a clear error here, not a dead letter there

    from pipeline.ops import find_escalation

    known = asyncio.run(find_escalation(s.bootstrap_servers, s.topic_escalations, args.dedup_key, **security(s)))
    if known is None:
        raise ValueError(
            f"no escalation {args.dedup_key!r} on {s.topic_escalations}; nothing sent "
            "(the key is the last field of a `flashpoint tail` line)"
        )

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=s.bootstrap_servers, acks="all", **security(s))
        await start_clients(producer)
        try:
            await producer.send_and_wait(s.topic_feedback, value, key=args.dedup_key.encode())
        finally:
            await producer.stop()

    asyncio.run(send())
    print(f"{action} {args.dedup_key} sent to {s.topic_feedback}")
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from pipeline.kafka_admin import ensure_topics, topic_names, wait_for_broker

    s = _settings(args)

    async def go() -> None:
        await wait_for_broker(s.bootstrap_servers, s.broker_wait_seconds, **security(s))
        await ensure_topics(s)

    asyncio.run(go())
    print("topics ready:", ", ".join(topic_names(s)))
    return 0


def _finetune_config(args: argparse.Namespace) -> FinetuneConfig:
    import dataclasses

    from pipeline.classification.finetune import FinetuneConfig

    changes: dict[str, Any] = {"epochs": args.epochs} if args.epochs else {}
    if args.severity_head:
        changes["severity_head"] = args.severity_head
    if args.chatter_weight is not None:
        changes["chatter_weight"] = args.chatter_weight
    if args.teacher_dir is not None:
        changes["distil_weight"] = 0.5
    return dataclasses.replace(FinetuneConfig(), **changes)


def _teacher_dir(args: argparse.Namespace) -> Path | None:
    teacher: Path | None = args.teacher_dir
    if teacher is not None and not (teacher / "config.json").is_file():
        raise SystemExit(f"--teacher-dir {teacher}: no config.json there; models/teacher.sh fetches the teacher")
    return teacher


def _need_file(path: Path) -> None:
    """A missing input is one line before PyTorch and transformers load (half a minute
    on a slow machine) rather than after."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such file: {path}")


def cmd_model_train(args: argparse.Namespace) -> int:
    _need_file(args.data)
    s = _settings(args)
    out = args.out or s.model_dir
    if args.corrections:
        import tempfile

        from pipeline.classification import corrections

        found = asyncio.run(corrections.read_topic(s.bootstrap_servers, s.topic_corrections, **security(s)))
        merged = Path(tempfile.mkdtemp(prefix="flashpoint-train-")) / args.data.name
        added = corrections.merge(args.data, found, merged)
        print(f"{added} corrected post(s) from {s.topic_corrections} added as 'not a complaint'", file=sys.stderr)
        args.data = merged
    if args.method == "frozen":
        from pipeline.classification.training import train

        config = train(args.data, out, folds=args.folds, device=s.device)
    else:
        from pipeline.classification import finetune

        config = finetune.train(
            args.data,
            out,
            folds=args.folds,
            cfg=_finetune_config(args),
            device=s.device,
            keep_folds=args.keep_folds,
            teacher_dir=_teacher_dir(args),
        )
    print(json.dumps(config["cross_validation"], indent=2))
    print(f"wrote {out}: config.json, head.safetensors, MODEL_CARD.md", file=sys.stderr)
    return 0


def cmd_model_evaluate(args: argparse.Namespace) -> int:
    _need_file(args.data)
    from pipeline.classification import ComplaintModel
    from pipeline.classification.training import cross_validate_csv, evaluate, load_csv

    s = Settings.from_env()
    if args.by and not args.cv:
        raise ValueError("--by domain is a cross-validation: give --cv K too (the stratified figure beside it)")
    if args.cv and args.method == "frozen":

        def frozen(by: str | None) -> dict[str, Any]:
            return cross_validate_csv(args.data, args.cv, s.device, args.text_column, args.label_column, by=by)

        report = frozen(None) if not args.by else {"by_domain": frozen(args.by), "stratified": frozen(None)}
    elif args.cv:
        from pipeline.classification import finetune

        data = load_csv(args.data, args.text_column, args.label_column)
        aux = finetune.auxiliary_labels(args.data)

        def tuned(by: str | None) -> dict[str, Any]:
            out = finetune.cross_validate(
                data,
                aux,
                args.cv,
                _finetune_config(args),
                s.device,
                log=_stderr,
                keep_folds=args.keep_folds,
                teacher_dir=_teacher_dir(args),
                by=by,
            )
            out.pop("out_of_fold_logits")
            return out

        report = tuned(None) if not args.by else {"by_domain": tuned(args.by), "stratified": tuned(None)}
    else:
        data = load_csv(args.data, args.text_column, args.label_column)  # a bad file fails before the load
        report = evaluate(ComplaintModel.load(s.model_dir, s.device, s.precision), data)
    print(json.dumps(report, indent=2))
    return 0


def _stderr(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def cmd_model_topics(args: argparse.Namespace) -> int:
    import csv
    import time
    import tomllib

    from pipeline.brands import parse_topics
    from pipeline.classification import topics as tp

    s = Settings.from_env()
    with open(args.data, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"text", "topic"} <= set(rows[0]):
        raise ValueError(f"{args.data}: needs columns text and topic")
    listed = parse_topics(tomllib.loads(args.topics.read_text()).get("topic", []), str(args.topics))
    if not listed:
        raise ValueError(f"{args.topics}: no [[topic]] tables")
    names = {t.name for t in listed}
    unknown = {r["topic"] for r in rows} - names - {tp.OTHER}
    if unknown:
        raise ValueError(f"{args.data}: topics not in {args.topics}: {sorted(unknown)}")
    # PyTorch only once the inputs are known to be good: a typo costs no model load.
    from pipeline.classification import ComplaintModel

    model = ComplaintModel.load(s.model_dir, s.device, s.precision)
    texts, truth = [r["text"] for r in rows], [r["topic"] for r in rows]
    model.predict(texts[:16])  # warm-up: the first call pays for lazy initialisation
    started = time.perf_counter()
    verdicts = model.predict(texts, batch_size=s.batch_size)
    inference = time.perf_counter() - started
    index = tp.TopicIndex.build({"": listed}, model.encoder.routing, {}, min_similarity=-1.0)
    started = time.perf_counter()
    routed = [index.route("", v.embedding) for v in verdicts]
    routing = time.perf_counter() - started
    nearest, sims = [r.topic for r in routed], [r.similarity for r in routed]

    def at(th: float, idx: range | list[int]) -> list[str]:
        return [nearest[i] if sims[i] >= th else tp.OTHER for i in idx]

    # Alternate rows: the file lists each topic's posts together, so each half holds half of each.
    dev, test = list(range(0, len(rows), 2)), list(range(1, len(rows), 2))
    grid = [round(0.05 * k, 2) for k in range(17)]
    chosen = tp.choose_threshold([truth[i] for i in dev], [nearest[i] for i in dev], [sims[i] for i in dev], grid)
    everything = range(len(rows))
    shipped = at(s.routing_min_similarity, everything)
    on_topics = [i for i in everything if truth[i] != tp.OTHER]
    report = {
        "posts": len(rows),
        "topics": sorted(names),
        "model_version": model.version,
        "min_similarity": s.routing_min_similarity,
        "accuracy": round(tp.accuracy(truth, shipped), 4),
        "accuracy_test_half": round(tp.accuracy([truth[i] for i in test], at(s.routing_min_similarity, test)), 4),
        "nearest_topic_accuracy_without_other": round(
            tp.accuracy([truth[i] for i in on_topics], [nearest[i] for i in on_topics]), 4
        ),
        "threshold_chosen_on_dev_half": chosen,
        "accuracy_test_half_at_chosen": round(tp.accuracy([truth[i] for i in test], at(chosen, test)), 4),
        "per_topic": tp.per_topic(truth, shipped),
        "cost": {
            "inference_ms_per_post": round(1000 * inference / len(rows), 3),
            "routing_ms_per_post": round(1000 * routing / len(rows), 4),
            "routing_share_of_inference": round(routing / inference, 4),
        },
    }
    print(json.dumps(report, indent=2))
    return 0


def cmd_model_predict(args: argparse.Namespace) -> int:
    import csv

    from pipeline.classification.verdict import SEVERITY_LABELS

    if args.file != "-":
        _need_file(Path(args.file))
    from pipeline.classification import ComplaintModel

    s = Settings.from_env()
    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8", newline="")  # noqa: SIM115
    with source:
        if args.file.endswith(".csv"):
            texts = [row[args.text_column] for row in csv.DictReader(source)]
        else:
            texts = [line.rstrip("\n") for line in source if line.strip()]
    model = ComplaintModel.load(s.model_dir, s.device, s.precision)
    for text, v in zip(texts, model.predict(texts, batch_size=s.batch_size), strict=True):
        print(
            json.dumps(
                {
                    "text": text,
                    "complaint_probability": round(v.complaint_probability, 4),
                    "severity": v.severity,
                    "severity_label": SEVERITY_LABELS[v.severity - 1],
                }
            )
        )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pipeline.classification import ComplaintModel
    from pipeline.classification.bench import run, table
    from pipeline.classification.precision import resolve_precision

    s = Settings.from_env()
    # fp32 loaded; the benchmark derives its bf16 and int8 copies to time them side by side.
    model = ComplaintModel.load(s.model_dir, s.device, "fp32")
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    result = run(model, sizes, seconds=args.seconds)
    # What the worker's FLASHPOINT_PRECISION=auto would choose on this machine.
    result["machine"]["auto_precision"] = resolve_precision("auto", model.encoder.device, model.encoder.int8_ok)
    print(json.dumps(result, indent=2) if args.json else table(result))
    print(f"machine: {result['machine']}", file=sys.stderr)
    return 0


def cmd_reach_evaluate(args: argparse.Namespace) -> int:
    from pipeline.reach.evaluation import DEFAULT_THRESHOLDS, evaluate_times, render
    from pipeline.reach.forecast import Forecaster, read_events

    cascades = read_events(args.events)
    forecaster = None if args.cv else Forecaster.load(Settings.from_env().reach_model)
    thresholds = [float(t) for t in args.thresholds.split(",")] if args.thresholds else DEFAULT_THRESHOLDS
    results = evaluate_times(
        cascades,
        args.observe_seconds or [3600.0],
        forecaster,
        cv=args.cv or 0,
        thin=args.thin,
        seed=args.seed,
        thresholds=thresholds,
        train_also=[c for path in args.train_also or () for c in read_events(path)],
        repeats=args.repeat,
    )
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        print("\n\n".join(render(r) for r in results))
    return 0


def cmd_reach_alarms(args: argparse.Namespace) -> int:
    from pipeline.reach.alarms import DEFAULT_THRESHOLDS, alarms, render
    from pipeline.reach.forecast import Forecaster, read_events

    s = Settings.from_env()
    if args.train_also and args.cv < 2:
        raise ValueError("--train-also adds cascades to each fold's fit: it needs --cv 2 or more")
    if not 0.0 <= (lean := args.lean if args.lean is not None else s.forecast_lean) <= 1.0:
        raise ValueError("--lean must be within 0..1")
    rows = alarms(
        read_events(args.events),
        None if args.cv >= 2 else Forecaster.load(s.reach_model),
        [float(t) for t in args.thresholds.split(",")] if args.thresholds else DEFAULT_THRESHOLDS,
        lean_by=lean,
        min_reposts=args.min_reposts if args.min_reposts is not None else s.forecast_min_reposts,
        min_seconds=args.min_seconds if args.min_seconds is not None else s.forecast_min_seconds,
        cv=args.cv,
        train_also=[c for path in args.train_also for c in read_events(path)],
        seed=args.seed,
    )
    print(json.dumps(rows, indent=2) if args.json else render(rows))
    return 0


def cmd_reach_fit(args: argparse.Namespace) -> int:
    from pipeline.reach.fitting import fit
    from pipeline.reach.forecast import read_events

    out = args.out or Settings.from_env().reach_model
    # One set per file: each weighs as much in the fit as another.
    forecaster = fit(
        [read_events(path) for path in args.events], name=" + ".join(f"{p.parent.name}/{p.name}" for p in args.events)
    )
    forecaster.save(out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from pipeline import replay
    from pipeline.brands import Watchlist

    overrides: dict[str, Any] = {"bootstrap_servers": args.bootstrap_servers}
    if args.watchlist is not None:
        overrides["watchlist"] = args.watchlist
    s = Settings.from_env(**overrides)
    if not args.file.is_file():
        raise FileNotFoundError(f"no such file: {args.file}")
    lines = replay.read_lines(args.file)
    watchlist = Watchlist.load(s.watchlist)
    if args.offline:
        from pipeline.classification import ComplaintModel

        model = ComplaintModel.load(s.model_dir, s.device, s.precision)
        events = replay.offline(lines, watchlist, model, s)
    else:
        from pipeline.replay_worker import on_broker

        events = on_broker(lines, s, quiet_seconds=args.quiet_seconds, timeout=args.timeout)
    result = replay.report(lines, events, watchlist, seed=args.seed)
    result["mode"] = "offline" if args.offline else "broker"
    text = orjson_dumps(result)
    if args.out:
        args.out.write_bytes(text)
    print(replay.summary(result))
    if args.out:
        print(f"report written to {args.out}")
    return 0


def orjson_dumps(value: Any) -> bytes:
    import orjson

    return bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))


def cmd_config(args: argparse.Namespace) -> int:
    rows = Settings.describe()
    if args.markdown:
        print("| variable | default | meaning |\n|---|---|---|")
        for var, default, doc in rows:
            print(f"| `{var}` | `{default}` | {doc} |")
    else:
        current = Settings.from_env()
        for var, _default, doc in rows:
            name = var.removeprefix("FLASHPOINT_").lower()
            value = getattr(current, name)
            if Settings.is_secret(name):
                value = "(set)" if value else "(not set)"
            print(f"{var}={value}\n    {doc}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="flashpoint", description="Real-time complaint escalation on Kafka.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_servers(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--bootstrap-servers", help="Kafka bootstrap servers (overrides FLASHPOINT_BOOTSTRAP_SERVERS)")
        return sp

    demo = sub.add_parser("demo", help="replay a scripted mention stream through the pipeline and print escalations")
    demo.add_argument("--bootstrap-servers", help="use this Kafka instead of the embedded broker")
    demo.add_argument("--duration", type=float, help="stop this many seconds after the replay starts (default: Ctrl-C)")
    demo.add_argument("--speed", type=float, default=60.0, help="story seconds per real second (default 60)")
    demo.set_defaults(func=cmd_demo)

    worker = with_servers(sub.add_parser("worker", help="run the stream worker"))
    # Set by the worker itself when it starts over after a crash (see cmd_worker).
    worker.add_argument("--restarts", type=int, default=0, help=argparse.SUPPRESS)
    worker.add_argument(
        "--naive",
        action="store_true",
        help="the design benchmarks compare against: classify one mention at a time on the event loop",
    )
    worker.set_defaults(func=cmd_worker)

    esc = with_servers(sub.add_parser("escalations", help="print escalations as they arrive"))
    esc.add_argument("--from-beginning", action="store_true")
    esc.add_argument("--dead-letters", action="store_true", help="also print dead letters")
    esc.set_defaults(func=cmd_escalations)

    tail = with_servers(sub.add_parser("tail", help="follow escalations, one coloured line each, with filters"))
    tail.add_argument("--brand", action="append", default=[], help="only this brand (repeatable; any case)")
    tail.add_argument(
        "--team", action="append", default=[], help="only escalations this team owns (repeatable; any case)"
    )
    tail.add_argument("--min-severity", choices=("info", "warning", "error", "critical"), default="info")
    tail.add_argument("--from-beginning", action="store_true", help="start at the oldest event, not the next one")
    tail.add_argument("--limit", type=int, help="stop after printing this many events")
    tail.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    tail.set_defaults(func=cmd_tail)

    rel = with_servers(sub.add_parser("relay", help="forward escalations to PagerDuty, Alertmanager or a webhook"))
    rel.add_argument("--to", choices=("pagerduty", "alertmanager", "webhook"), required=True)
    rel.add_argument(
        "--url",
        required=True,
        help="e.g. https://events.pagerduty.com/v2/enqueue, http://alertmanager:9093/api/v2/alerts, your endpoint",
    )
    rel.add_argument(
        "--group-id", help="consumer group (default: <app id>-relay-<to>[-<team>...]); its offsets mark progress"
    )
    rel.add_argument("--alert-hours", type=float, default=24.0, help="Alertmanager: how long an alert fires")
    rel.add_argument(
        "--min-severity",
        choices=("info", "warning", "error", "critical"),
        default="info",
        help="send only events at least this severe (an escalation is sent once it gets there)",
    )
    rel.add_argument(
        "--team",
        action="append",
        default=[],
        help="send only escalations this team owns (repeatable; the watchlist topic's team): one relay per team",
    )
    rel.set_defaults(func=cmd_relay)

    prod = with_servers(sub.add_parser("produce", help="send mentions from a JSON-lines file"))
    prod.add_argument("file", type=Path)
    prod.set_defaults(func=cmd_produce)

    brd = with_servers(
        sub.add_parser("board", help="a web page of the escalations, live (buttons with FLASHPOINT_BOARD_TOKEN)")
    )
    brd.add_argument("--host", default="127.0.0.1")
    brd.add_argument("--port", type=int, default=8088)
    brd.set_defaults(func=cmd_board)

    fb = sub.add_parser("feedback", help="acknowledge, resolve or mark as false positive an escalation")
    fbsub = fb.add_subparsers(dest="feedback_command", required=True)
    for name, what in (
        ("ack", "someone is on it: reminders stop"),
        ("resolve", "handled: it re-opens if the cascade keeps growing"),
        ("false-positive", "not a complaint: silenced for good, and a training example"),
    ):
        f = with_servers(fbsub.add_parser(name, help=what))
        f.add_argument("dedup_key", help="the escalation's data.dedup_key, e.g. 'Acme/twitter:1862001'")
        f.add_argument("--by", required=True, help="who says so")
        f.add_argument("--note", help="shown in the event's reasons")
        f.set_defaults(func=cmd_feedback)

    topics = with_servers(sub.add_parser("topics", help="create Flashpoint's topics where missing"))
    topics.set_defaults(func=cmd_topics)

    model = sub.add_parser("model", help="train or evaluate the complaint model")
    msub = model.add_subparsers(dest="model_command", required=True)

    def with_method(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--method",
            choices=("finetune", "frozen"),
            default="finetune",
            help="finetune: the encoder with multi-task heads (shipped; minutes per fold on CPU); "
            "frozen: logistic-regression heads on the stock encoder (fast baseline)",
        )
        p.add_argument("--epochs", type=int, help="fine-tuning epochs (default: the shipped recipe's)")
        p.add_argument(
            "--severity-head",
            choices=("ordinal", "multinomial"),
            help="finetune: multinomial (the recipe's default: four class logits, read as the median level) or "
            "ordinal (a score and ordered cut points, class-balanced)",
        )
        p.add_argument(
            "--chatter-weight",
            type=float,
            help="finetune: weight of the control rows (domains random_tweet, random_reply) in the complaint "
            "loss (default: the recipe's 0.3; 1 weighs every row the same, the recipe before 2026-12-07)",
        )
        p.add_argument(
            "--teacher-dir",
            type=Path,
            help="finetune: distil from this bigger encoder (models/teacher.sh fetches all-mpnet-base-v2), "
            "fine-tuned per fold and asked about perturbed variants of the training posts; about 40 minutes "
            "a fold on two CPU cores",
        )
        p.add_argument(
            "--keep-folds",
            type=Path,
            help="save each fold's fine-tuned model and scores here; a rerun with the same directory resumes, "
            "and processes given the same directory split the folds (one core each: OMP_NUM_THREADS=1)",
        )
        return p

    tr = with_method(msub.add_parser("train", help="cross-validate, train, write the artifact and model card"))
    tr.add_argument("--data", type=Path, required=True)
    tr.add_argument("--out", type=Path)
    tr.add_argument("--folds", type=int, default=10)
    tr.add_argument(
        "--corrections",
        action="store_true",
        help="add the posts ops marked false positive (the corrections topic) as 'not a complaint'",
    )
    tr.add_argument("--bootstrap-servers", help="Kafka for --corrections (overrides FLASHPOINT_BOOTSTRAP_SERVERS)")
    tr.set_defaults(func=cmd_model_train)
    ev = with_method(msub.add_parser("evaluate", help="accuracy, macro-F1, per-class P/R/F1 and ECE as JSON"))
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--text-column", default="text")
    ev.add_argument("--label-column", default="label")
    ev.add_argument("--cv", type=int, help="cross-validate with K folds instead of scoring the trained model")
    ev.add_argument(
        "--by",
        choices=("domain",),
        help="also leave one brand domain out at a time (train on the others, judge it), beside the K folds",
    )
    ev.set_defaults(func=cmd_model_evaluate)

    tpc = msub.add_parser(
        "topics", help="topic routing accuracy on labelled posts (CSV: text, topic) and its cost beside inference"
    )
    tpc.add_argument("--data", type=Path, required=True, help="e.g. models/topics/labelled.csv")
    tpc.add_argument("--topics", type=Path, required=True, help="[[topic]] tables as in a watchlist's [[brand.topic]]")
    tpc.set_defaults(func=cmd_model_topics)

    pr = msub.add_parser("predict", help="complaint probability and severity for texts (lines or a CSV)")
    pr.add_argument("file", nargs="?", default="-", help="a text file (one post per line), a .csv, or - for stdin")
    pr.add_argument("--text-column", default="text")
    pr.set_defaults(func=cmd_model_predict)

    bench = sub.add_parser("bench", help="classification throughput: bare encoder vs deployed path, fp32 and int8")
    bench.add_argument("--batch-sizes", default="1,8,32,64,128,256")
    bench.add_argument("--seconds", type=float, default=2.0, help="minimum timing per cell")
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(func=cmd_bench)

    reach = sub.add_parser("reach", help="predict cascades' final size: fit, and evaluate against baselines")
    rsub = reach.add_subparsers(dest="reach_command", required=True)
    rev = rsub.add_parser("evaluate", help="the forecast, SEISMIC and two baselines side by side")
    rev.add_argument(
        "--events", type=Path, required=True, help="CSV: cascade_id, relative_time_second, number_of_followers"
    )
    rev.add_argument(
        "--observe-seconds",
        type=float,
        action="append",
        help="predict from what is seen by then (default 3600; repeatable: one fit per fold, judged at each)",
    )
    rev.add_argument(
        "--cv", type=int, help="fit the forecast on K-1 folds of these cascades and judge each held-out fold"
    )
    rev.add_argument("--thin", type=float, default=1.0, help="keep each repost with this probability (small cascades)")
    rev.add_argument(
        "--train-also",
        type=Path,
        action="append",
        help="another cascade file added to every fold's fit, never judged (repeatable; with --cv)",
    )
    rev.add_argument("--seed", type=int, default=0)
    rev.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="with --cv: split N times (seeds --seed, --seed + 1, ...) and pool the held-out judgements",
    )
    rev.add_argument("--thresholds", help="comma-separated final sizes T for precision/recall of 'final >= T'")
    rev.add_argument("--json", action="store_true")
    rev.set_defaults(func=cmd_reach_evaluate)
    ral = rsub.add_parser("alarms", help="false alarms and early warnings of escalating on the forecast")
    ral.add_argument("--events", type=Path, required=True, help="CSV as for evaluate")
    ral.add_argument("--thresholds", help="comma-separated potential reach thresholds (default 20000,200000,1000000)")
    ral.add_argument("--min-reposts", type=int, help="default FLASHPOINT_FORECAST_MIN_REPOSTS")
    ral.add_argument("--min-seconds", type=float, help="default FLASHPOINT_FORECAST_MIN_SECONDS")
    ral.add_argument("--lean", type=float, help="default FLASHPOINT_FORECAST_LEAN")
    ral.add_argument(
        "--cv", type=int, default=0, help="judge each cascade by a forecast fitted on the other K-1 folds (not shipped)"
    )
    ral.add_argument(
        "--train-also", type=Path, action="append", default=[], help="another cascade file added to every fold's fit"
    )
    ral.add_argument("--seed", type=int, default=0)
    ral.add_argument("--json", action="store_true")
    ral.set_defaults(func=cmd_reach_alarms)
    rfit = rsub.add_parser("fit", help="fit the forecast's correction on a cascade file")
    rfit.add_argument(
        "--events",
        type=Path,
        required=True,
        action="append",
        help="cascade file (repeatable: fit on all, each file weighing the same)",
    )
    rfit.add_argument("--out", type=Path, help="default: FLASHPOINT_REACH_MODEL")
    rfit.set_defaults(func=cmd_reach_fit)

    rp = with_servers(
        sub.add_parser("replay", help="run a file of mentions through a worker and report on its escalations")
    )
    rp.add_argument("file", type=Path, help="mentions, one JSON object per line (schema mention.v1)")
    rp.add_argument("--watchlist", type=Path, help="overrides FLASHPOINT_WATCHLIST")
    rp.add_argument("--out", type=Path, help="write the full report (with the samples to read) as JSON here")
    rp.add_argument(
        "--offline", action="store_true", help="the worker's flow functions in this process, without a broker"
    )
    rp.add_argument(
        "--quiet-seconds", type=float, default=10.0, help="broker mode: stop once nothing new for this long"
    )
    rp.add_argument("--timeout", type=float, default=600.0, help="broker mode: give up after this many seconds")
    rp.add_argument("--seed", type=int, default=0, help="which escalations the samples pick")
    rp.set_defaults(func=cmd_replay)

    cfg = sub.add_parser("config", help="list settings")
    cfg.add_argument("--markdown", action="store_true")
    cfg.set_defaults(func=cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    # Nothing may reach for a model hub: the encoder ships inside a Python package.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args = parser().parse_args(argv)
    if args.func is not cmd_worker:
        # A command reports a broker it cannot reach itself, in one line; the Kafka
        # client would log every failed connection attempt before that.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except (ValueError, OSError) as exc:
        # Settings, arguments, files, and a broker that never answered (TimeoutError).
        print(f"flashpoint: {exc}", file=sys.stderr)
        return 2
    except KafkaError as exc:
        servers = getattr(args, "bootstrap_servers", None) or Settings.from_env().bootstrap_servers
        print(f"flashpoint: no Kafka broker answered at {servers} ({exc})", file=sys.stderr)
        return 3
