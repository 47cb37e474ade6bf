"""A headless Chromium for the tests that look at a page as a browser builds it: Playwright
(pinned in the test extra) driving the system's Chromium (Debian's `chromium`, installed by
scripts/install_chromium.sh, which `make test` runs); nothing is downloaded.

`live_markup(page_file)` opens a local HTML file offline, with JavaScript on, and reports
what a student's text could have turned into: elements carrying event handlers
(`onerror=`...), elements that load or run something (img, script, iframe, object, embed),
`javascript:` links, dialogs, and the page's title (an injected handler changes it).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = os.environ.get("KIT_CHROMIUM", "/usr/lib/chromium/chromium")  # the binary, not the /usr/bin wrapper
_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--host-resolver-rules=MAP * ~NOTFOUND"]  # no host name resolves: nothing leaves the machine
_LIVE = """() => {
  const all = Array.from(document.querySelectorAll('*'));
  return {
    title: document.title,
    handlers: all.filter(e => Array.from(e.attributes).some(a => a.name.toLowerCase().startsWith('on')))
                 .map(e => e.outerHTML.slice(0, 200)),
    active: all.filter(e => ['IMG', 'SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(e.tagName))
               .filter(e => !(e.tagName === 'SCRIPT' && e.dataset.kit === 'page'))
               .map(e => e.outerHTML.slice(0, 200)),
    javascript_links: all.filter(e => (e.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:'))
                         .map(e => e.outerHTML.slice(0, 200)),
    text: document.body ? document.body.innerText : '',
  };
}"""


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A launched headless browser; fails with what to install when there is none."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"no Chromium at {CHROMIUM}: run scripts/install_chromium.sh (make test does), "
                           "or set KIT_CHROMIUM to a Chromium binary")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=_ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


def live_markup(browser, page_file: Path, wait_ms: int = 300) -> dict:
    """Open `page_file` in a fresh offline context and return {title, handlers, active,
    javascript_links, dialogs, text}: every element with an on* attribute, every img, script
    (but the page's own, marked data-kit="page"), iframe, object or embed, every javascript:
    link, the dialogs opened, and the visible text. `wait_ms` lets handlers that fire on a
    failed load (onerror) run first."""
    context = browser.new_context(offline=True, java_script_enabled=True)
    try:
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(Path(page_file).resolve().as_uri(), wait_until="load", timeout=30_000)
        page.wait_for_timeout(wait_ms)
        found = page.evaluate(_LIVE)
        found["dialogs"] = dialogs
        return found
    finally:
        context.close()
