"""``/api/v1/locate``: which township, zone and cluster holds a point (as ``whistle locate``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from geo.crs import InputCRS
from web.api.deps import DistrictParam, registry
from web.districts import DistrictRegistry

router = APIRouter(prefix="/api/v1", tags=["locate"])


@router.get("/locate", summary="Locate one point in a district's townships, zones and clusters")
def locate(
    reg: Annotated[DistrictRegistry, Depends(registry)],
    lon: Annotated[float, Query(ge=-180, le=180, description="Longitude, degrees.")],
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude, degrees.")],
    crs: Annotated[InputCRS, Query(description="Datum of lon/lat: wgs84, or gcj02 as "
                                   "published by Amap/Tencent web maps.")] = InputCRS.wgs84,
    district: DistrictParam = None,
) -> dict[str, Any]:
    return reg.locator(district).describe([lon], [lat], crs)[0]
