"""The README's command table and every `--help` agree: each command the parser knows has a
row, and a row names exactly the options and arguments its command's help shows."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

from modemd.cli.main import build_parser

README = Path(__file__).parent.parent / "README.md"
COMMON = {"-h", "--help", "--config", "--log-level"}  # every command's, said above the table


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from _leaves(sub, (*path, name))


def from_help() -> dict[tuple[str, ...], tuple[set[str], list[str]]]:
    """Each command: its options and its positional arguments, as its --help shows them."""
    found = {}
    for path, parser in _leaves(build_parser()):
        options = {
            o for a in parser._actions for o in a.option_strings if o.startswith("--")
        } - COMMON
        positionals = [str(a.metavar or a.dest) for a in parser._actions if not a.option_strings]
        found[path] = (options, positionals)
    return found


def command_table() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `modemd")]


def from_readme() -> dict[tuple[str, ...], tuple[set[str], list[str]]]:
    """Each form in a row's first cell: `modemd alert list`, then `alert show ID` (from the
    top) or `add PHONE [--name ...]` (within the row's command)."""
    commands = {path[0] for path, _ in _leaves(build_parser())}
    found = {}
    for row in command_table():
        cell = row.split("|")[1]
        group: tuple[str, ...] = ()
        for form in re.findall(r"`([^`]+)`", cell):
            optional = " ".join(re.findall(r"\[([^\]]*)\]", form)).split()
            plain = re.sub(r"\[[^\]]*\]", " ", form.removeprefix("modemd ")).split()
            if plain[0] in commands:
                group = (plain[0],)
                path, rest = _split(plain, group=())
            else:
                path, rest = _split(plain, group)
            options = {w for w in optional if w.startswith("--")}
            # A required option is written plainly, with its value: `--name NAME`.
            required = {w for w in rest if w.startswith("--")}
            values = {rest[i + 1] for i, w in enumerate(rest[:-1]) if w in required}
            found[path] = (options | required, [w for w in rest if w not in required | values])
    return found


def _split(words: list[str], group: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """Command words (lower case) from placeholders (FILE, ID, PHONE...)."""
    path = list(group)
    rest = []
    for word in words:
        if not rest and re.fullmatch(r"[a-z][a-z-]*", word):
            path.append(word)
        else:
            rest.append(word)
    return tuple(path), rest


def test_every_command_has_a_row_that_says_what_its_help_says() -> None:
    helped, documented = from_help(), from_readme()
    assert sorted(helped) == sorted(documented), "commands without a README row, or rows for none"
    for path, (options, positionals) in helped.items():
        readme_options, readme_positionals = documented[path]
        name = " ".join(path)
        assert readme_options == options, f"modemd {name}: README {readme_options}, help {options}"
        assert readme_positionals == positionals, f"modemd {name}: arguments"


def test_the_comparison_reads_forms_within_a_row() -> None:
    forms = from_readme()
    assert forms[("alert", "show")] == ({"--json"}, ["ID"])
    assert forms[("subscribers", "add")][0] == {"--name", "--commune", "--sector"}
