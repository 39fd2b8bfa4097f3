"""Every tutorial runs top to bottom in JupyterLab with Run All, the way a reader runs it.

For each notebook in ``notebooks/``: open it in JupyterLab (headless Chromium), run
``notebook:run-all-cells`` and wait for the command to settle, then check from the notebook's
model that every code cell ran (an execution count on each, no ``[ ]``/``[*]`` prompt), that
error outputs appear only in cells tagged ``raises-exception`` (and that each of those did
raise), and that no widget failed to render. A cell that raises without the tag stops Run All,
which this test reports as the cells left unexecuted.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from test_live_view import KERNEL_IDLE_JS, WIDGET_ERRORS, _dismiss_toasts

REPO = Path(__file__).resolve().parents[2]
#: Tutorials whose install is not the browser test's (make test-browser has no ml extra): tutorial
#: 12 trains with Ultralytics, Lightning and Keras and runs under nbval in make test-ml instead.
NOT_HERE = {"12_training_a_real_detector.ipynb"}
TUTORIALS = sorted(p for p in (REPO / "notebooks").glob("*.ipynb") if p.name not in NOT_HERE)
FOLDER = "tutorials"
KERNEL_TIMEOUT = 90.0
RUN_TIMEOUT = 420.0
# Nothing changed on the page and the kernel idle this long: Run All has stopped.
STOPPED_AFTER = 60.0

START_RUN_ALL_JS = """
() => {
  window.__synapseRunAll = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => { window.__synapseRunAll = { ok: ok === undefined ? null : ok }; },
    err => { window.__synapseRunAll = { error: String(err) }; },
  );
}
"""

# The notebook's code cells as its model holds them, plus what the page shows.
CELLS_JS = """
(errors) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.filter(cell => cell.model.type === 'code');
  // What the page shows: a finished run's view leaves a hidden output behind (a widget output
  // naming no widget, whose renderer keeps its "Loading widget..." text while hiding it).
  const pageText = document.body.innerText;
  return {
    done: window.__synapseRunAll,
    loading: pageText.includes('Loading widget'),
    widgetErrors: errors.filter(e => pageText.includes(e)),
    cells: cells.map((cell, index) => {
      const outputs = [];
      for (let i = 0; i < cell.model.outputs.length; i++) {
        const json = cell.model.outputs.get(i).toJSON();
        outputs.push({ type: json.output_type, ename: json.ename || null,
                       evalue: (json.evalue || '').slice(0, 200) });
      }
      return {
        index,
        count: cell.model.executionCount,
        prompt: (cell.node.querySelector('.jp-InputPrompt')?.textContent || '').trim(),
        tags: cell.model.getMetadata('tags') || [],
        outputs,
        source: cell.model.sharedModel.getSource().split('\\n')[0].slice(0, 80),
      };
    }),
  };
}
"""

SHUTDOWN_JS = """
async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (panel && panel.sessionContext) { await panel.sessionContext.shutdown(); }
}
"""


@pytest.fixture(scope="module")
def tutorials_folder(jupyterlab: Any) -> Path:
    """Copies of the tutorials in the server's root (the kernel's cwd is their folder)."""
    folder = jupyterlab.root / FOLDER
    folder.mkdir(exist_ok=True)
    for path in TUTORIALS:
        shutil.copy2(path, folder / path.name)
    return folder


def test_every_tutorial_is_covered() -> None:
    assert len(TUTORIALS) >= 8, TUTORIALS


@pytest.mark.browser
@pytest.mark.timeout(600)
@pytest.mark.parametrize("tutorial", TUTORIALS, ids=lambda p: p.stem)
def test_run_all(
    tutorial: Path,
    tutorials_folder: Path,
    page: Any,
    jupyterlab: Any,
    output_dir: Path,
    console: list[str],
) -> None:
    started = time.monotonic()
    page.goto(jupyterlab.lab_url(f"{FOLDER}/{tutorial.name}"))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=KERNEL_TIMEOUT * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=KERNEL_TIMEOUT * 1000, polling=250)
    _dismiss_toasts(page, console)
    page.evaluate(START_RUN_ALL_JS)

    # The command settles early when a tagged cell raises (JupyterLab then resets the prompts of
    # the cells not run yet) while the kernel goes on with the queued cells, and the kernel may
    # report "idle" for seconds in the middle of a cell. So the run is over when every code cell
    # has its execution count, or, if Run All really stopped, once nothing changed for a long time.
    deadline = time.monotonic() + RUN_TIMEOUT
    state: dict[str, Any] = page.evaluate(CELLS_JS, list(WIDGET_ERRORS))
    quiet_since = time.monotonic()
    while not state["widgetErrors"]:
        now = time.monotonic()
        settled = state["done"] is not None and not state["loading"]
        all_counted = all(isinstance(c["count"], int) for c in state["cells"])
        finished = all_counted or now - quiet_since >= STOPPED_AFTER
        if settled and finished and page.evaluate(KERNEL_IDLE_JS):
            break
        if now > deadline:
            pytest.fail(
                f"{tutorial.name}: Run All not finished after {RUN_TIMEOUT:.0f}s; "
                f"prompts {[c['prompt'] for c in state['cells']]}\n{console[-20:]}"
            )
        page.wait_for_timeout(250)
        previous = state
        state = page.evaluate(CELLS_JS, list(WIDGET_ERRORS))
        if state != previous:
            quiet_since = time.monotonic()
    seconds = time.monotonic() - started
    page.screenshot(path=str(output_dir / f"run_all_{tutorial.stem}.png"))
    page.evaluate(SHUTDOWN_JS)

    cells = state["cells"]
    assert cells, f"{tutorial.name}: no code cells found on the page"
    not_run = [
        (c["index"], c["prompt"], c["source"])
        for c in cells
        if not isinstance(c["count"], int) or not re.fullmatch(r"\[\d+\]:?", c["prompt"])
    ]
    assert not not_run, (
        f"{tutorial.name}: Run All left {len(not_run)} of {len(cells)} code cells unexecuted "
        f"(index, prompt, first line): {not_run}"
    )
    unexpected = [
        (c["index"], c["source"], [o for o in c["outputs"] if o["type"] == "error"])
        for c in cells
        if "raises-exception" not in c["tags"] and any(o["type"] == "error" for o in c["outputs"])
    ]
    assert not unexpected, f"{tutorial.name}: error output in untagged cells: {unexpected}"
    silent = [
        (c["index"], c["source"])
        for c in cells
        if "raises-exception" in c["tags"] and not any(o["type"] == "error" for o in c["outputs"])
    ]
    assert not silent, f"{tutorial.name}: cells tagged raises-exception did not raise: {silent}"
    assert not state["widgetErrors"], f"{tutorial.name}: {state['widgetErrors']}\n{console[-20:]}"
    print(f"{tutorial.name}: {len(cells)} code cells run in {seconds:.1f}s")
