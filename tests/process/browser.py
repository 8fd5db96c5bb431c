"""Open nnctl's pages in Debian's Chromium through Playwright (no browser is downloaded): every
request that would leave file:// is refused and recorded, console errors and page errors are
collected, and a page counts as drawn once its script sets `data-rendered` on the body."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Opened:
    page: object
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every URL asked for that is not file://
    dialogs: list[str] = field(default_factory=list)  # alert() and friends: injected script ran

    def report(self) -> dict:
        import json

        return json.loads(self.page.locator("#nnctl-report").text_content())


@contextlib.contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, path: Path, width: int = 1280, height: int = 900) -> Opened:
    """Load `path` from file:// and wait until every chart is drawn."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    opened = Opened(page)

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            opened.requests.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.on("dialog", lambda d: (opened.dialogs.append(d.message), d.dismiss()))
    page.goto(path.resolve().as_uri())
    page.wait_for_selector("body[data-rendered=true]", state="attached", timeout=30_000)
    return opened


def pixel_spread(png: bytes) -> float:
    """The standard deviation of a screenshot's grey levels: near 0 for a blank page."""
    import io

    import numpy as np
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std())
