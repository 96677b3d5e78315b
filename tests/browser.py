"""Tests in a real browser: Debian's chromium driven by playwright, and PNG screenshots read back.

``chromium()`` answers the browser's path, or skips the test with the reason (under
``CI=true``, which promises the browser, it fails instead); ``launched()`` is that browser
started, and ``keyed_page`` a page of it whose tab already holds an API key. ``png_size``
and ``png_pixel`` read a screenshot without an imaging library.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("LANGGRAPH_RUNNER_TEST_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox"]


def missing(message: str) -> None:
    """Skip with the reason; under CI=true (which promises the browser) fail instead."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI=true needs it", pytrace=False)
    pytest.skip(message)


def chromium() -> str:
    """The chromium executable, with playwright importable (else skip, or fail under CI)."""
    path = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing('playwright is not installed (pip install -e ".[dev]")')
    assert path is not None
    return path


@contextlib.contextmanager
def launched() -> Iterator[Any]:
    """One headless chromium (skipped as ``chromium()`` says), closed afterwards."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def keyed_page(browser: Any, store_key: str, key: str, width: int, height: int = 900) -> Any:
    """A page in a fresh context of ``browser`` whose tab holds ``key`` in its session storage
    under ``store_key``; the page's script errors are kept in ``page.errors``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.add_init_script(f"sessionStorage.setItem({store_key!r}, {key!r})")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG image."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def png_pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of a PNG screenshot (8-bit RGB/RGBA, no interlace)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 4
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    prev = bytearray(stride)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 255
        prev = line
    px = prev[x * channels : x * channels + 3]
    return px[0], px[1], px[2]


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an RGB triple."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
