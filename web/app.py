"""The Whistle web service: FastAPI app serving the API, the live map and its static assets.

``create_app`` is the only entry point; ``whistle serve`` runs :func:`app_from_env` under
uvicorn. All data comes from the store (see :mod:`web.districts`); every browser asset comes
from ``web/static`` because the service runs without internet access.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from geo.locate import LocateError
from geo.settings import database_url as configured_database_url
from web.api import boundaries, console, dispatch, locate, pages, plans
from web.api.deps import STATIC_URL
from web.districts import DistrictNotLoaded, DistrictRegistry, StoreUnavailable
from web.map import render_map

STATIC_DIR = Path(__file__).resolve().parent / "static"
DISTRICT_ENV = "WHISTLE_DISTRICT"

log = logging.getLogger("whistle.web")


def _warm_up(reg: DistrictRegistry, static_url: str) -> None:
    """Load the default district, build its locator and page before the first request."""
    try:
        reg.locator()
        reg.map_page(None, lambda d: render_map(d, static_url))
        log.info("district %s loaded from the %s store", reg.default,
                 reg.database_url.split(":", 1)[0])
    except DistrictNotLoaded as exc:
        log.warning("%s", exc)
    except StoreUnavailable as exc:
        log.error("%s", exc)


def create_app(database_url: str | None = None, district: str = "changshan") -> FastAPI:
    """Build the app for the store at ``database_url`` (default: configured) and a district.

    Parameters
    ----------
    database_url : str, optional
        ``sqlite:///...`` or ``postgresql://...``; default :func:`geo.settings.database_url`.
    district : str
        District served when a request names none.
    """
    reg = DistrictRegistry(database_url or configured_database_url(), district)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warm_up(reg, STATIC_URL)
        yield
        reg.close()
        app.state.jobs.shutdown()

    app = FastAPI(
        title="Whistle",
        summary="Geospatial dispatch and patrol planning for township enforcement.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.districts = reg
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(pages.router)
    app.include_router(boundaries.router)
    app.include_router(locate.router)
    app.include_router(dispatch.router)
    app.include_router(console.router)
    dispatch.install_error_handlers(app)
    plans.install(app)

    @app.exception_handler(DistrictNotLoaded)
    async def _not_loaded(request: Request, exc: DistrictNotLoaded) -> JSONResponse:
        # The served district missing means the service is not set up yet (503); any other
        # district is simply not there (404).
        status = 503 if exc.code == reg.default else 404
        return JSONResponse({"detail": {"field": "district", "message": str(exc),
                                        "hint": exc.hint, "stored": exc.stored}},
                            status_code=status)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": {"message": str(exc)}}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One body shape for every 4xx: the first bad field and why, plus all findings.
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        if first.get("type") == "missing":
            message = "is required"
        return JSONResponse({"detail": {
            "field": ".".join(loc) or "request", "message": message,
            "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"),
                        "type": e.get("type")} for e in errors]}}, status_code=422)

    @app.exception_handler(LocateError)
    async def _bad_point(request: Request, exc: LocateError) -> JSONResponse:
        field = str(exc).split(":", 1)[0]
        return JSONResponse({"detail": {"field": field, "message": str(exc)}}, status_code=422)

    return app


def app_from_env() -> FastAPI:
    """App factory for uvicorn (also with ``--reload``): district from ``WHISTLE_DISTRICT``."""
    return create_app(district=os.environ.get(DISTRICT_ENV) or "changshan")
