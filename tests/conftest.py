"""Fixtures of the kit's own tests: the course, MNIST prepared once, temporary submissions."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder.course import config, mnist

ROOT = config.KIT_ROOT


@pytest.fixture(scope="session", autouse=True)
def mnist_cache(tmp_path_factory):
    """MNIST tensors prepared once per test session from $MNIST_DIR (never downloaded).

    MNIST_CACHE, when set, is reused as is (a developer's warm cache)."""
    if os.environ.get("MNIST_CACHE"):
        cache = Path(os.environ["MNIST_CACHE"])
    else:
        cache = tmp_path_factory.mktemp("mnist-cache")
        os.environ["MNIST_CACHE"] = str(cache)
    if not (cache / mnist.CACHE_FILE).exists():
        source = os.environ.get("MNIST_DIR")
        if not source:
            pytest.exit("set MNIST_DIR to a folder with the four MNIST idx files (see README)", returncode=2)
        mnist.prepare(cache, source=Path(source))
    return cache


@pytest.fixture(scope="session")
def course(mnist_cache):
    return config.load_course()


def make_submission(tmp_path: Path, lab: str, module: str, source: str) -> Path:
    """A lab folder holding one module with `source`; returns the folder."""
    folder = tmp_path / lab
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    return folder


def check_source_lines(min_chars: int = 25) -> set[str]:
    """The distinctive lines (code and comments of `min_chars` or more) of every checks module:
    a page that holds one of them shows check source."""
    return {line.strip() for path in (ROOT / "autograder" / "checks").glob("*.py")
            for line in path.read_text().splitlines() if len(line.strip()) >= min_chars}


def copy_lab(src_root: Path, lab: str, dest: Path) -> Path:
    shutil.copytree(src_root / lab, dest / lab)
    return dest / lab


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (tests/browser.py opens each page in a
    fresh context with the network cut); closed, with Playwright's driver, at the end."""
    from playwright.sync_api import sync_playwright

    from tests import browser as pages

    with sync_playwright() as playwright:
        chromium = pages.launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
