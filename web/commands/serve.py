"""``whistle serve``: run the web service (API and live map) under uvicorn."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from geo.settings import database_url
from web.app import DISTRICT_ENV
from web.commands._errors import err_console, fail
from web.districts import DistrictNotLoaded, DistrictRegistry, StoreUnavailable

PROJECT = Path(__file__).resolve().parents[2]


def _check_port_free(host: str, port: int) -> None:
    """Fail with one clear line before uvicorn would log a traceback-like bind error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(f"--host: cannot resolve {host!r} ({exc.strerror})")
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"--port: {port} is already in use on {host}")
            fail(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror})")


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    district: Annotated[str, typer.Option(
        "--district", help="District shown when a request names none.")] = "changshan",
    reload: Annotated[bool, typer.Option(
        "--reload", help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the API and the live map (no internet needed: all assets are local)."""
    _check_port_free(host, port)
    # Say up front what the service will answer, instead of letting the first visitor find out.
    try:
        DistrictRegistry(database_url(), district).district()
    except DistrictNotLoaded as exc:
        err_console.print(f"[yellow]warning:[/] {exc}; pages and API answer 503 until then",
                          highlight=False, soft_wrap=True)
    except StoreUnavailable as exc:
        err_console.print(f"[yellow]warning:[/] {exc}", highlight=False, soft_wrap=True)

    import uvicorn

    # Through the environment, because the reloader imports the app afresh in a child process.
    os.environ[DISTRICT_ENV] = district
    err_console.print(f"Whistle: {district} on http://{host}:{port}/  (Ctrl+C to stop)",
                      highlight=False)
    uvicorn.run("web.app:app_from_env", factory=True, host=host, port=port, reload=reload,
                reload_dirs=[str(PROJECT / p) for p in ("geo", "dispatch", "planner", "web")]
                if reload else None,
                log_level="info")
