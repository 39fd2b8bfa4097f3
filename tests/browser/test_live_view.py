"""The live run view and the run's record in a real browser: JupyterLab 4 + headless Chromium.

While a run goes, its view (standard ipywidgets) shows the overall bar, a row per step and the
metric plots; on a failure it rolls back visibly. When the run ends the view is closed and one
static record (HTML with a text twin, plus one metrics figure) takes its place (issue 10).

- ``live_view.ipynb``: three weighted steps, ``train`` reports progress and metrics for 30
  epochs. Checked while it runs (bar moving, rows running/done, plot image), then at the end:
  the widgets are gone and exactly one record and one figure follow the cell.
- ``rollback_view.ipynb``: ``publish`` (step 3) fails half-way, each rollback takes 2 s and the
  rollback of ``open_db`` raises. Checked while it rolls back (header, rows, the bar stopped in
  the failure colour, no ETA), then the record (``rollback failed`` for ``open_db``).
- the same notebook in JupyterLab's dark theme: every status colour reaches 4.5:1 on its
  background and the figure is no white rectangle.
- the metric plots' text reaches 4.5:1 and their lines 3:1 as the screen shows them, in the
  light and the dark theme, in the live view (the Image widget) and in the record's figure:
  measured on element screenshots (``figure_pixels``), so CSS filters count.
- a figure shown on its own (what ``recorder.plot_metrics()`` returns), in the dark theme and,
  after switching back, the light one: measured like the others.
- ``compact_loop.ipynb``: five runs in a loop with ``display="compact"`` leave five one-line
  records.

Screenshots go to ``test-output/browser/``; with ``SYNAPSE_STEPS_UPDATE_SCREENSHOT=1`` the
mid-run one replaces ``docs/images/run_view.png`` and the mid-rollback one
``docs/images/rollback_view.png`` (both shown in the README).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from figure_pixels import MIN_LINE_PIXELS, MIN_TEXT_PIXELS, FigureContrast, measure

STEPS = ("load_data", "train", "save")
PLAN = "Run: 3 steps [load_data 0.2, train 0.7, save 0.1]"
ROLLBACK_PLAN = "Run: 4 steps [open_db 0.2, train 0.3, publish 0.3, notify 0.2]"
#: Where the rollback notebook's run stops: open_db + train + half of publish.
ROLLBACK_STOPPED_AT = 65.0
KERNEL_TIMEOUT = 60.0
RUN_TIMEOUT = 120.0
WIDGET_ERRORS = ("Error displaying widget", "Error rendering", "Failed to load model class")
REPO = Path(__file__).resolve().parents[2]
DOCS_IMAGES = REPO / "docs" / "images"
UPDATE_SCREENSHOTS = os.environ.get("SYNAPSE_STEPS_UPDATE_SCREENSHOT") == "1"
#: WCAG AA for normal text; for lines and other non-text (1.4.11).
MIN_CONTRAST = 4.5
MIN_LINE_CONTRAST = 3.0

# Everything the tests look at in the run cell (the notebook's last code cell), in one call.
STATE_JS = """
() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const prompts = cells.map(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').trim());
  const text = document.body.innerText;
  const state = {
    prompts,
    loading: text.includes('Loading widget'),
    errors: ERRORS.filter(e => text.includes(e)),
    view: null,
    widgets: 0,
    records: [],
    figures: [],
    outputs: [],
    height: 0,
  };
  const cell = cells[cells.length - 1];
  const area = cell && cell.querySelector('.jp-OutputArea');
  if (!area) return state;
  const height = el => Math.round(el.getBoundingClientRect().height * 10) / 10;
  state.height = height(area);
  state.outputs = [...area.querySelectorAll('.jp-OutputArea-output')].map(out => ({
    mime: out.getAttribute('data-mime-type') || '',
    kind: out.querySelector('.synapse-steps-run') ? 'record'
      : out.querySelector('.jupyter-widgets') ? 'widget'
      : out.querySelector('.jp-RenderedImage img') ? 'figure'
      : (out.getAttribute('data-mime-type') || '').includes('stderr') ? 'error'
      : 'other',
    text: out.innerText.slice(0, 200),
    height: height(out),
  }));
  state.widgets = area.querySelectorAll('.jupyter-widgets').length;
  state.records = [...area.querySelectorAll('.synapse-steps-run')].map(el => ({
    text: el.innerText,
    height: height(el),
    line_height: parseFloat(getComputedStyle(el).lineHeight) || null,
    outcome_class: el.querySelector('b[class*="sst-"]')?.className || '',
    rows: [...el.querySelectorAll('tbody tr')].map(
      tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim())),
    log_summary: el.querySelector('details > summary')?.innerText.trim() || null,
  }));
  state.figures = [...area.querySelectorAll('.jp-RenderedImage img')].map(img => ({
    src: img.src.slice(0, 30),
    width: img.naturalWidth,
    height: img.naturalHeight,
    complete: img.complete,
  }));
  const roots = [...area.querySelectorAll('.widget-vbox')]
    .filter(el => !el.parentElement.closest('.widget-vbox'));
  if (roots.length === 0) return state;
  const view = roots[roots.length - 1];
  const width = el => (el ? el.style.width : null);
  const children = [...view.children];
  // The overall row (a view being closed loses its widgets one by one: find it by its label).
  const overallRow = children.find(el => el.innerText.trim().startsWith('overall'));
  const overall = overallRow ? overallRow.querySelector('.widget-hprogress .progress-bar') : null;
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
  state.view = {
    text: view.innerText,
    header: children[0]?.innerText.trim() || '',
    overall: width(overall),
    overall_classes: overall ? overall.className : '',
    overall_text: overallRow ? overallRow.innerText.trim() : '',
    progress_count: view.querySelectorAll('.widget-hprogress').length,
    rows,
    images,
  };
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

# WCAG contrast of every status text (.sst-*) in the run cell against its effective background
# (the first non-transparent background up the tree, composited over the page's).
CONTRAST_JS = """
() => {
  const parse = value => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const luminance = ([r, g, b]) => {
    const lin = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3]))
    .concat([1]);
  const background = el => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour && colour[3] > 0) {
        layers.push(colour);
        if (colour[3] >= 1) break;
      }
    }
    let result = [255, 255, 255, 1];  // the canvas, if nothing on the way is opaque
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const area = cells[cells.length - 1]?.querySelector('.jp-OutputArea');
  if (!area) return [];
  return [...area.querySelectorAll('[class*="sst-"]')].map(el => {
    const bg = background(el);
    const fg = over(parse(getComputedStyle(el).color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    return {
      text: el.innerText.trim().slice(0, 60),
      cls: el.className,
      color: getComputedStyle(el).color,
      background: `rgb(${bg.slice(0, 3).map(Math.round).join(', ')})`,
      ratio: Math.round(100 * (hi + 0.05) / (lo + 0.05)) / 100,
    };
  });
}
"""

# The metrics figure's pixels: how many are opaque and light (a white rectangle would be).
FIGURE_PIXELS_JS = """
() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const img = cells[cells.length - 1]?.querySelector('.jp-OutputArea .jp-RenderedImage img');
  if (!img || !img.complete || !img.naturalWidth) return null;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let light = 0, transparent = 0;
  const total = data.length / 4;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a < 16) transparent++;
    else if (a > 200 && r > 200 && g > 200 && b > 200) light++;
  }
  const corner = [...ctx.getImageData(0, 0, 1, 1).data];
  return {width: canvas.width, height: canvas.height,
          transparent: transparent / total, light_opaque: light / total, corner};
}
"""

THEME_JS = """
async (theme) => {
  await window.jupyterapp.commands.execute('apputils:change-theme', {theme});
}
"""


def _percent(width: str | None) -> float | None:
    match = re.fullmatch(r"\s*([0-9.]+)%\s*", width or "")
    return float(match.group(1)) if match else None


def _seconds(text: str) -> float | None:
    match = re.fullmatch(r"([0-9.]+)s", text.strip())
    return float(match.group(1)) if match else None


def _rollback_seconds(text: str) -> float | None:
    """The rollback's own time in a row's timing (``2.03s`` over ``+ 0.51s rollback``)."""
    match = re.search(r"\+\s*([0-9.]+)s rollback", text)
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


def _open(page: Any, jupyterlab: Any, notebook: str, console: list[str], ui: str = "lab") -> None:
    page.goto(jupyterlab.url_for(ui, notebook))
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=KERNEL_TIMEOUT * 1000)
    page.wait_for_function(KERNEL_IDLE_JS, timeout=KERNEL_TIMEOUT * 1000, polling=250)
    _dismiss_toasts(page, console)


def _suffix(ui: str) -> str:
    """What a screenshot's name gets for Notebook 7 (JupyterLab's keep their names)."""
    return "" if ui == "lab" else "_notebook7"


def _run_all(page: Any) -> None:
    # Not awaited: the command's promise settles only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def _ended(state: dict[str, Any], records: int = 1) -> bool:
    """Every cell ran and the run cell holds its record(s)."""
    if state["loading"] or state["errors"]:
        return False
    if not state["prompts"] or not all(re.fullmatch(r"\[\d+\]:?", p) for p in state["prompts"]):
        return False
    return len(state["records"]) >= records


def _watch(
    page: Any,
    jupyterlab: Any,
    console: list[str],
    on_state: Any = None,
    *,
    records: int = 1,
    interval_ms: int = 150,
) -> dict[str, Any]:
    """Poll the run cell until the run ended; ``on_state(state)`` sees every state on the way."""
    deadline = time.monotonic() + RUN_TIMEOUT
    state: dict[str, Any] = page.evaluate(STATE_JS)
    while not _ended(state, records):
        assert not state["errors"], f"widget errors on the page: {state['errors']}\n{console}"
        if time.monotonic() > deadline:
            pytest.fail(
                f"run not finished after {RUN_TIMEOUT:.0f}s; last state: {state}\n"
                f"browser console: {console[-20:]}\nserver log:\n{jupyterlab.log_tail()}"
            )
        if on_state is not None:
            on_state(state)
        page.wait_for_timeout(interval_ms)
        state = page.evaluate(STATE_JS)
    # The record is shown first, then the view closes: let the page settle.
    page.wait_for_timeout(500)
    final: dict[str, Any] = page.evaluate(STATE_JS)
    return final


def _run_output(page: Any) -> Any:
    return page.locator(".jp-Notebook .jp-CodeCell").last.locator(".jp-Cell-outputWrapper")


def _shot(page: Any, path: Path) -> None:
    output = _run_output(page)
    output.scroll_into_view_if_needed()
    output.screenshot(path=str(path))


def _live_image(page: Any) -> Any:
    """The live view's plot: the Image widget (its element is the ``<img>`` itself)."""
    return _run_output(page).locator("img.widget-image").last


def _record_image(page: Any) -> Any:
    """The record's figure: the ``image/png`` output after the record's HTML."""
    return _run_output(page).locator(".jp-RenderedImage img").last


def _assert_figure_contrast(
    image: Any, path: Path, where: str, legend_rows: int = 0
) -> FigureContrast:
    """Text >= 4.5:1 and lines >= 3:1 on the screenshot of a rendered figure (see
    ``figure_pixels``); the screenshot is kept at ``path`` for a look."""
    image.scroll_into_view_if_needed()
    image.screenshot(path=str(path))
    found = measure(path.read_bytes(), legend_rows)
    assert found.text_pixels >= MIN_TEXT_PIXELS, f"too little text found in the {where}: {found}"
    assert found.line_pixels >= MIN_LINE_PIXELS, f"too few line pixels in the {where}: {found}"
    assert found.text >= MIN_CONTRAST, f"figure text under {MIN_CONTRAST}:1 in the {where}: {found}"
    assert found.lines >= MIN_LINE_CONTRAST, (
        f"figure lines under {MIN_LINE_CONTRAST}:1 in the {where}: {found}"
    )
    return found


def _assert_clean_page(page: Any, console: list[str]) -> None:
    page_text = page.inner_text("body")
    for message in WIDGET_ERRORS:
        assert message not in page_text, f"{message!r} on the page\n{console[-20:]}"
    assert "Loading widget" not in page_text


def _assert_view_gone(state: dict[str, Any]) -> None:
    """The live view was closed: no widget left in the run cell, only static outputs."""
    assert state["view"] is None, state["view"]
    assert state["widgets"] == 0, state["outputs"]
    kinds = [out["kind"] for out in state["outputs"]]
    assert "widget" not in kinds, state["outputs"]


def _assert_figure(state: dict[str, Any]) -> None:
    assert len(state["figures"]) == 1, state["outputs"]
    figure = state["figures"][0]
    assert figure["src"].startswith("data:image/png"), figure
    assert figure["complete"], figure
    assert figure["width"] > 0, figure
    assert figure["height"] > 0, figure


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_live_run_view(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str], ui: str
) -> None:
    started = time.monotonic()
    _open(page, jupyterlab, "live_view.ipynb", console, ui)
    tag = _suffix(ui)
    _run_all(page)

    # Watch the view while it runs: the overall bar must be seen part-way, not only at the end.
    seen_overall: list[float] = []
    seen_labels: dict[str, set[str]] = {name: set() for name in STEPS}
    seen: dict[str, Any] = {"eta": False, "plot": None, "header": set(), "closing": 0}
    figures: dict[str, FigureContrast] = {}
    live_shot = output_dir / f"run_view{tag}.png"
    live_shot.unlink(missing_ok=True)
    closing_shot = output_dir / f"run_view_closing{tag}.png"
    closing_shot.unlink(missing_ok=True)

    def on_state(state: dict[str, Any]) -> None:
        view = state["view"]
        if view is None or state["records"] or not view["header"].startswith("Run:"):
            # After the record shows, the view is closed widget by widget: not the live view.
            seen["closing"] += view is not None
            if view is not None and not closing_shot.exists():
                _shot(page, closing_shot)  # for a look: what the page shows meanwhile
            return
        assert view["header"].startswith(PLAN), view["header"]
        seen["header"].add(view["header"])
        for name, row in zip(STEPS, view["rows"], strict=False):
            match = re.search(rf"\b{name}\b\s+(\w[\w ,]*)", row["label"])
            if match:
                seen_labels[name].add(match.group(1).strip())
        seen["eta"] = seen["eta"] or "ETA" in view["overall_text"]
        for image in view["images"]:
            if image["complete"] and image["width"] > 0 and image["image_widget"]:
                seen["plot"] = image
        overall = _percent(view["overall"])
        if overall is not None and (not seen_overall or seen_overall[-1] != overall):
            seen_overall.append(overall)
        if (
            overall is not None
            and 40.0 <= overall < 90.0
            and seen["plot"] is not None
            and not live_shot.exists()
        ):
            _dismiss_toasts(page, console)
            _shot(page, live_shot)
            figures["live"] = _assert_figure_contrast(
                _live_image(page), output_dir / f"light_live_figure{tag}.png", "live view"
            )

    state = _watch(page, jupyterlab, console, on_state)
    run_seconds = time.monotonic() - started

    # While it ran.
    assert any(0.0 < value < 100.0 for value in seen_overall), (
        f"the overall bar never showed an intermediate value: {seen_overall}"
    )
    assert seen_overall == sorted(seen_overall), f"the overall bar went back: {seen_overall}"
    # Every step but the last is seen done while the next one runs. The last one's "done" may
    # last a single tick before the view closes at the run's end (its record says done, below).
    for name in STEPS[:-1]:
        assert "done" in seen_labels[name], (name, seen_labels)
    assert seen_labels[STEPS[-1]] & {"running", "done"}, seen_labels
    assert "running" in seen_labels["train"], seen_labels
    assert any("running train" in header for header in seen["header"]), seen["header"]
    assert seen["eta"], "no ETA shown while the run went"
    assert seen["plot"] is not None, "no metric plot image in the live view"
    assert seen["plot"]["src"].startswith(("blob:", "data:image/")), seen["plot"]
    assert live_shot.exists(), f"no mid-run screenshot (overall bar seen at {seen_overall})"

    # At the end: the view is gone; one record and one figure follow the cell.
    _assert_view_gone(state)
    assert len(state["records"]) == 1, state["outputs"]
    _assert_figure(state)
    assert [out["kind"] for out in state["outputs"] if out["height"] > 0] == [
        "record",
        "figure",
    ], state["outputs"]
    record = state["records"][0]
    assert "succeeded - 3 of 3 steps executed" in record["text"], record
    assert "sst-ok" in record["outcome_class"], record
    assert [row[1:3] for row in record["rows"]] == [[name, "done"] for name in STEPS], record
    assert (record["log_summary"] or "").startswith("Log ("), record
    _assert_clean_page(page, console)
    outputs = page.inner_text(".jp-Notebook")
    assert "Traceback" not in outputs

    _dismiss_toasts(page, console)
    _shot(page, output_dir / f"run_record{tag}.png")
    assert "live" in figures, "the live view's figure was never measured"
    figures["record"] = _assert_figure_contrast(
        _record_image(page), output_dir / f"light_record_figure{tag}.png", "record"
    )
    page.screenshot(path=str(output_dir / f"jupyter{tag or 'lab'}.png"))
    if UPDATE_SCREENSHOTS and ui == "lab":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(live_shot, DOCS_IMAGES / "run_view.png")
    # The folded log opens on a click and lists the run's events.
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    cell.locator(".synapse-steps-run details > summary").click()
    log = cell.locator(".synapse-steps-run details pre")
    log.wait_for(state="visible", timeout=10_000)
    log_text = log.inner_text()
    for name in STEPS:
        assert f"{name} done in" in log_text, log_text
    assert "run succeeded" in log_text, log_text
    print(
        f"notebook opened and run in {run_seconds:.1f}s; overall bar seen at {seen_overall}; "
        f"{seen['closing']} polls saw the view half-closed; figure contrast "
        + "; ".join(f"{where}: {found.summary()}" for where, found in figures.items())
    )


def _watch_rollback(
    page: Any,
    jupyterlab: Any,
    console: list[str],
    shot: Path | None = None,
    on_rollback: Any = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the rollback notebook; return the final state and the views seen running/rolling back."""
    running: list[dict[str, Any]] = []
    rolling: list[dict[str, Any]] = []

    def on_state(state: dict[str, Any]) -> None:
        view = state["view"]
        if view is None or state["records"] or not view["header"].startswith("Run:"):
            return  # after the record shows, the view is closed widget by widget
        if "rolling back" in view["header"]:
            rolling.append(view)
            if on_rollback is not None:
                on_rollback(state)
            # The screenshot: publish already rolled back, train rolling back.
            if (
                shot is not None
                and not shot.exists()
                and any(
                    "train" in row["label"] and "rolling back" in row["label"]
                    for row in view["rows"]
                )
            ):
                _shot(page, shot)
        elif "running" in view["header"]:
            running.append(view)

    state = _watch(page, jupyterlab, console, on_state, interval_ms=100)
    return state, running, rolling


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_rollback_view(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str], ui: str
) -> None:
    started = time.monotonic()
    _open(page, jupyterlab, "rollback_view.ipynb", console, ui)
    _run_all(page)
    tag = _suffix(ui)
    shot = output_dir / f"rollback{tag}.png"
    shot.unlink(missing_ok=True)
    _dismiss_toasts(page, console)
    state, running, rolling = _watch_rollback(page, jupyterlab, console, shot)
    run_seconds = time.monotonic() - started

    (output_dir / f"rollback_states{tag}.json").write_text(
        json.dumps([{k: v[k] for k in ("header", "overall_text", "rows")} for v in rolling])
    )
    # While it rolls back (three rollbacks of 2 s each: seen many times).
    assert len(rolling) >= 10, f"rolling back seen {len(rolling)} times; running: {running[-1:]}"
    widths = {view["overall"] for view in rolling}
    assert len(widths) == 1, f"the overall bar moved while rolling back: {widths}"
    stopped = _percent(widths.pop())
    assert stopped is not None
    assert stopped == pytest.approx(ROLLBACK_STOPPED_AT, abs=1.0), stopped
    before = [_percent(view["overall"]) or 0.0 for view in running]
    assert all(value <= stopped for value in before), (before, stopped)
    rolled: dict[str, list[float]] = {}
    named: dict[str, int] = {}
    stale: dict[str, int] = {}
    for view in rolling:
        assert view["header"].startswith(ROLLBACK_PLAN), view["header"]
        assert "progress-bar-danger" in view["overall_classes"], view["overall_classes"]
        assert "ETA" not in view["text"], view["text"]
        assert "ETA" not in view["overall_text"], view["overall_text"]
        for row in view["rows"]:
            name = row["label"].split()[1]
            if "rolling back" in row["label"]:
                # "rolling back <step>" in the header (a poll may fall between the header's
                # update and the row's), the step's own rollback timer on its row.
                named[name] = named.get(name, 0) + (f"rolling back {name}" in view["header"])
                # The step's own time stays; its rollback's counts beside it (a poll may fall
                # between the label's update and the timer's: counted, and skipped).
                timer = _rollback_seconds(row["timing"])
                if timer is None:
                    stale[name] = stale.get(name, 0) + 1
                    continue
                assert _seconds(row["timing"].split("\n")[0]) is not None, row
                rolled.setdefault(name, []).append(timer)
            if name == "notify":
                assert "pending" in row["label"], row
    # Each step rolled back showed "rolling back" with its own timer counting from 0.
    assert sorted(rolled) == ["open_db", "publish", "train"], rolled
    assert all(count <= 2 for count in stale.values()), stale
    for name, timers in rolled.items():
        assert named[name] >= len(timers) - 1, f"header did not name {name}: {named}, {rolled}"
    for name, timers in rolled.items():
        # The rollback's own timer (train ran for seconds; its rollback takes 2 s). A poll may
        # fall between the label's update and the timer's: skip a first stale value.
        timers[:] = timers[1:] if len(timers) > 1 and timers[0] > timers[1] else timers
        assert timers == sorted(timers), (name, timers)
        assert timers[0] < 1.0, (name, timers)
        assert timers[-1] < 3.0, (name, timers)
    assert shot.exists(), "no screenshot taken while train rolled back"

    # The record: failed, rolled back 2 steps, rollback failed for open_db.
    _assert_view_gone(state)
    assert len(state["records"]) == 1, state["outputs"]
    _assert_figure(state)  # train reported metrics
    record = state["records"][0]
    assert (
        "failed at 'publish' - rolled back 2 steps; rollback failed for 'open_db'"
        in (record["text"])
    ), record
    assert "sst-bad" in record["outcome_class"], record
    statuses = {row[1]: row[2] for row in record["rows"]}
    assert statuses == {
        "open_db": "rollback failed",
        "train": "rolled back",
        "publish": "failed, rolled back",
        "notify": "not run",
    }, record["rows"]
    open_db = next(row for row in record["rows"] if row[1] == "open_db")
    assert "rolled back" not in " ".join(open_db), open_db
    assert "ConnectionError: lost connection while undoing open_db" in open_db[4], open_db
    kinds = [out["kind"] for out in state["outputs"] if out["height"] > 0]
    assert kinds == ["record", "figure", "error"], state["outputs"]
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    error = cell.locator(".jp-OutputArea-output").last.inner_text()
    assert "Error: Step 'publish' failed: the target refused the upload" in error, error
    assert "rollback also failed for 'open_db'" in error, error
    _assert_clean_page(page, console)
    cell.locator(".synapse-steps-run details > summary").click()
    log_text = cell.locator(".synapse-steps-run details pre").inner_text()
    assert "rollback of open_db FAILED" in log_text, log_text
    assert "open_db rolled back" not in log_text, log_text
    _shot(page, output_dir / f"rollback_record{tag}.png")
    if UPDATE_SCREENSHOTS and ui == "lab":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGES / "rollback_view.png")
    print(
        f"rollback notebook opened and run in {run_seconds:.1f}s; rolling back seen "
        f"{len(rolling)} times, bar stopped at {stopped}%; rollback timers {rolled}"
    )
    # A rollback that reports nothing still shows its own timer moving.
    frozen = {name: timers for name, timers in rolled.items() if timers[-1] <= timers[0]}
    assert not frozen, f"rollback timers never ticked while rolling back: {frozen}"


def _assert_contrast(page: Any, where: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(CONTRAST_JS)
    assert found, f"no status text (.sst-*) in the {where}"
    low = [item for item in found if item["ratio"] < MIN_CONTRAST]
    assert not low, f"status text under {MIN_CONTRAST}:1 in the {where}: {low}"
    return found


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_dark_theme(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str], ui: str
) -> None:
    shutil.copyfile(
        Path(__file__).with_name("rollback_view.ipynb"), jupyterlab.root / "dark_theme.ipynb"
    )
    _open(page, jupyterlab, "dark_theme.ipynb", console, ui)
    tag = _suffix(ui)
    page.evaluate(THEME_JS, "JupyterLab Dark")
    try:
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000
        )
        _dismiss_toasts(page, console)
        _run_all(page)
        live: list[list[dict[str, Any]]] = []
        figures: dict[str, FigureContrast] = {}
        shot = output_dir / f"dark_live{tag}.png"
        shot.unlink(missing_ok=True)

        def on_rollback(state: dict[str, Any]) -> None:
            # Once, mid-rollback: the view's status texts (header, rows, outcome line).
            if not live and any("rolling back" in r["label"] for r in state["view"]["rows"]):
                live.append(_assert_contrast(page, "live view"))
                _shot(page, shot)
                figures["live"] = _assert_figure_contrast(
                    _live_image(page), output_dir / f"dark_live_figure{tag}.png", "dark live view"
                )

        state, _, rolling = _watch_rollback(page, jupyterlab, console, on_rollback=on_rollback)
        assert live, f"the view was never seen rolling back ({len(rolling)} states)"
        assert {item["cls"] for item in live[0]} >= {"sst-warn", "sst-bad", "sst-ok"}, live[0]
        _assert_view_gone(state)
        record = _assert_contrast(page, "record")
        _assert_figure(state)
        pixels = page.evaluate(FIGURE_PIXELS_JS)
        assert pixels is not None, state["figures"]
        # Transparent (the dark page shows through) or dark: not a white rectangle.
        assert pixels["light_opaque"] < 0.05, pixels
        assert pixels["corner"][3] < 16 or max(pixels["corner"][:3]) < 100, pixels
        _shot(page, output_dir / f"dark{tag}.png")
        assert "live" in figures, "the live view's figure was never measured"
        figures["record"] = _assert_figure_contrast(
            _record_image(page), output_dir / f"dark_record_figure{tag}.png", "dark record"
        )
        for where, found in figures.items():
            # The page behind the figure is JupyterLab's dark one (the test measured that).
            assert max(found.background) < 64, (where, found)
        print(
            f"dark theme: live view contrasts {[(i['cls'], i['ratio']) for i in live[0]]}; "
            f"record {[(i['cls'], i['ratio']) for i in record]}; figure {pixels}; "
            + "; ".join(f"{where} figure: {found.summary()}" for where, found in figures.items())
        )
    finally:
        # The theme is a user setting of the session's server: leave it light for other tests.
        page.evaluate(THEME_JS, "JupyterLab Light")
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'true'", timeout=20_000
        )


# A figure shown on its own: what recorder.plot_metrics() returns (metrics_figure of the store).
STATIC_FIGURE_CELL = """\
import math

from synapse_steps.display.plots import metrics_figure
from synapse_steps.metrics import MetricStore

store = MetricStore()
for epoch in range(30):
    loss = 2.0 * math.exp(-epoch / 8) + 0.05 * math.sin(epoch)
    store.add({"loss": loss, "accuracy": 1 - 0.9 * math.exp(-epoch / 6), "epoch": epoch}, "train")
metrics_figure(store)
"""


def _wait_for_filter(page: Any, image: Any, *, inverted: bool) -> None:
    """Wait until the figure's computed style has (or has no) filter, then one more frame."""
    check = "!==" if inverted else "==="
    page.wait_for_function(
        f"img => getComputedStyle(img).filter {check} 'none'",
        arg=image.element_handle(),
        timeout=20_000,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_static_figure_in_both_themes(
    page: Any, jupyterlab: Any, output_dir: Path, console: list[str]
) -> None:
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": "static-figure",
                "metadata": {},
                "outputs": [],
                "source": STATIC_FIGURE_CELL,
            }
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (jupyterlab.root / "static_figure.ipynb").write_text(json.dumps(notebook))
    _open(page, jupyterlab, "static_figure.ipynb", console)
    page.evaluate(THEME_JS, "JupyterLab Dark")
    try:
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'false'", timeout=20_000
        )
        _dismiss_toasts(page, console)
        _run_all(page)
        image = _run_output(page).locator("img").last
        image.wait_for(state="visible", timeout=RUN_TIMEOUT * 1000)
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0",
            arg=image.element_handle(),
            timeout=20_000,
        )
        output = _run_output(page).locator(".jp-OutputArea-output").last
        # The HTML twin (with its style) is what JupyterLab shows, not the bare PNG.
        assert output.get_attribute("data-mime-type") == "text/html"
        _wait_for_filter(page, image, inverted=True)
        found = {
            "dark": _assert_figure_contrast(
                image, output_dir / "dark_static_figure.png", "dark static figure"
            )
        }
        assert max(found["dark"].background) < 64, found
        page.evaluate(THEME_JS, "JupyterLab Light")
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'true'", timeout=20_000
        )
        # The theme marker flips before the page restyles: wait until the image is drawn as is.
        _wait_for_filter(page, image, inverted=False)
        found["light"] = _assert_figure_contrast(
            image, output_dir / "light_static_figure.png", "light static figure"
        )
        assert min(found["light"].background) > 200, found
        _assert_clean_page(page, console)
        print("static figure: " + "; ".join(f"{k}: {v.summary()}" for k, v in found.items()))
    finally:
        page.evaluate(THEME_JS, "JupyterLab Light")
        page.wait_for_function(
            "() => document.body.dataset.jpThemeLight === 'true'", timeout=20_000
        )


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_compact_loop(page: Any, jupyterlab: Any, output_dir: Path, console: list[str]) -> None:
    _open(page, jupyterlab, "compact_loop.ipynb", console)
    _run_all(page)
    state = _watch(page, jupyterlab, console, records=5)
    _assert_view_gone(state)
    records = state["records"]
    assert len(records) == 5, state["outputs"]
    assert [out["kind"] for out in state["outputs"] if out["height"] > 0] == ["record"] * 5, state[
        "outputs"
    ]
    assert not state["figures"], state["figures"]
    for record in records:
        assert "\n" not in record["text"].strip(), record
        assert "succeeded - 2 of 2 steps executed" in record["text"], record
        assert "loss=" in record["text"], record
        line = record["line_height"] or 20.0
        assert record["height"] < 1.6 * line, record
    _assert_clean_page(page, console)
    _shot(page, output_dir / "compact.png")
    print(
        f"5 compact runs: output area {state['height']}px; records "
        f"{[r['height'] for r in records]}px"
    )
