"""Execute the tutorial notebooks into standalone HTML pages under ``build/``, with an index.

The pages open offline: they use the ``offline`` template next to this file (no MathJax, mermaid
or requirejs from a CDN; a sans-serif font stack), and widgets render with local copies of
``@jupyter-widgets/html-manager`` and ``requirejs``, fetched once with ``npm pack`` into
``build/_vendor``. Without npm the pages keep no widget state (nothing to fetch from a CDN);
every run still ends with its static summary table. ``build/index.html`` links every page.

Each run shows once: a run's live view gives its output to the run's static record when it ends
(``synapse_steps.display.summary.remove_live``), and the outputs it leaves (a widget output
naming no widget) are dropped here, with the widget state nothing shows any more. Links between
tutorials (``07_training.ipynb``) point at their pages (``07_training.html``); other relative
links point at the file they name in the repository.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import execute

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
VENDOR_PACKAGES = {
    "@jupyter-widgets/html-manager@1": ("package/dist/embed-amd.js", "embed-amd.js"),
    "requirejs@2": ("package/require.js", "require.js"),
}
FONT_SUFFIXES = (".woff2", ".woff", ".ttf", ".eot", ".svg")
FONT_FOLDERS = ("@jupyter-widgets", "@jupyter-widgets/html-manager/dist")
INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial,
  "DejaVu Sans", "Liberation Sans", sans-serif; max-width: 44rem; margin: 3rem auto;
  padding: 0 1rem; color: #1f2328; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: .25rem; }
p { color: #59636e; margin-top: 0; }
ol { padding-left: 1.5rem; }
li { margin: .4rem 0; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .85em;
  color: #59636e; }
"""


def _npm_pack(package: str, scratch: Path) -> Path | None:
    packed = subprocess.run(
        ["npm", "pack", package, "--silent"],
        cwd=scratch,
        capture_output=True,
        text=True,
        check=False,
    )
    if packed.returncode != 0 or not packed.stdout.strip():
        return None
    return scratch / packed.stdout.strip().splitlines()[-1]


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)  # never a half-written file in place


def vendor_scripts(output: Path) -> dict[str, str] | None:
    """Local copies of the widget renderer and requirejs, or None when npm cannot fetch them.

    The scripts go to ``output/_vendor``. The renderer's CSS asks for its icon fonts (Font
    Awesome) at ``@jupyter-widgets/`` and ``@jupyter-widgets/html-manager/dist/`` next to the
    page: they are copied to both, or icons would show as empty boxes.
    """
    if shutil.which("npm") is None:
        return None
    vendor = output / "_vendor"
    found: dict[str, str] = {}
    for package, (member, name) in VENDOR_PACKAGES.items():
        target = vendor / name
        if not target.exists():
            with tempfile.TemporaryDirectory() as scratch:
                tarball = _npm_pack(package, Path(scratch))
                if tarball is None:
                    return None
                with tarfile.open(tarball) as archive:
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        return None
                    script = extracted.read()
                    for entry in archive.getmembers():
                        entry_path = Path(entry.name)
                        if (
                            entry.isfile()
                            and entry_path.parent.as_posix() == "package/dist"
                            and (entry_path.suffix in FONT_SUFFIXES)
                        ):
                            data = archive.extractfile(entry)
                            if data is not None:
                                font = data.read()
                                for folder in FONT_FOLDERS:
                                    _write(output / folder / entry_path.name, font)
                    _write(target, script)  # last: its presence means the fonts are there
        found[name] = f"_vendor/{name}"
    return found


def missing_imports(path: Path) -> tuple[str, list[str]]:
    """The extra a notebook declares it needs (``metadata.synapse_steps``) and what of it is not
    installed here; tutorial 12 trains real models, which the docs' install leaves out."""
    notebook = nbformat.read(path, as_version=4)
    needs = notebook.metadata.get("synapse_steps", {})
    missing = [name for name in needs.get("imports", []) if importlib.util.find_spec(name) is None]
    return str(needs.get("extra", "")), missing


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: A Markdown link's target, or an HTML attribute's: ``](target)``, ``href="target"``.
LINK = re.compile(r"(\]\(|(?:href|src)=\")([^)\"\s]+)")


def drop_removed_views(notebook: nbformat.NotebookNode) -> int:
    """Drop the outputs of live views that gave way to their record (a widget output naming no
    widget); return how many."""
    dropped = 0
    for cell in notebook.cells:
        kept = []
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if isinstance(view, dict) and not view.get("model_id"):
                dropped += 1
                continue
            kept.append(output)
        if "outputs" in cell:
            cell.outputs = kept
    return dropped


def prune_widget_state(notebook: nbformat.NotebookNode) -> None:
    """Keep the saved state of the widgets an output still shows (and the widgets they hold);
    drop the metadata when none is left, so the page needs no widget renderer."""
    widgets = notebook.metadata.get("widgets", {})
    key = "application/vnd.jupyter.widget-state+json"
    state = widgets.get(key, {}).get("state", {})
    wanted = [
        output["data"][WIDGET_VIEW].get("model_id")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if WIDGET_VIEW in output.get("data", {})
    ]
    keep: set[str] = set()
    while wanted:
        model = wanted.pop()
        if model in keep or model not in state:
            continue
        keep.add(model)
        wanted += re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model]))
    if not keep:
        notebook.metadata.pop("widgets", None)
        return
    widgets[key]["state"] = {model: value for model, value in state.items() if model in keep}


def rewrite_links(
    notebook: nbformat.NotebookNode, source: Path, output: Path, pages: set[str]
) -> None:
    """Point links at what the build holds: ``X.ipynb`` at its page ``X.html`` when that page
    is built, any other relative link at the file it names next to the source notebook."""

    def target(match: re.Match[str]) -> str:
        opening, link = match.group(1), match.group(2)
        if re.match(r"^(?:[a-z][a-z0-9+.-]*:|#|/)", link, re.IGNORECASE):
            return match.group(0)  # a URL, an anchor, an absolute path: left as written
        path, hash_, anchor = link.partition("#")
        page = Path(path).with_suffix(".html").name
        if path.endswith(".ipynb") and "/" not in path and page in pages:
            return f"{opening}{page}{hash_}{anchor}"
        named = (source.parent / path).resolve()
        relative = os.path.relpath(named, output.resolve())
        return f"{opening}{Path(relative).as_posix()}{hash_}{anchor}"

    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = LINK.sub(target, cell.source)


def title_of(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook, without its ``#`` marks."""
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return fallback


def write_index(output: Path, pages: list[tuple[str, str]]) -> Path:
    """``index.html`` linking each page (file name, title) in order."""
    items = "\n".join(
        f'<li><a href="{html.escape(name)}">{html.escape(title)}</a> '
        f"<code>{html.escape(name)}</code></li>"
        for name, title in pages
    )
    index = output / "index.html"
    index.write_text(
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>synapse_steps tutorials</title>\n"
        f"<style>{INDEX_STYLE}</style>\n</head>\n<body>\n"
        "<h1>synapse_steps tutorials</h1>\n"
        "<p>Each tutorial executed by <code>make demo</code>; the pages open without a network."
        "</p>\n"
        f"<ol>\n{items}\n</ol>\n</body>\n</html>\n",
        encoding="utf-8",
    )
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)])
    scripts: dict[str, str] | None = None
    vendoring_tried = False
    pages: list[tuple[str, str]] = []
    built = {f"{path.stem}.html" for path in notebooks}
    for path in notebooks:
        extra, missing = missing_imports(path)
        if missing:
            print(
                f"skipping {path.name}: it needs {', '.join(missing)}, not installed here "
                f"(pip install 'synapse-steps[{extra}]' to build its page)",
                flush=True,
            )
            continue
        print(f"executing {path.name}", flush=True)
        notebook = execute(path, widget_state=True)
        drop_removed_views(notebook)
        prune_widget_state(notebook)
        rewrite_links(notebook, path, output, built)
        if "widgets" in notebook.metadata and not vendoring_tried:
            vendoring_tried = True  # fetched once, only when a page has widgets
            scripts = vendor_scripts(output)
            if scripts is not None:
                exporter.widget_renderer_url = scripts["embed-amd.js"]
                exporter.require_js_url = scripts["require.js"]
            else:
                print("  npm could not fetch the widget renderer: pages show no live views")
        if scripts is None:
            # Rendering them would need the renderer from a CDN; the summaries stay.
            notebook.metadata.pop("widgets", None)
        title = title_of(notebook, path.stem)
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
        page = output / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        pages.append((page.name, title))
        print(f"  -> {page}")
    index = write_index(output, pages)
    print(f"\nThe tutorials as HTML pages: open {index.resolve().as_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
