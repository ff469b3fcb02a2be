"""The README and docs show what the code does: schema and policy examples, commands, paths."""

from __future__ import annotations

import json
import re
import subprocess

import jsonschema

from pipeline.mention import parse, schema
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_input_example_is_valid() -> None:
    block = re.search(r"```json\n(\{\"id\": \"1862\".*?)\n```", README, re.S)
    assert block is not None
    doc = json.loads(block.group(1))
    jsonschema.validate(doc, schema())
    assert parse(block.group(1).encode()).kind == "reply"


def test_readme_is_what_a_user_reads_first() -> None:
    # What it is, the two commands, the flow, the contracts, figures and links; the
    # rest lives in docs/ (issue 30).
    assert len(README.splitlines()) < 250
    assert README.index("## Two commands") < README.index("## How a mention flows") < README.index("## Input")


def test_readme_names_the_test_command_that_ci_runs() -> None:
    assert "bash deploy/test.sh" in README
    assert "deploy/test.sh" in (REPO / ".ci" / "run").read_text()


def test_policy_example_is_a_valid_watchlist() -> None:
    import tomllib

    from pipeline.brands import Watchlist
    from pipeline.escalation import Policies, Policy

    operations = (REPO / "docs" / "operations.md").read_text()
    start = operations.index("```toml\n[[brand]]") + len("```toml\n")
    example = operations[start : operations.index("```", start)]
    w = Watchlist.from_dict(tomllib.loads(example))
    policy = Policies.build(Policy(), w.policy_tables()).of("Acme")
    assert policy.reach_thresholds == (5000, 50000, 500000, 2000000) and "jane_press" in policy.vip_handles
    assert policy.reminder_seconds == (0.0, 14_400.0, 3_600.0, 900.0) and policy.pile_on_window_seconds == 1_800.0


def test_escalation_example_meets_its_schema() -> None:
    from tests.factories import assert_valid_escalation

    start = README.index("```json", README.index("## Output: escalations")) + len("```json")
    assert_valid_escalation(json.loads(README[start : README.index("```", start)]))


def test_feedback_example_is_valid() -> None:
    from pipeline.escalation.feedback import parse

    block = re.search(r"```json\n(\{\"dedup_key\".*?)\n```", README, re.S)
    assert block is not None
    assert parse(block.group(1).encode()).action == "acknowledge"


def test_schema_examples_are_valid() -> None:
    from pipeline import schemas
    from tests.factories import assert_valid_escalation

    examples = schemas.load("escalation.v1.json")["examples"]
    assert examples
    for example in examples:
        assert_valid_escalation(example)


# A repository path in prose: a top-level folder of this repository, then a path. A
# path that goes on with "<" is a pattern (``pipeline-<time>.json``), not a file.
PATH = re.compile(r"(?<![\w./-])((?:pipeline|tests|docs|models|deploy|benchmarks|\.ci)/[\w./*{},-]*[\w*}])(?![\w.-]*<)")


def named_paths(text: str) -> list[str]:
    """Every repository path ``text`` names, ``{a,b}`` expanded, ``::test`` dropped."""
    found = []
    for m in PATH.finditer(text):
        path = m.group(1).split("::")[0]
        braces = re.search(r"\{([^}]*)\}", path)
        alternatives = braces.group(1).split(",") if braces else [""]
        for alt in alternatives:
            found.append((path[: braces.start()] + alt + path[braces.end() :]) if braces else path)
    return found


def test_named_paths_are_read_as_meant() -> None:
    text = "see `pipeline/settings.py`, tests/test_cli.py::test_x, fix{1,2}: benchmarks/r/fix{1,2}.jsonl; pipeline-<t>"
    assert named_paths(text) == [
        "pipeline/settings.py",
        "tests/test_cli.py",
        "benchmarks/r/fix1.jsonl",
        "benchmarks/r/fix2.jsonl",
    ]


def test_every_repository_path_named_in_markdown_exists() -> None:
    tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    missing = []
    for name in tracked.split():
        for path in named_paths((REPO / name).read_text()):
            if not list(REPO.glob(path)):
                missing.append(f"{name}: {path}")
    assert not missing, "\n".join(missing)
