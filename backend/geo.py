"""Geo helpers that read the same on PostGIS and SpatiaLite: points, boxes, distances."""
import math

from geoalchemy2 import Geography, WKTElement
from geoalchemy2.shape import to_shape
from shapely.geometry import Point as ShapelyPoint
from sqlalchemy import ColumnElement, Float, Integer, bindparam, cast, func, literal_column, select, text
from sqlmodel import Field, SQLModel


class Point(SQLModel):
    """A WGS84 point as the API shows it."""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0


def point_ewkt(lat: float, lon: float) -> str:
    """Return a WGS84 point as EWKT, the form GeoAlchemy2 binds on both databases."""
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def lat_lon(geometry) -> tuple[float, float]:
    """Return (lat, lon) of a point read from the database or still in its EWKT form."""
    if isinstance(geometry, str):
        geometry = WKTElement(geometry, extended=True)
    point = to_shape(geometry)
    assert isinstance(point, ShapelyPoint)  # the columns hold points only
    return point.y, point.x


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lon: float, radius_m: float) -> tuple[float, float, float, float]:
    """Return (min_lon, min_lat, max_lon, max_lat) enclosing a circle, with a small margin."""
    dlat = radius_m * 1.01 / METRES_PER_DEGREE_LAT
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    return lon - dlon, lat - dlat, lon + dlon, lat + dlat


BOX = ("min_lon", "min_lat", "max_lon", "max_lat")


def bound_box() -> tuple:
    """Return a box of bound parameters, for a statement built once; `box_values` gives their values."""
    return tuple(bindparam(name, type_=Float) for name in BOX)


def box_values(lat: float, lon: float, radius_m: float) -> dict[str, float]:
    """Return the values of `bound_box`'s parameters for the box around a circle."""
    return dict(zip(BOX, bounding_box(lat, lon, radius_m)))


def within_box(table, column, box, dialect: str):
    """Return a filter that selects rows in the box through the spatial index."""
    min_lon, min_lat, max_lon, max_lat = box
    if dialect == "postgresql":
        return column.intersects(func.ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326))
    # SpatiaLite's R*Tree is only used when asked for explicitly through its SpatialIndex table.
    index_hits = select(literal_column("ROWID", Integer)).select_from(text("SpatialIndex")).where(
        literal_column("f_table_name") == table.name,
        literal_column("f_geometry_column") == column.name,
        literal_column("search_frame") == func.BuildMbr(min_lon, min_lat, max_lon, max_lat, 4326),
    )
    return table.c.id.in_(index_hits)


def distance_m(column, lat: float | ColumnElement[float], lon: float | ColumnElement[float], dialect: str):
    """Return an SQL expression of the ellipsoidal distance in metres to a point (values, or bound parameters)."""
    if dialect == "postgresql":
        point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
        return func.ST_Distance(cast(column, Geography), cast(point, Geography))
    return cast(func.ST_Distance(column, func.MakePoint(lon, lat, 4326), 1), Float)


def contains_point(column, lat: float, lon: float, dialect: str):
    """Return a filter that keeps areas containing the point."""
    if dialect == "postgresql":
        return func.ST_Contains(column, func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))
    return func.ST_Contains(column, func.MakePoint(lon, lat, 4326)) == 1
