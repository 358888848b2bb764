"""The live-map page and the health check."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse

from web.api.deps import STATIC_URL, DistrictParam, registry
from web.districts import DistrictNotLoaded, DistrictRegistry, StoreUnavailable
from web.map import render_map

router = APIRouter(tags=["pages"])


def unavailable_page(static_url: str, title: str, message: str, hint: str | None) -> str:
    """A plain page in the map's style, for when there is nothing to draw yet."""
    cmd = f"<code>{html.escape(hint)}</code>" if hint else ""
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} · Whistle</title>
<link rel="icon" href="{static_url}/img/whistle.svg" type="image/svg+xml">
<link rel="stylesheet" href="{static_url}/css/whistle-map.css"></head>
<body><header class="ws-header"><div class="ws-brand"><span class="ws-logo"></span>Whistle</div>
</header><main class="ws-unavailable"><section><h1>{html.escape(title)}</h1>
<p>{html.escape(message)}</p>{cmd}</section></main></body></html>"""


@router.get("/", response_class=HTMLResponse, summary="Live map of a district")
def map_page(
    reg: Annotated[DistrictRegistry, Depends(registry)],
    district: DistrictParam = None,
) -> HTMLResponse:
    static_url = STATIC_URL
    code = district or reg.default
    try:
        page = reg.map_page(code, lambda d: render_map(d, static_url))
    except DistrictNotLoaded as exc:
        status = 503 if code == reg.default else 404
        return HTMLResponse(unavailable_page(static_url, f"District {code} is not loaded",
                                             str(exc), exc.hint), status_code=status)
    except StoreUnavailable as exc:
        return HTMLResponse(unavailable_page(static_url, "Store unavailable", str(exc), None),
                            status_code=503)
    return HTMLResponse(page)


@router.get("/healthz", summary="Store reachable and default district loaded")
def healthz(reg: Annotated[DistrictRegistry, Depends(registry)]) -> JSONResponse:
    status = reg.status()
    ok = bool(status["store_reachable"] and status.get("default_loaded"))
    if not status["store_reachable"]:
        status["message"] = "store unreachable"
    elif not ok:
        status["message"] = (f"district {reg.default!r} is not loaded; run "
                             f"`whistle boundaries load data/boundaries/{reg.default}`")
    return JSONResponse({"status": "ok" if ok else "unavailable", **status},
                        status_code=200 if ok else 503)
