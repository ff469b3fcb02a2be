"""The reference pages, written from the code so that they cannot drift from it:
docs/configuration.md from the settings object, docs/cli.md from the command-line
parser. ``python -m pipeline.reference`` rewrites both; tests/test_reference.py fails
when either differs from what this writes."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.settings import REPO_DIR, Settings

# Fixed, so that the pages do not depend on the terminal that wrote them.
WIDTH = 88


def configuration() -> str:
    rows = "\n".join(f"| `{var}` | `{default}` | {doc} |" for var, default, doc in Settings.describe())
    return f"""# Configuration

Every setting is an environment variable, read once when a command starts;
`flashpoint config` prints the values in effect, secrets shown only as set or not.
A value that does not parse, or is out of range, stops the command with one line
naming the variable. Written from `pipeline/settings.py` by `python -m pipeline.reference`.

| variable | default | meaning |
|---|---|---|
{rows}
"""


def command_parsers(
    p: argparse.ArgumentParser, path: list[str]
) -> list[tuple[list[str], argparse.ArgumentParser, bool]]:
    """Every parser under ``p`` with its command path, and whether it is a command
    itself (one that takes no subcommand)."""
    subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    found = [(path, p, not subs)]
    for action in subs:
        for name, child in action.choices.items():
            found += command_parsers(child, [*path, name])
    return found


def cli() -> str:
    from pipeline.cli import parser

    parts = [
        "# Command line",
        "",
        "`flashpoint COMMAND --help` prints the same. Every command answers an unreachable",
        "broker (after `FLASHPOINT_BROKER_WAIT_SECONDS`), a missing file or a bad flag with",
        "one line on stderr and a non-zero exit: 2 for a bad argument, setting or file or a",
        "broker that never answered, 3 for a Kafka error. Written from `pipeline/cli.py` by",
        "`python -m pipeline.reference`.",
    ]
    for path, p, _ in command_parsers(parser(), ["flashpoint"]):
        p.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
        parts += ["", f"## {' '.join(path)}", "", "```text", p.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


PAGES = {"docs/configuration.md": configuration, "docs/cli.md": cli}


def main() -> None:
    for name, write in PAGES.items():
        Path(REPO_DIR / name).write_text(write())
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
