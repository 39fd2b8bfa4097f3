"""``tools/build_docs.py`` (the second half of ``make demo``) on one small notebook.

The page and the index it writes reference nothing on the network, the index lists the page by
its title and is named last in the output, and the kernel prints no warning on the way.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|import\(\s*["']https?://""",
    re.IGNORECASE,
)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_build_docs_writes_offline_pages_and_an_index(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# A tiny tutorial\n\nIt prints one line."),
        nbformat.v4.new_code_cell(
            "from synapse_steps.steps import StepRegistry\nprint(len(StepRegistry()))"
        ),
    ]
    source = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, source)
    output = tmp_path / "build"

    done = subprocess.run(
        # A relative --output, as `make demo` passes it ("build").
        [sys.executable, str(REPO / "tools" / "build_docs.py"), "--output", "build", source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "without encryption" not in done.stderr, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    page = output / "tiny.html"
    index = output / "index.html"
    assert page.is_file()
    assert index.is_file()
    text = page.read_text(encoding="utf-8")
    assert "<title>A tiny tutorial</title>" in text
    assert "0\n" in text  # the cell ran
    assert not EXTERNAL.findall(text), EXTERNAL.findall(text)[:5]
    listing = index.read_text(encoding="utf-8")
    assert '<a href="tiny.html">A tiny tutorial</a>' in listing
    assert not EXTERNAL.findall(listing)
    # What to open comes last.
    assert done.stdout.strip().splitlines()[-1].endswith(index.as_uri()), done.stdout
    # The source notebook is not touched.
    assert nbformat.read(source, as_version=4).cells[1].outputs == []


def test_a_tutorial_whose_extra_is_not_installed_is_skipped_with_a_note(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("import no_such_framework_here")]
    notebook.metadata["synapse_steps"] = {"extra": "ml", "imports": ["no_such_framework_here"]}
    source = tmp_path / "needs_more.ipynb"
    nbformat.write(notebook, source)

    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_docs.py"), "--output", "build", source],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert (
        "skipping needs_more.ipynb: it needs no_such_framework_here, not installed here "
        "(pip install 'synapse-steps[ml]' to build its page)"
    ) in done.stdout
    assert not (tmp_path / "build" / "needs_more.html").exists()
    assert "needs_more" not in (tmp_path / "build" / "index.html").read_text(encoding="utf-8")


RUN_CELL = """\
from synapse_steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Count(BaseStep[BaseStepContext]):
    name = "count"
    progress_weight = 1.0

    def execute(self, context):
        for i in range(5):
            context.set_progress(i + 1, 5)
            context.set_metrics({"loss": 1 / (i + 1), "epoch": i})
        return StepResult()


registry = StepRegistry()
registry.register(Count())
Orchestrator(registry, BaseStepContext()).execute()
"""


def local_links(page: Path) -> list[str]:
    """The page's relative links and sources (not URLs, anchors or data)."""
    found = re.findall(r"""(?:href|src)=["']([^"']+)["']""", page.read_text(encoding="utf-8"))
    return [
        link for link in found if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#|//)", link, re.IGNORECASE)
    ]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_pages_link_to_pages_and_show_each_run_once(tmp_path: Path) -> None:
    first = nbformat.v4.new_notebook()
    first.cells = [
        nbformat.v4.new_markdown_cell("# First\n\nA run, then the next tutorial."),
        nbformat.v4.new_code_cell(RUN_CELL),
        nbformat.v4.new_markdown_cell(
            "Next: [the second](second.ipynb), or the [notes](notes.md#top)."
        ),
    ]
    second = nbformat.v4.new_notebook()
    second.cells = [nbformat.v4.new_markdown_cell("# Second\n\nBack to [the first](first.ipynb).")]
    sources = tmp_path / "notebooks"
    sources.mkdir()
    nbformat.write(first, sources / "first.ipynb")
    nbformat.write(second, sources / "second.ipynb")
    (sources / "notes.md").write_text("# Notes\n")
    output = tmp_path / "build"

    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "build_docs.py"),
            "--output",
            str(output),
            sources / "first.ipynb",
            sources / "second.ipynb",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    page = output / "first.html"
    text = page.read_text(encoding="utf-8")
    # "Next:" goes to the built page, not to an .ipynb the build does not hold.
    assert 'href="second.html"' in text
    assert ".ipynb" not in " ".join(local_links(page))
    assert 'href="first.html"' in (output / "second.html").read_text(encoding="utf-8")
    # Every local link of every page names a file that exists.
    for built in output.glob("*.html"):
        for link in local_links(built):
            assert (built.parent / link.partition("#")[0]).exists(), (built.name, link)
    # The run shows once: its record (and figure); its live view gave its output away, and no
    # widget state is left to draw it again.
    assert text.count('class="synapse-steps-run') == 1
    assert "succeeded - 1 of 1 steps executed" in text
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert "widget-state+json" not in text
