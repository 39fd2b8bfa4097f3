"""Execute the tutorial notebooks into standalone HTML pages under ``build/``.

Widgets in exported HTML need the widget renderer. nbconvert loads it from a CDN by default, so
offline the live views would render blank: when npm is available, local copies of
``@jupyter-widgets/html-manager`` and ``requirejs`` are fetched from the npm registry into
``build/_vendor`` and the pages point at them.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebooks import execute

ROOT = Path(__file__).resolve().parent.parent
VENDOR_PACKAGES = {
    "@jupyter-widgets/html-manager@1": ("package/dist/embed-amd.js", "embed-amd.js"),
    "requirejs@2": ("package/require.js", "require.js"),
}


def vendor_scripts(vendor: Path) -> dict[str, str] | None:
    """Local copies of the widget renderer and requirejs, or None when npm cannot fetch them."""
    if shutil.which("npm") is None:
        return None
    vendor.mkdir(parents=True, exist_ok=True)
    found: dict[str, str] = {}
    for package, (member, name) in VENDOR_PACKAGES.items():
        target = vendor / name
        if not target.exists():
            with tempfile.TemporaryDirectory() as scratch:
                packed = subprocess.run(
                    ["npm", "pack", package, "--silent"],
                    cwd=scratch,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if packed.returncode != 0:
                    return None
                tarball = Path(scratch) / packed.stdout.strip().splitlines()[-1]
                with tarfile.open(tarball) as archive:
                    extracted = archive.extractfile(member)
                    if extracted is None:
                        return None
                    target.write_bytes(extracted.read())
        found[name] = f"_vendor/{name}"
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=ROOT / "build")
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    output: Path = args.output
    output.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    scripts = vendor_scripts(output / "_vendor")
    if scripts is not None:
        exporter.widget_renderer_url = scripts["embed-amd.js"]
        exporter.require_js_url = scripts["require.js"]
    else:
        print("npm unavailable: pages load the widget renderer from its CDN when opened")
    for path in notebooks:
        print(f"executing {path.name}", flush=True)
        body, _ = exporter.from_notebook_node(execute(path, widget_state=True))
        page = output / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        print(f"  -> {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
