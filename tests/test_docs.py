"""Cheap consistency checks of docs/ (the Sphinx build itself runs in CI).

Build the documentation with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import re
from pathlib import Path

import skxc
import skxc.datasets

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLES = DOCS.parent / "examples"


def test_api_page_lists_the_public_api():
    api = (DOCS / "api.rst").read_text()
    for name in skxc.__all__:
        if name != "__version__":
            assert re.search(rf"^\s+{name}$", api, flags=re.M), f"{name} missing from docs/api.rst"
    for name in skxc.datasets.__all__:
        assert re.search(rf"^\s+{name}$", api, flags=re.M), f"skxc.datasets.{name} missing from docs/api.rst"


def test_changelog_has_the_current_version():
    version = re.match(r"\d+\.\d+\.\d+", skxc.__version__)
    assert version, skxc.__version__
    assert re.search(rf"^{re.escape(version.group())}\n=+$", (DOCS / "changelog.rst").read_text(), flags=re.M)


def test_every_example_is_documented():
    quickstart = (DOCS / "quickstart.rst").read_text()
    for script in EXAMPLES.glob("*.py"):
        assert f"``{script.name}``" in quickstart, f"{script.name} is not described in docs/quickstart.rst"


def test_static_figures_are_small_and_referenced():
    text = "".join(p.read_text() for p in DOCS.glob("*.rst"))
    figures = list((DOCS / "_static").glob("*.png"))
    assert figures
    for png in figures:
        assert png.stat().st_size < 200_000, f"{png.name} is {png.stat().st_size} bytes"
        assert f"_static/{png.name}" in text, f"{png.name} is not used by any page"
