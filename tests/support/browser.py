"""Real headless Chromium for the browser tests: where it is, how it is launched, a
real `tocsin serve` for it to talk to, and the checks a user would notice (screenshots,
horizontal scrolling at phone width, the keyboard focus order and its indicator).

Playwright drives Debian's Chromium through ``executable_path``; Playwright's own
browser download is never used.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page
from tests.support.servers import TOCSIN, clean_env, free_port, start_server, stop_server

__all__ = [
    "CHROMIUM_ARGS",
    "MOBILE",
    "TIMEOUT_MS",
    "FocusStop",
    "PageFactory",
    "TocsinServer",
    "artifacts_dir",
    "assert_keyboard_reaches_everything",
    "declare",
    "find_chromium",
    "horizontal_overflow",
    "init_directory",
    "running_tocsin",
    "screenshot",
    "tab_through",
    "unreadable_text",
]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DEBIAN_CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 10_000
"""Upper bound of any single browser action or wait, so a hang fails one test quickly."""

MOBILE: dict[str, Any] = {
    "viewport": {"width": 375, "height": 740},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
"""A 375 px wide phone. ``is_mobile`` makes Chromium honour ``<meta name=viewport>``,
so a page without one lays out 980 px wide and shows up as horizontal overflow."""

REPO_ROOT = Path(__file__).resolve().parents[2]

PageFactory = Callable[..., Page]
"""Opens a page in a fresh browser context; keyword arguments go to ``new_context``."""


def find_chromium() -> str | None:
    """``$TOCSIN_CHROMIUM`` if set (another Chromium-based browser, e.g. on a laptop),
    else Debian's ``chromium``; None when there is none."""
    chosen = os.environ.get("TOCSIN_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    found = shutil.which("chromium")
    if found:
        return found
    return DEBIAN_CHROMIUM if Path(DEBIAN_CHROMIUM).is_file() else None


def artifacts_dir() -> Path:
    """``$TOCSIN_ARTIFACTS_DIR/screenshots`` or ``test-artifacts/screenshots`` in the repo."""
    base = os.environ.get("TOCSIN_ARTIFACTS_DIR")
    root = Path(base) if base else REPO_ROOT / "test-artifacts"
    directory = root / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of what the browser shows now, kept as a test artifact."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the device's screen (0: no horizontal
    scroll). Measured against the configured viewport, not ``innerWidth``: a mobile
    browser zooms out to fit a too-wide page, which widens ``innerWidth`` with it."""
    size = page.viewport_size
    assert size is not None, "the page needs a fixed viewport"
    scroll_width: int = page.evaluate("() => document.documentElement.scrollWidth")
    return max(0, scroll_width - size["width"])


def unreadable_text(page: Page, minimum_px: float = 12) -> list[str]:
    """Visible text set smaller than ``minimum_px``, or sticking out of the viewport
    sideways (cut off, or reachable only by scrolling the page), as "tag: text (reason)"
    lines. Text in a box of its own that scrolls sideways inside the viewport (a wide data
    table) is reachable: WCAG 1.4.10 (reflow) allows that for two-dimensional content."""
    size = page.viewport_size
    assert size is not None, "the page needs a fixed viewport"
    problems: list[str] = page.evaluate(
        """([minimum, width]) => {
          const out = [];
          for (const el of document.body.querySelectorAll('*')) {
            const text = Array.from(el.childNodes)
              .filter(n => n.nodeType === Node.TEXT_NODE)
              .map(n => n.textContent.trim()).join(' ').trim();
            if (!text) continue;
            const rects = el.getClientRects();
            if (!rects.length) continue;
            const style = getComputedStyle(el);
            if (style.visibility === 'hidden') continue;
            const box = el.getBoundingClientRect();
            if (box.bottom <= 0 || box.right <= 0) continue;  // parked off screen: a skip link
            const size = parseFloat(style.fontSize);
            const label = el.tagName.toLowerCase() + ': ' + text.slice(0, 40);
            if (size < minimum) out.push(label + ' (' + size + 'px)');
            let scroller = el.parentElement;  // data tables may scroll in their own box
            while (scroller && !['auto', 'scroll'].includes(getComputedStyle(scroller).overflowX))
              scroller = scroller.parentElement;
            const within = scroller ? scroller.getBoundingClientRect() : {left: 0, right: width};
            if (within.left < 0 || within.right > width + 0.5) scroller = null;
            if (!scroller && (box.left < 0 || box.right > width + 0.5))
              out.push(label + ' (' + Math.round(box.left) + '..' + Math.round(box.right) + 'px)');
          }
          return out;
        }""",
        [minimum_px, size["width"]],
    )
    return problems


@dataclass(frozen=True)
class FocusStop:
    """One element the Tab key landed on."""

    index: int
    """Its position among the focusable elements in document order (-1: not one)."""
    description: str
    indicated: bool
    """Whether focus changes how it looks (outline, shadow, border or background)."""
    on_screen: bool


_TAG_FOCUSABLES = """() => {
  const selector = 'a[href], button, input, select, textarea, summary, [tabindex]';
  const style = el => {
    const s = getComputedStyle(el);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow,
            s.borderColor, s.borderWidth, s.backgroundColor, s.textDecorationLine].join('|');
  };
  if (document.activeElement) document.activeElement.blur();
  const found = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled || el.tabIndex < 0 || el.type === 'hidden') continue;
    if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.closest('details:not([open])') && el.tagName !== 'SUMMARY') continue;
    el.dataset.tabStop = String(found.length);
    el.dataset.tabStyle = style(el);
    found.push(el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') ||
      el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40) || el.name || el.id));
  }
  const positive = document.querySelectorAll('[tabindex]:not([tabindex="0"]):not([tabindex^="-"])');
  return {found, positive: positive.length};
}"""

_ACTIVE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  const now = [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow,
               s.borderColor, s.borderWidth, s.backgroundColor, s.textDecorationLine].join('|');
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 1 &&
                  s.outlineColor !== 'rgba(0, 0, 0, 0)';
  const box = el.getBoundingClientRect();
  const onScreen = box.width > 0 && box.height > 0 && box.bottom > 0 &&
                   box.top < window.innerHeight && box.right > 0 && box.left < window.innerWidth;
  return {
    index: el.dataset.tabStop === undefined ? -1 : Number(el.dataset.tabStop),
    description: el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') ||
      el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 40) || el.name || el.id),
    indicated: outline || now !== el.dataset.tabStyle,
    onScreen,
  };
}"""


def tab_through(page: Page) -> tuple[list[str], list[FocusStop]]:
    """Press Tab once per focusable element of the page, from the top.

    Returns the focusable elements in document order (what a keyboard user should be
    able to reach, in reading order) and where each Tab press landed. A page with a
    positive ``tabindex`` (which reorders focus) fails here.
    """
    tagged: dict[str, Any] = page.evaluate(_TAG_FOCUSABLES)
    assert tagged["positive"] == 0, "a positive tabindex reorders keyboard focus"
    expected: list[str] = tagged["found"]
    stops: list[FocusStop] = []
    for _ in expected:
        page.keyboard.press("Tab")
        active: dict[str, Any] | None = page.evaluate(_ACTIVE)
        if active is None:
            break
        stops.append(
            FocusStop(
                index=active["index"],
                description=active["description"],
                indicated=active["indicated"],
                on_screen=active["onScreen"],
            )
        )
    return expected, stops


def assert_keyboard_reaches_everything(page: Page) -> list[str]:
    """Tab reaches every link and control in document order, each on screen and visibly
    focused; returns what it reached (see :func:`tab_through`)."""
    expected, stops = tab_through(page)
    assert [stop.index for stop in stops] == list(range(len(expected))), (expected, stops)
    assert [s.description for s in stops if not s.indicated] == [], "no visible focus"
    assert [s.description for s in stops if not s.on_screen] == [], "focused off screen"
    return expected


@dataclass(frozen=True)
class TocsinServer:
    """A `tocsin serve` process on 127.0.0.1 in its own directory (SQLite, the example
    policy), with the admin token `tocsin init` created."""

    directory: Path
    url: str
    token: str
    log: Path

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """`tocsin ARGS` in the server's directory, as an operator on that machine."""
        env = clean_env({"TOCSIN_URL": self.url, "TOCSIN_TOKEN": self.token})
        return subprocess.run(
            [TOCSIN, *args],
            cwd=self.directory,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )


def init_directory(directory: Path) -> None:
    """`tocsin init` (example policy, SQLite database, admin token) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [TOCSIN, "init"],
        cwd=directory,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"tocsin init failed:\n{result.stdout}{result.stderr}")


@contextmanager
def running_tocsin(template: Path, directory: Path) -> Iterator[TocsinServer]:
    """`tocsin serve` on a copy of an initialised ``template`` directory."""
    shutil.copytree(template, directory)
    token = json.loads((directory / ".tocsin" / "credentials.json").read_text())["token"]
    port = free_port()
    log = directory / "serve.log"
    process = start_server(directory, port, clean_env(), log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        yield TocsinServer(directory=directory, url=url, token=token, log=log)
    finally:
        stop_server(process)


def declare(api: httpx.Client, title: str, severity: str, *services: str) -> str:
    """Declare an incident through the REST API; its id (``INC-7``)."""
    response = api.post(
        "/api/v1/incidents",
        json={"title": title, "severity": severity, "services": list(services)},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
