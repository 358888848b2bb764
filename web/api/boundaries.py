"""``/api/v1/boundaries/{layer}``: a district's layers as GeoJSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from geo.boundaries import areas_geojson, townships_geojson
from web.api.deps import DistrictParam, registry
from web.districts import DistrictRegistry

router = APIRouter(prefix="/api/v1", tags=["boundaries"])

# URL layer name -> layer of geo.boundaries (None: the townships themselves).
LAYERS = {"townships": None, "zones": "zone", "clusters": "cluster"}


@router.get("/boundaries/{layer}", summary="Townships, zones or clusters as GeoJSON (WGS84)")
def boundaries(
    layer: str,
    reg: Annotated[DistrictRegistry, Depends(registry)],
    district: DistrictParam = None,
) -> dict[str, Any]:
    if layer not in LAYERS:
        raise HTTPException(404, detail={
            "field": "layer",
            "message": f"unknown layer {layer!r}; expected one of {', '.join(LAYERS)}",
            "allowed": list(LAYERS),
        })
    d = reg.district(district)
    which = LAYERS[layer]
    doc = townships_geojson(d) if which is None else areas_geojson(d, which)
    return {**doc, "district": d.code, "layer": layer}
