"""The suite waits for conditions, never for time: a fixed sleep before an assertion passes on
an idle machine and fails on a loaded one. A ``time.sleep`` in a test is allowed only as the
step of a polling loop (inside ``while``), or on a line that says why it is not a wait."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
MARK = "not a wait"


def _blind_sleeps(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found: list[str] = []

    def visit(node: ast.AST, in_loop: bool) -> None:
        for child in ast.iter_child_nodes(node):
            looping = in_loop or isinstance(node, ast.While)
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                looping = False  # a helper defined in a loop does not poll by itself
            if (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute)
                and child.func.attr == "sleep"
                and isinstance(child.func.value, ast.Name)
                and child.func.value.id == "time"
                and not looping
                and MARK not in lines[child.lineno - 1]
            ):
                found.append(f"{path.name}:{child.lineno}: {lines[child.lineno - 1].strip()}")
            visit(child, looping)

    visit(ast.parse(source), False)
    return found


def test_no_test_waits_by_sleeping() -> None:
    blind = [hit for path in sorted(TESTS.rglob("*.py")) for hit in _blind_sleeps(path)]
    assert blind == [], "wait for a condition instead:\n" + "\n".join(blind)


def test_the_check_finds_a_blind_sleep(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import time\n"
        "def test_x():\n"
        "    time.sleep(1.0)\n"
        "    while True:\n"
        "        time.sleep(0.01)\n"
        "    time.sleep(0.2)  # a random moment to strike, not a wait\n",
        encoding="utf-8",
    )
    assert _blind_sleeps(sample) == ["test_sample.py:3: time.sleep(1.0)"]
