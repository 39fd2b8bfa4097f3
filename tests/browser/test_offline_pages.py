"""The HTML pages of ``make demo`` open offline: no network request, local fonts and icons.

``tools/build_docs.py`` builds the quickstart (it has a live view, so the widget renderer and its
icon fonts are vendored) into a temporary folder; headless Chromium opens the page and the index
with every non-file request aborted and counted. The page must make none, load every local file
it asks for, render its widgets, and use a sans-serif font. Screenshots go to
``test-output/browser/``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "01_quickstart.ipynb"
LOCAL = ("file:", "data:", "blob:", "about:")

PAGE_JS = """
() => {
  const font = el => el ? getComputedStyle(el).fontFamily : null;
  return {
    bodyFont: font(document.body),
    markdownFont: font(document.querySelector('.jp-RenderedMarkdown p')),
    progressBars: document.querySelectorAll('.widget-hprogress .progress-bar').length,
    loading: document.body.innerText.includes('Loading widget'),
  };
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("build")
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "build_docs.py"), "--output", str(output), NOTEBOOK],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (output / "_vendor" / "embed-amd.js").is_file(), f"npm could not vendor:\n{done.stdout}"
    return output


@pytest.mark.browser
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["01_quickstart.html", "index.html"])
def test_page_opens_offline(built: Path, name: str, page: Any, output_dir: Path) -> None:
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
    if name != "index.html":
        page.wait_for_selector(".widget-hprogress", timeout=30_000)
    page.wait_for_timeout(500)
    state = page.evaluate(PAGE_JS)
    page.screenshot(path=str(output_dir / f"offline_{Path(name).stem}.png"), full_page=False)

    assert outside == [], f"requests to the network: {outside}"
    # The widget renderer asks for its icon fonts next to the page: none may be missing.
    assert [url for url in failed if url not in outside] == [], f"missing local files: {failed}"
    for font in (state["bodyFont"], state["markdownFont"]):
        if font is not None:
            assert "sans-serif" in font or "system-ui" in font, state
            assert not font.strip().lower().startswith(("serif", "times")), state
    if name == "index.html":
        links = page.locator("a").all_inner_texts()
        assert any("Quickstart" in link for link in links), links
    else:
        assert state["progressBars"] >= 3, state
        assert not state["loading"], state
