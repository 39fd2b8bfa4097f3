"""What happened to my run, in a real browser (issue 18): JupyterLab 4 and Notebook 7.

- ``history_view.ipynb``: three trainings (one diverges), then ``runs()`` as a table and the loss
  across runs. In both front ends, in the light and the dark theme: the rows say how each run
  ended, every status colour reaches 4.5:1 on its background, the figure's text 4.5:1 and its
  lines 3:1 (measured on the screen, as in ``test_live_view``).
- ``restart_view.ipynb`` (JupyterLab): Run All, and while ``step_4`` runs the kernel is
  restarted (the server's own restart: SIGINT, shutdown request, ...). Run All again: the same
  cell's new run opens its view with what happened to the previous run, its record keeps that
  line, and ``runs()`` lists the restart.
- ``sweep_view.ipynb``: a sweep's live rows (a failed row says why), which give way to one static
  table.

Screenshots go to ``test-output/browser/``; with ``SYNAPSE_STEPS_UPDATE_SCREENSHOT=1`` the
JupyterLab ones replace ``docs/images/run_history.png``, ``restart_notice.png`` and
``sweep_table.png``.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from figure_pixels import FigureContrast
from test_live_view import (
    CONTRAST_JS,
    DOCS_IMAGES,
    KERNEL_IDLE_JS,
    MIN_CONTRAST,
    THEME_JS,
    UPDATE_SCREENSHOTS,
    WIDGET_ERRORS,
    _assert_figure_contrast,
    _dismiss_toasts,
    _open,
    _run_all,
    _suffix,
)

RUN_TIMEOUT = 180.0

#: One code cell's outputs: records, tables, widgets, text.
CELL_JS = """
(index) => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').trim());
  const cell = cells[index];
  const area = cell && cell.querySelector('.jp-OutputArea');
  const text = document.body.innerText;
  const rows = table => [...table.querySelectorAll('tbody tr')].map(
    tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()));
  const state = {
    prompts,
    loading: text.includes('Loading widget'),
    errors: ERRORS.filter(e => text.includes(e)),
    text: area ? area.innerText : '',
    widgets: area ? area.querySelectorAll('.jupyter-widgets').length : 0,
    header: '',
    records: area ? [...area.querySelectorAll('.synapse-steps-run')].map(el => el.innerText) : [],
    history: null,
    sweep: null,
    sweep_rows: [],
    images: area ? [...area.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth)
      .length : 0,
  };
  if (!area) return state;
  const history = area.querySelector('table.synapse-steps-history');
  if (history) {
    state.history = {
      caption: history.querySelector('caption').innerText,
      head: [...history.querySelectorAll('th')].map(th => th.innerText.trim()),
      rows: rows(history),
      classes: [...history.querySelectorAll('tbody span[class*="sst-"]')].map(s => s.className),
    };
  }
  const sweep = area.querySelector('table.synapse-steps-sweep');
  if (sweep) {
    state.sweep = {
      caption: sweep.querySelector('caption').innerText,
      head: [...sweep.querySelectorAll('th')].map(th => th.innerText.trim()),
      rows: rows(sweep),
    };
  }
  const view = area.querySelector('.widget-vbox');
  if (view) {
    state.header = view.children[0] ? view.children[0].innerText.trim() : '';
    state.sweep_rows = [...view.children].filter(el => el.classList.contains('widget-hbox'))
      .map(row => row.innerText.replace(/\\s+/g, ' ').trim());
  }
  return state;
}
""".replace("ERRORS", repr(list(WIDGET_ERRORS)))

#: CONTRAST_JS for one code cell (it measures the last one).
CELL_CONTRAST_JS = CONTRAST_JS.replace("() => {", "(index) => {", 1).replace(
    "cells[cells.length - 1]", "cells[index]"
)


def _cell(page: Any, index: int) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(CELL_JS, index)
    assert not state["errors"], state["errors"]
    return state


def _all_ran(state: dict[str, Any]) -> bool:
    prompts = state["prompts"]
    return bool(prompts) and all(re.fullmatch(r"\[\d+\]:?", p) for p in prompts)


def _wait(page: Any, index: int, done: Any, on_state: Any = None, what: str = "") -> dict[str, Any]:
    """Poll cell ``index`` until ``done(state)``; ``on_state`` sees each state on the way."""
    deadline = time.monotonic() + RUN_TIMEOUT
    state = _cell(page, index)
    while not done(state):
        assert time.monotonic() < deadline, f"{what} not seen in {RUN_TIMEOUT:.0f}s: {state}"
        if on_state is not None:
            on_state(state)
        page.wait_for_timeout(150)
        state = _cell(page, index)
    return state


def _shot(page: Any, index: int, path: Path) -> None:
    output = page.locator(".jp-Notebook .jp-CodeCell").nth(index).locator(".jp-Cell-outputWrapper")
    output.scroll_into_view_if_needed()
    output.screenshot(path=str(path))


def _contrast(page: Any, index: int, where: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(CELL_CONTRAST_JS, index)
    assert found, f"no status text (.sst-*) in the {where}"
    low = [item for item in found if item["ratio"] < MIN_CONTRAST]
    assert not low, f"status text under {MIN_CONTRAST}:1 in the {where}: {low}"
    return found


def _theme(page: Any, light: bool) -> None:
    page.evaluate(THEME_JS, "JupyterLab Light" if light else "JupyterLab Dark")
    flag = "true" if light else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{flag}'", timeout=20_000)
    page.wait_for_timeout(300)  # the page restyles after the marker flips


def _keep(shot: Path, name: str) -> None:
    if UPDATE_SCREENSHOTS:
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGES / name)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_run_history_table_light_and_dark(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str], ui: str
) -> None:
    tag = _suffix(ui)
    _open(page, jupyterlab, "history_view.ipynb", console, ui)
    _run_all(page)
    state = _wait(page, 1, lambda s: _all_ran(s) and s["history"] is not None, what="the table")
    figure = _wait(page, 2, lambda s: s["images"] >= 1, what="the figure")
    table = state["history"]
    assert table["caption"].startswith("3 runs of workflow 'history-demo', newest first"), table
    assert table["head"] == [
        "run",
        "started",
        "took",
        "steps",
        "outcome",
        "stopped at",
        "reason",
        "last metrics",
    ], table
    outcomes = [row[4] for row in table["rows"]]
    assert outcomes == ["failed, rolled back 1 step", "succeeded", "succeeded"], table
    assert table["rows"][0][5:7] == ["fit", "diverged at epoch 0"], table
    assert all(re.fullmatch(r"[0-9a-f]{32}", row[0]) for row in table["rows"]), table
    assert all(row[7].startswith("loss=") for row in table["rows"][1:]), table
    assert table["classes"] == ["sst-bad", "sst-ok", "sst-ok"], table
    assert figure["images"] == 1, figure
    _dismiss_toasts(page, console)
    light = _contrast(page, 1, "history table (light)")
    shot = output_dir / f"run_history{tag}.png"
    _shot(page, 1, shot)
    figures: dict[str, FigureContrast] = {}
    plot = page.locator(".jp-Notebook .jp-CodeCell").nth(2).locator("img").last
    # Two runs reported a loss: one row of legend (their ids) above the axes.
    figures["light"] = _assert_figure_contrast(
        plot, output_dir / f"history_figure{tag}.png", "cross-run figure", legend_rows=1
    )
    try:
        _theme(page, light=False)
        dark = _contrast(page, 1, "history table (dark)")
        _shot(page, 1, output_dir / f"run_history_dark{tag}.png")
        figures["dark"] = _assert_figure_contrast(
            plot, output_dir / f"history_figure_dark{tag}.png", "dark cross-run figure", 1
        )
        assert max(figures["dark"].background) < 64, figures
    finally:
        _theme(page, light=True)
    if ui == "lab":
        _keep(shot, "run_history.png")
    print(
        f"history table ({ui}): light {[(i['cls'], i['ratio']) for i in light]}; dark "
        f"{[(i['cls'], i['ratio']) for i in dark]}; figure "
        + "; ".join(f"{k}: {v.summary()}" for k, v in figures.items())
    )


RESTART_JS = """
async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  await kernel.restart();
}
"""


@pytest.mark.browser
@pytest.mark.timeout(400)
def test_the_run_after_a_kernel_restart_says_what_happened(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str]
) -> None:
    flag = jupyterlab.root / "restarted.flag"
    flag.unlink(missing_ok=True)
    _open(page, jupyterlab, "restart_view.ipynb", console)
    _run_all(page)
    frozen = _wait(page, 1, lambda s: "running step_4" in s["header"], what="step_4 running")
    assert "The previous run" not in frozen["text"], frozen
    page.evaluate(RESTART_JS)
    flag.write_text("the kernel was restarted")
    page.wait_for_function(KERNEL_IDLE_JS, timeout=60_000, polling=250)
    _dismiss_toasts(page, console)
    _run_all(page)
    shot = output_dir / "restart_notice.png"
    shot.unlink(missing_ok=True)

    def on_state(state: dict[str, Any]) -> None:
        running = state["header"].startswith("⚠") and "running" in state["header"]
        if running and not shot.exists():
            _shot(page, 1, shot)

    notice = "was interrupted at 'step_4' by a kernel restart; 5 steps were rolled back."
    view = _wait(page, 1, lambda s: notice in s["header"], what="the notice in the live view")
    assert view["header"].startswith("⚠ The previous run ("), view
    # The record shows, then the view gives its output away.
    final = _wait(
        page, 1, lambda s: len(s["records"]) == 1 and not s["widgets"], on_state, "the record"
    )
    record = final["records"][0]
    assert record.startswith("⚠ The previous run ("), record
    assert notice in record.splitlines()[0], record
    assert "succeeded - 6 of 6 steps executed" in record, record
    assert final["widgets"] == 0, final
    table = _wait(page, 2, lambda s: s["history"] is not None, what="runs()")["history"]
    assert [row[4] for row in table["rows"]][:2] == [
        "succeeded",
        "interrupted by a kernel restart, rolled back 5 steps",
    ], table
    assert table["rows"][1][5:7] == ["step_4", "kernel restart"], table
    assert shot.exists(), "the live view with the notice was never seen"
    _shot(page, 1, output_dir / "restart_record.png")
    _keep(shot, "restart_notice.png")


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_sweep_ends_as_one_static_table(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str], ui: str
) -> None:
    tag = _suffix(ui)
    _open(page, jupyterlab, "sweep_view.ipynb", console, ui)
    _run_all(page)
    seen: dict[str, list[str]] = {"rows": []}
    live = output_dir / f"sweep_live{tag}.png"
    live.unlink(missing_ok=True)

    def on_state(state: dict[str, Any]) -> None:
        if state["sweep_rows"]:
            seen["rows"] = state["sweep_rows"]
            if not live.exists() and any("running" in row for row in state["sweep_rows"]):
                _shot(page, 0, live)

    final = _wait(page, 0, lambda s: _all_ran(s) and s["sweep"] is not None, on_state, "table")
    assert seen["rows"], "the sweep's live rows were never seen"
    page.wait_for_timeout(500)
    final = _cell(page, 0)
    assert final["widgets"] == 0, final  # the rows gave way to the table
    table = final["sweep"]
    assert table["caption"] == "Sweep: 4 runs, 3 succeeded, 1 did not", table
    assert table["head"] == ["run", "lr", "outcome", "reason", "loss"], table
    assert [row[2] for row in table["rows"]] == ["succeeded"] * 3 + ["failed at 'train'"], table
    assert table["rows"][3][3] == "diverged at epoch 0", table
    assert all(float(row[4]) >= 0 for row in table["rows"][:3]), table  # the final losses
    assert table["rows"][3][4] == "", table  # it diverged before reporting one
    shot = output_dir / f"sweep_table{tag}.png"
    _shot(page, 0, shot)
    _contrast(page, 0, "sweep table")
    if ui == "lab":
        _keep(shot, "sweep_table.png")
