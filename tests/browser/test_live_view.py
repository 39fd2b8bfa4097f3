"""The live run view in a real browser: JupyterLab 4 + headless Chromium (issue 3).

``live_view.ipynb`` runs three weighted steps with the default ``RuntimeContext()``; ``train``
reports progress and metrics for 30 epochs. The test runs every cell from the JupyterLab UI,
watches the view while it updates and checks the final state of the widgets in the DOM: the
overall bar at 100%, one row per step marked done with its bar full, the metric plot image
rendered, and no widget error anywhere on the page.

Screenshots go to ``test-output/browser/``; with ``SYNAPSE_STEPS_UPDATE_SCREENSHOT=1`` the final
one also replaces ``docs/images/run_view.png`` (shown in the README).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = "live_view.ipynb"
STEPS = ("load_data", "train", "save")
PLAN = "Run: 3 steps [load_data 0.2, train 0.7, save 0.1]"
KERNEL_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
WIDGET_ERRORS = ("Error displaying widget", "Error rendering", "Failed to load model class")
REPO = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO / "docs" / "images" / "run_view.png"

# Everything the test looks at, read from the DOM in one call.
STATE_JS = """
(plan) => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').trim());
  const text = document.body.innerText;
  const state = {
    prompts,
    loading: text.includes('Loading widget'),
    errors: ERRORS.filter(e => text.includes(e)),
    view: null,
  };
  const roots = [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
    .filter(el => !el.parentElement.closest('.widget-vbox'))
    .filter(el => el.textContent.includes(plan));
  if (roots.length === 0) return state;
  const view = roots[roots.length - 1];
  const width = el => (el ? el.style.width : null);
  const children = [...view.children];
  const rows = children
    .filter(el => el.classList.contains('widget-hbox') && el.querySelector('.widget-vbox'))
    .map(row => ({
      label: row.children[0]?.innerText.trim() || '',
      timing: row.children[1]?.innerText.trim() || '',
      bars: [...row.querySelectorAll('.widget-hprogress .progress-bar')].map(width),
      bar_texts: [...(row.children[2] || row).querySelectorAll('.widget-html')]
        .map(e => e.innerText.trim()),
      bar_classes: [...row.querySelectorAll('.widget-hprogress .progress-bar')]
        .map(e => e.className),
    }));
  const images = [...view.querySelectorAll('img')].map(img => ({
    src: img.src.slice(0, 30),
    width: img.naturalWidth,
    height: img.naturalHeight,
    complete: img.complete,
    image_widget: img.matches('.widget-image, .widget-image img'),
  }));
  const accordion = view.querySelector('.jupyter-widget-Collapse-header');
  state.view = {
    text: view.innerText,
    header: children[0]?.innerText.trim() || '',
    overall: width(view.querySelector('.widget-hprogress .progress-bar')),
    overall_text: children[1]?.innerText.trim() || '',
    progress_count: view.querySelectorAll('.widget-hprogress').length,
    rows,
    images,
    log_title: accordion ? accordion.innerText.trim() : null,
    outcome: children[children.length - 1]?.innerText.trim() || '',
  };
  view.closest('.jp-Cell')?.setAttribute('data-synapse-run-cell', '1');
  return state;
}
""".replace("ERRORS", repr(list(WIDGET_ERRORS)))

KERNEL_IDLE_JS = """
() => {
  const app = window.jupyterapp;
  const widget = app && app.shell.currentWidget;
  const kernel = widget && widget.sessionContext && widget.sessionContext.session
    && widget.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}
"""


def _percent(width: str | None) -> float | None:
    match = re.fullmatch(r"\s*([0-9.]+)%\s*", width or "")
    return float(match.group(1)) if match else None


def _dismiss_toasts(page: Any, console: list[str]) -> None:
    """JupyterLab asks about news in a toast that may cover the output: answer "No"."""
    toasts = page.locator(".Toastify__toast")
    for _ in range(5):  # bounded: each toast is answered or closed, then must leave
        if not toasts.count():
            return
        toast = toasts.first
        console.append(f"[test] dismissing toast: {toast.inner_text(timeout=2_000)!r}")
        no = toast.locator("button", has_text=re.compile(r"^\s*No\s*$"))
        target = no if no.count() else toast.locator(".jp-Notification-Toast-Close")
        with contextlib.suppress(Exception):  # it may leave on its own meanwhile
            target.first.click(timeout=2_000)
        with contextlib.suppress(Exception):
            toast.wait_for(state="detached", timeout=3_000)


def _finished(state: dict[str, Any]) -> bool:
    view = state["view"]
    if view is None or state["loading"] or state["errors"]:
        return False
    if not state["prompts"] or not all(re.fullmatch(r"\[\d+\]:?", p) for p in state["prompts"]):
        return False
    rows_done = len(view["rows"]) == len(STEPS) and all(
        " done" in row["label"] for row in view["rows"]
    )
    return rows_done and _percent(view["overall"]) == 100.0 and bool(view["images"])


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_live_run_view(page: Any, jupyterlab: Any, output_dir: Path, console: list[str]) -> None:
    started = time.monotonic()
    page.goto(jupyterlab.lab_url(NOTEBOOK))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=KERNEL_TIMEOUT * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=KERNEL_TIMEOUT * 1000, polling=250)
    _dismiss_toasts(page, console)

    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")

    # Watch the view while it runs: the overall bar must be seen part-way, not only at the end.
    seen_overall: list[float] = []
    live_shot = output_dir / "run_view_live.png"
    live_shot.unlink(missing_ok=True)
    deadline = time.monotonic() + RUN_TIMEOUT
    state: dict[str, Any] = page.evaluate(STATE_JS, PLAN)
    while not _finished(state):
        assert not state["errors"], f"widget errors on the page: {state['errors']}\n{console}"
        if time.monotonic() > deadline:
            pytest.fail(
                f"run view not finished after {RUN_TIMEOUT:.0f}s; last state: {state}\n"
                f"browser console: {console[-20:]}\nserver log:\n{jupyterlab.log_tail()}"
            )
        view = state["view"]
        overall = _percent(view["overall"]) if view else None
        if overall is not None and (not seen_overall or seen_overall[-1] != overall):
            seen_overall.append(overall)
            if 40.0 <= overall < 90.0 and not live_shot.exists():
                page.locator("[data-synapse-run-cell] .jp-Cell-outputWrapper").screenshot(
                    path=str(live_shot)
                )
        page.wait_for_timeout(200)
        state = page.evaluate(STATE_JS, PLAN)
    run_seconds = time.monotonic() - started

    view = state["view"]
    assert view["header"].startswith(PLAN), view["header"]
    assert "succeeded" in view["header"], view["header"]
    assert any(0.0 < value < 100.0 for value in seen_overall), (
        f"the overall bar never showed an intermediate value: {seen_overall}"
    )
    # The overall row: its label, the elapsed time, then the bar and its percentage.
    assert re.fullmatch(r"overall\s+[0-9.:]+s?\s+100%", view["overall_text"]), view["overall_text"]
    # The overall bar plus one bar per step (each step reports one progress category).
    assert view["progress_count"] == 1 + len(STEPS), view
    for name, row in zip(STEPS, view["rows"], strict=True):
        assert re.search(rf"\b{name}\b\s+done\b", row["label"]), row
        assert row["timing"].endswith("s"), row
        assert [_percent(width) for width in row["bars"]] == [100.0], row
        assert all("success" in classes for classes in row["bar_classes"]), row
        # The step's own category needs no caption beside its bar: just done/total.
        assert re.fullmatch(r"(\d+)/\1", row["bar_texts"][0]), row
    train = view["rows"][1]
    assert train["bar_texts"] == ["30/30"], train
    assert (view["log_title"] or "").startswith("Log (last"), view["log_title"]
    # On success the header says so and the static summary follows the view.
    assert view["outcome"] == "", view["outcome"]
    assert "Run succeeded - 3 of 3 steps executed" in page.inner_text("body")

    assert view["images"], "no metric plot image in the run view"
    for image in view["images"]:
        assert image["image_widget"], image
        assert image["src"].startswith(("blob:", "data:image/")), image
        assert image["complete"], image
        assert image["width"] > 0, image
        assert image["height"] > 0, image

    page_text = page.inner_text("body")
    for message in WIDGET_ERRORS:
        assert message not in page_text, f"{message!r} on the page\n{console[-20:]}"
    assert "Loading widget" not in page_text
    # The static summary after the live view, and no traceback in any output.
    outputs = page.inner_text(".jp-Notebook")
    assert "Run succeeded - 3 of 3 steps executed" in outputs
    assert "Traceback" not in outputs

    _dismiss_toasts(page, console)
    output = page.locator("[data-synapse-run-cell] .jp-Cell-outputWrapper")
    output.scroll_into_view_if_needed()
    shot = output_dir / "run_view.png"
    output.screenshot(path=str(shot))
    page.screenshot(path=str(output_dir / "jupyterlab.png"))
    if os.environ.get("SYNAPSE_STEPS_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    # The log panel opens on a click and lists the run's events.
    page.locator("[data-synapse-run-cell] .jupyter-widget-Collapse-header").first.click()
    log = page.locator("[data-synapse-run-cell] .jupyter-widget-Collapse-contents pre").first
    log.wait_for(state="visible", timeout=10_000)
    log_text = log.inner_text()
    for name in STEPS:
        assert f"{name} done in" in log_text, log_text
    assert "run succeeded" in log_text, log_text
    print(f"notebook opened and run in {run_seconds:.1f}s; overall bar seen at {seen_overall}")
