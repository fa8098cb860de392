"""Robotaxi service areas: polygons in the database, served as GeoJSON."""
from typing import Any

from geoalchemy2 import Geometry
from geoalchemy2.shape import to_shape
from shapely.geometry import mapping
from sqlmodel import Field, Session, SQLModel, select

from backend.geo import contains_point
from backend.i18n import pick


class ServiceArea(SQLModel, table=True):
    __tablename__ = "service_areas"
    id: int = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    # Dispatch shards own regions; every stream key and message carries this code.
    region: str = Field(max_length=32, index=True)
    area: Any = Field(sa_type=Geometry("POLYGON", srid=4326, spatial_index=True))


def polygon_ewkt(ring: list[tuple[float, float]]) -> str:
    """Return EWKT of a closed WGS84 polygon given as (lon, lat) pairs."""
    closed = ring if ring[0] == ring[-1] else [*ring, ring[0]]
    return "SRID=4326;POLYGON((" + ", ".join(f"{lon!r} {lat!r}" for lon, lat in closed) + "))"


def service_areas_geojson(session: Session, *, language: str) -> dict:
    """Return every service area as a GeoJSON FeatureCollection, names in the language."""
    areas = session.exec(select(ServiceArea).order_by(ServiceArea.id)).all()
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": a.slug,
                "geometry": mapping(to_shape(a.area)),
                "properties": {"id": a.id, "slug": a.slug, "name": pick(a.name_zh, a.name_en, language),
                               "name_zh": a.name_zh, "name_en": a.name_en, "region": a.region},
            }
            for a in areas
        ],
    }


def area_at(session: Session, *, lat: float, lon: float) -> ServiceArea | None:
    """Return the service area containing the point, if any."""
    dialect = session.get_bind().dialect.name
    query = select(ServiceArea).where(contains_point(ServiceArea.area, lat, lon, dialect))
    return session.exec(query).first()
