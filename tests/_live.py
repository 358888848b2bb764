"""A live server and a headless browser for the page tests (shared by the browser suites)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn

from geo.boundaries import District
from geo.store import open_store
from web.app import create_app

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str:
    """Path of a headless browser; fail in CI (the browser tests must run there), else skip."""
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    reason = f"no headless browser found (looked for {', '.join(CHROMIUM_CANDIDATES)})"
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
    pytest.skip(reason)


@contextmanager
def serving(database_url: str) -> Iterator[str]:
    """Run the app for ``database_url`` on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(database_url), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start", pytrace=False)
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def serving_district(directory: Path, district: District) -> Iterator[str]:
    """Base URL of the app on a free loopback port, serving a new SQLite store in
    ``directory`` seeded with ``district``."""
    url = f"sqlite:///{directory / 'whistle.db'}"
    with open_store(url) as store:
        store.save_district(district)
    with serving(url) as base:
        yield base
