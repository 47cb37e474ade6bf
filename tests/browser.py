"""Headless Chromium for the page tests: Debian's chromium driven by Playwright.

scripts/install-chromium.sh installs the browser (`make test` runs it); Playwright (the
`test` extra) drives that binary and never downloads one of its own. Each page opens in a
fresh browser context with the network cut (offline, every http/ws request aborted, every
host name unresolvable), and its console errors, uncaught exceptions, failed requests and
dialogs are logged.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

# The real binary: /usr/bin/chromium is a shell wrapper that adds flags of its own.
CHROMIUM = "/usr/lib/chromium/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
               "--disable-component-update", "--disable-sync", "--host-resolver-rules=MAP * ~NOTFOUND"]
LOCAL_SCHEMES = {"file", "data", "about", "blob"}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


def chromium_path() -> str:
    """$KIT_CHROMIUM, else Debian's chromium; RuntimeError with the fix when neither is there."""
    path = os.environ.get("KIT_CHROMIUM", CHROMIUM)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no Chromium at {path}: run scripts/install-chromium.sh (make test does), "
                           "or point KIT_CHROMIUM at a Chromium binary")
    return path


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=LAUNCH_ARGS,
                                      timeout=60_000)


@dataclass
class PageLog:
    """What a page did while it was open."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors] + [f"uncaught: {m}" for m in self.page_errors]
                + [f"failed request: {m}" for m in self.failed_requests]
                + [f"network request: {m}" for m in self.external_requests] + [f"dialog: {m}" for m in self.dialogs])


def _block(route) -> None:
    if urlsplit(route.request.url).scheme in ("http", "https", "ws", "wss"):
        route.abort("internetdisconnected")
    else:
        route.continue_()


@contextlib.contextmanager
def open_page(browser, path: Path, device: dict = DESKTOP):
    """(page, log) of the local file `path` in a fresh context with the network cut."""
    context = browser.new_context(**device, offline=True, service_workers="block", locale="en-US",
                                  timezone_id="UTC")
    try:
        context.set_default_timeout(15_000)
        context.route("**/*", _block)
        page = context.new_page()
        log = PageLog()
        page.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: log.page_errors.append(str(e)))
        page.on("requestfailed", lambda r: log.failed_requests.append(f"{r.url[:80]} ({r.failure})"))
        page.on("request", lambda r: log.external_requests.append(r.url)
                if urlsplit(r.url).scheme not in LOCAL_SCHEMES else None)

        def dialog(d):
            log.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        yield page, log
    finally:
        context.close()


def broken_images(page) -> list[str]:
    """The images that did not load (naturalWidth 0), by alt text; [] when all did."""
    return page.evaluate("""() => Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.alt || img.src.slice(0, 60))""")


def live_markup(page) -> list[str]:
    """What student text could have made live in the DOM: elements with an on* attribute,
    images whose source is not one of the kit's PNG data URIs, and script, iframe, object,
    embed, svg, form, link, meta refresh or base elements (the kit writes none)."""
    return page.evaluate("""() => {
        const found = [];
        for (const el of document.querySelectorAll('*')) {
            for (const a of el.attributes) if (a.name.toLowerCase().startsWith('on')) found.push(`${el.tagName} ${a.name}`);
        }
        for (const img of document.images)
            if (!img.getAttribute('src').startsWith('data:image/png;base64,')) found.push(`IMG src=${img.getAttribute('src')}`);
        for (const el of document.querySelectorAll('script, iframe, object, embed, svg, form, link, base, meta[http-equiv]'))
            found.push(el.tagName);
        return found;
    }""")


def text(page, selector: str) -> str:
    """The text of the one element `selector` matches, whitespace collapsed."""
    found = page.locator(selector)
    assert found.count() == 1, f"{selector!r} matched {found.count()} elements, expected 1"
    return " ".join((found.text_content() or "").split())


def screenshot(page, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path
