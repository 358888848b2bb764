"""Request dependencies shared by the views."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request

from web.districts import DistrictRegistry

# Where web/static is mounted; the map page references its assets under this prefix only.
STATIC_URL = "/static"


def registry(request: Request) -> DistrictRegistry:
    return request.app.state.districts


DistrictParam = Annotated[
    str | None,
    Query(description="District code; default: the district the server was started for.",
          min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"),
]
