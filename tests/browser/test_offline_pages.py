"""The HTML pages of ``make demo`` open offline, link to each other, and show each run once.

``tools/build_docs.py`` builds every tutorial into a temporary folder, as ``make demo`` does.
Each page is checked on disk (every local link and source names a file the build holds; a
tutorial's "Next:" link names its page, never the ``.ipynb``) and in headless Chromium with every
non-file request aborted and counted: no request leaves the machine, every local file it asks
for loads, it uses a sans-serif font, and no run shows twice (a run's live view gave way to its
static record, so no output area holds both, and no live view is drawn from saved widget state).
Screenshots go to ``test-output/browser/``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = sorted((REPO / "notebooks").glob("*.ipynb"))
PAGES = [f"{path.stem}.html" for path in TUTORIALS]
LOCAL = ("file:", "data:", "blob:", "about:")

PAGE_JS = """
() => {
  const font = el => el ? getComputedStyle(el).fontFamily : null;
  const outputs = [...document.querySelectorAll('.jp-OutputArea')];
  return {
    bodyFont: font(document.body),
    markdownFont: font(document.querySelector('.jp-RenderedMarkdown p')),
    loading: document.body.innerText.includes('Loading widget'),
    records: document.querySelectorAll('.synapse-steps-run').length,
    sweeps: document.querySelectorAll('table.synapse-steps-sweep').length,
    liveViews: document.querySelectorAll('.widget-vbox').length,
    progressBars: document.querySelectorAll('.widget-hprogress').length,
    twice: outputs.filter(area => area.querySelector('.synapse-steps-run')
      && area.querySelector('.jupyter-widgets')).length,
    next: [...document.querySelectorAll('.jp-RenderedMarkdown a')]
      .filter(a => /^Next/.test(a.closest('p')?.innerText || ''))
      .map(a => a.getAttribute('href')),
  };
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("build")
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_docs.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return output


def _local_links(page: Path) -> list[str]:
    found = re.findall(r"""(?:href|src)=["']([^"']+)["']""", page.read_text(encoding="utf-8"))
    return [link for link in found if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#|//)", link, re.I)]


@pytest.mark.browser
@pytest.mark.timeout(1800)
def test_every_page_links_to_files_it_holds(built: Path) -> None:
    assert sorted(p.name for p in built.glob("*.html")) == sorted([*PAGES, "index.html"])
    broken = []
    for page in built.glob("*.html"):
        for link in _local_links(page):
            target = link.split("#", 1)[0].split("?", 1)[0]
            if target.endswith(".ipynb") or not (page.parent / target).exists():
                broken.append((page.name, link))
    assert broken == [], broken


@pytest.mark.browser
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", [*PAGES, "index.html"])
def test_page_opens_offline_and_shows_each_run_once(
    built: Path, name: str, page: Any, output_dir: Path
) -> None:
    outside: list[str] = []
    failed: list[str] = []

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith(LOCAL):
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto((built / name).as_uri())
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)
    state = page.evaluate(PAGE_JS)
    page.screenshot(path=str(output_dir / f"offline_{Path(name).stem}.png"), full_page=False)

    assert outside == [], f"requests to the network: {outside}"
    assert [url for url in failed if url not in outside] == [], f"missing local files: {failed}"
    for font in (state["bodyFont"], state["markdownFont"]):
        if font is not None:
            assert "sans-serif" in font or "system-ui" in font, state
            assert not font.strip().lower().startswith(("serif", "times")), state
    if name == "index.html":
        links = page.locator("a").all_inner_texts()
        assert any("Quickstart" in link for link in links), links
        return
    # Each run once: its record; no live view left beside it or drawn from widget state.
    assert state["twice"] == 0, state
    assert state["liveViews"] == 0, state
    assert state["progressBars"] == 0, state
    assert not state["loading"], state
    if name.startswith("10_"):
        assert state["sweeps"] == 1, state  # the sweep's static table, once
    for href in state["next"]:
        assert href.endswith(".html"), state["next"]
        assert (built / href).exists(), href
    source = REPO / "notebooks" / Path(name).with_suffix(".ipynb").name
    if '"Next: [' in source.read_text(encoding="utf-8"):
        assert state["next"], f"no 'Next:' link on {name}"
