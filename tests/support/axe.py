"""axe-core, Deque's accessibility rules engine, run inside a real page.

The engine is the npm package ``axe-core`` at the version pinned (with its integrity
hash) by ``tests/support/axe/package-lock.json``. The first run installs it with
``npm ci`` into a cache directory (``$TOCSIN_TEST_CACHE`` or ``~/.cache/tocsin-tests``),
bounded in time; every later run reads it from there, offline. Without npm (or without
the registry on a first run) the tests that need it skip locally and fail in CI.

The script is evaluated in the page through the browser's debugging protocol, so the
page's Content-Security-Policy (which allows no inline script) stays as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page
from tests.support.cachelock import installing
from tests.support.requirements import require

__all__ = ["AXE_VERSION", "Violation", "axe_source", "axe_violations"]

_MANIFEST = Path(__file__).parent / "axe"
AXE_VERSION: str = json.loads((_MANIFEST / "package.json").read_text())["dependencies"]["axe-core"]
INSTALL_TIMEOUT_S = 180


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help} at {', '.join(self.targets[:5])}"


def _cache_dir() -> Path:
    base = os.environ.get("TOCSIN_TEST_CACHE")
    root = Path(base) if base else Path.home() / ".cache" / "tocsin-tests"
    return root / f"axe-core-{AXE_VERSION}"


def _install(target: Path) -> str | None:
    """``npm ci`` of the pinned manifest into ``target``; None when done, else why not."""
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(_MANIFEST / name, target / name)
    try:
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"npm ci took longer than {INSTALL_TIMEOUT_S} s"
    if done.returncode != 0:
        return f"npm ci failed: {done.stderr.strip()[-500:]}"
    return None


@cache
def axe_source() -> str:
    """The text of ``axe.min.js``, installed on first use."""
    script = _cache_dir() / "node_modules" / "axe-core" / "axe.min.js"
    with installing(_cache_dir()):
        problem = None if script.is_file() else _install(_cache_dir())
    require(
        script.is_file(),
        f"axe-core {AXE_VERSION}",
        f"npm (apt-get install npm) and the npm registry on the first run ({problem})",
    )
    return script.read_text(encoding="utf-8")


_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({
    rule: v.id, impact: v.impact || '', help: v.help,
    targets: v.nodes.map(n => n.target.join(' '))
  }));
}"""


def axe_violations(page: Page) -> list[Violation]:
    """The violations of axe-core's default rules (WCAG 2.x A/AA and best practices)
    on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return [Violation(v["rule"], v["impact"], v["help"], v["targets"]) for v in found]
