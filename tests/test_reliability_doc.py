"""RELIABILITY.md's fault matrix and the fault tests match one to one."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}


def test_every_fault_test_has_its_row_and_every_row_its_test():
    table = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)(?:\[[\w-]+\])?`", (ROOT / "RELIABILITY.md").read_text())
    assert len(table) >= 10
    for file, name in table:
        assert name in _test_functions(ROOT / file), f"RELIABILITY.md names {file}::{name}, which does not exist"
    documented = {name for file, name in table if file == "tests/test_faults.py"}
    assert _test_functions(ROOT / "tests" / "test_faults.py") == documented
