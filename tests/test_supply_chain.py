"""What CI installs is pinned by content, not only by version: the npm tools of the
GitHub contract tests come from a committed package-lock.json through `npm ci`."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_npm_tools_are_installed_from_the_committed_lock() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'npm ci --prefix "$npm_dir"' in script
    assert "npm install" not in script
    manifest = json.loads((ROOT / "tools" / "npm" / "package.json").read_text())
    lock = json.loads((ROOT / "tools" / "npm" / "package-lock.json").read_text())
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
    for name, version in manifest["dependencies"].items():
        assert version[0].isdigit(), f"{name}: an exact version, not a range"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    unhashed = [
        path
        for path, entry in lock["packages"].items()
        if path and not entry.get("link") and not entry.get("integrity", "").startswith("sha512-")
    ]
    assert unhashed == []
