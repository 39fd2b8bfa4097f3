"""mypy checks user steps against their context.

``typing_cases/docs_ok.py`` holds the documentation's typed steps and context and must pass
``mypy --strict``; every line of ``typing_cases/wrong_context.py`` marked ``# E: <code>`` must be
reported with that error code, and nothing else.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "typing_cases"
ROOT = Path(__file__).parent.parent
ERROR = re.compile(
    r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<message>.*)  \[(?P<code>[a-z-]+)\]$"
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def mypy(path: Path, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-pretty",
            "--show-error-codes",
            "--cache-dir",
            str(cache_dir),
            str(path.relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_documented_typed_steps_pass_strict_mypy(cache_dir: Path) -> None:
    completed = mypy(CASES / "docs_ok.py", cache_dir)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith("Success: no issues found in 1 source file")


def test_a_step_used_with_the_wrong_context_is_rejected(cache_dir: Path) -> None:
    case = CASES / "wrong_context.py"
    expected = {
        (number, match.group(1))
        for number, line in enumerate(case.read_text().splitlines(), start=1)
        if (match := re.search(r"# E: ([a-z-]+)$", line))
    }
    assert len(expected) == 11

    completed = mypy(case, cache_dir)

    errors = [m for line in completed.stdout.splitlines() if (m := ERROR.match(line))]
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert {(int(m["line"]), m["code"]) for m in errors} == expected
    assert all(m["file"].endswith("wrong_context.py") for m in errors)
    messages = {int(m["line"]): m["message"] for m in errors}
    register_line = next(
        n for n, _ in expected if "other_registry.register(LoadDataStep())" in _line(case, n)
    )
    assert messages[register_line] == (
        'Argument 1 to "register" of "StepRegistry" has incompatible type "LoadDataStep"; '
        'expected "BaseStep[OtherContext]"'
    )
    execute_line = next(n for n, _ in expected if "LoadDataStep().execute(" in _line(case, n))
    assert messages[execute_line] == (
        'Argument 1 to "execute" of "LoadDataStep" has incompatible type "OtherContext"; '
        'expected "MyContext"'
    )


def _line(path: Path, number: int) -> str:
    return path.read_text().splitlines()[number - 1]
