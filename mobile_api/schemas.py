"""Response models shared by several views: GeoJSON."""
from typing import Any, Literal

from pydantic import BaseModel, Field


class Geometry(BaseModel):
    """A GeoJSON geometry in WGS84 (lon, lat order, as GeoJSON has it)."""

    type: str = Field(description="Point, LineString, Polygon, MultiPolygon, ...")
    coordinates: list[Any]


class Feature(BaseModel):
    """A GeoJSON feature."""

    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: Geometry
    properties: dict[str, Any]


class FeatureCollection(BaseModel):
    """A GeoJSON feature collection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature]
