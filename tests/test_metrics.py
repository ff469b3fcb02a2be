"""Prometheus practice for every metric, and every name the alerts and the dashboard use
defined in pipeline.metrics."""

from __future__ import annotations

import json
import re

import yaml
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from pipeline import metrics
from tests.conftest import REPO

# Labels whose values come from a fixed, small set. A handle, post id, brand or dedup
# key as a label would make one series per customer.
BOUNDED_LABELS = {"outcome", "source", "reason", "kind", "severity", "action", "topic", "partition"}
INFO_LABELS = {"version", "python", "faust", "aiokafka", "device", "precision"}


def defined() -> dict[str, MetricWrapperBase]:
    return {m._name: m for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}


def exposed_names() -> set[str]:
    names = set()
    for name, m in defined().items():
        if isinstance(m, Counter):
            names.add(name + "_total")
        elif isinstance(m, Histogram):
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        else:
            names.add(name)
    return names


def test_names_units_and_labels_follow_prometheus_practice() -> None:
    for name, m in defined().items():
        assert name.startswith("flashpoint_"), name
        labels = set(m._labelnames)
        if name.endswith("_info"):
            assert isinstance(m, Gauge) and labels <= INFO_LABELS, name
            continue
        assert labels <= BOUNDED_LABELS, f"{name}: unbounded label in {labels - BOUNDED_LABELS}"
        if isinstance(m, Histogram):
            assert name.endswith(("_seconds", "_size")), f"{name}: histograms in base units"
        assert not re.search(r"_(ms|milliseconds|minutes|hours|kb|mb)$", name), name
        assert m._documentation, f"{name}: no help text"


def promql_names(expr: str) -> set[str]:
    return set(re.findall(r"\bflashpoint_[a-z_]+", expr))


def test_alert_rules_use_only_defined_metrics() -> None:
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    used = {n for g in rules["groups"] for r in g["rules"] for n in promql_names(r["expr"])}
    assert used and used <= exposed_names(), used - exposed_names()


def test_dashboard_uses_only_defined_metrics() -> None:
    dash = json.loads((REPO / "deploy/grafana/dashboards/flashpoint.json").read_text())
    used = {n for p in dash["panels"] for t in p["targets"] for n in promql_names(t["expr"])}
    assert used and used <= exposed_names(), used - exposed_names()
    # The panels the issue asks for.
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for word in ("outcome", "lag", "latency", "escalations", "dead letters"):
        assert word in titles, word
