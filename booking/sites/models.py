"""Sites, their bookable resources and the test-drive car catalogue."""
import re
from datetime import datetime
from enum import Enum
from typing import Any

from geoalchemy2 import Geometry
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from backend.dbtypes import JSONDoc, UTCDateTime, enum_column, utcnow
from backend.geo import Point

DISTRICTS = ("yuzhong", "jiangbei", "nanan", "shapingba", "jiulongpo", "dadukou", "beibei",
             "yubei", "banan", "liangjiang", "yongchuan")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SiteKind(str, Enum):
    """What a site is."""

    charging_station = "charging_station"
    swap_station = "swap_station"
    hydrogen_station = "hydrogen_station"
    dealer = "dealer"
    proving_ground = "proving_ground"
    venue = "venue"
    parking_garage = "parking_garage"


class ResourceKind(str, Enum):
    """What a bookable resource is."""

    charger = "charger"
    swap_lane = "swap_lane"
    h2_dispenser = "h2_dispenser"
    test_drive_car = "test_drive_car"
    track_session = "track_session"
    parking_bay = "parking_bay"


OpeningHours = dict[str, list[tuple[str, str]]]
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


def check_opening_hours(value: OpeningHours) -> OpeningHours:
    """Accept {weekday: [[open, close], ...]} with HH:MM times, open before close."""
    for day, spans in value.items():
        if day not in WEEKDAYS:
            raise ValueError(f"unknown weekday {day!r}; use {', '.join(WEEKDAYS)}")
        for start, end in spans:
            if not (re.match(_HHMM, start) and re.match(_HHMM, end)) or start >= end:
                raise ValueError(f"{day}: {start}-{end} is not a valid HH:MM span")
    return value


class SiteBase(SQLModel):
    kind: SiteKind = Field(sa_type=enum_column(SiteKind), index=True)  # nearby search filters by kind
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    address_zh: str = Field(min_length=1, max_length=300)
    address_en: str = Field(min_length=1, max_length=300)
    district: str = Field(max_length=32)
    opening_hours: OpeningHours = Field(default_factory=dict, sa_type=JSONDoc)


class Site(SiteBase, table=True):
    __tablename__ = "sites"
    id: int = Field(default=None, primary_key=True)
    location: Any = Field(sa_type=Geometry("POINT", srid=4326, spatial_index=True))
    organisation_id: int = Field(foreign_key="organisations.id", index=True)
    published: bool = Field(default=True)
    # The most power the site's grid connection may draw (kW); None: no cap. Fleet charging yields to it.
    power_cap_kw: float | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SiteCreate(SiteBase):
    location: Point
    published: bool = True

    @field_validator("district")
    @classmethod
    def _known_district(cls, value: str) -> str:
        if value not in DISTRICTS:
            raise ValueError(f"unknown district; use one of {', '.join(DISTRICTS)}")
        return value

    @field_validator("opening_hours")
    @classmethod
    def _valid_hours(cls, value: OpeningHours) -> OpeningHours:
        return check_opening_hours(value)


class SiteUpdate(SQLModel):
    """Fields of a site to change."""

    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, min_length=1, max_length=200)
    address_zh: str | None = Field(default=None, min_length=1, max_length=300)
    address_en: str | None = Field(default=None, min_length=1, max_length=300)
    opening_hours: OpeningHours | None = None
    location: Point | None = None
    published: bool | None = None

    @field_validator("opening_hours")
    @classmethod
    def _valid_hours(cls, value: OpeningHours | None) -> OpeningHours | None:
        return value if value is None else check_opening_hours(value)


class ResourceBase(SQLModel):
    kind: ResourceKind = Field(sa_type=enum_column(ResourceKind))
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    # Kind-specific facts: power_kw, connector, voltage_class, battery_models, pressure_mpa,
    # car_model, ... One schema per kind in booking/sites/attributes.py.
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    capacity: int = Field(default=1, ge=1, le=10_000)


class Resource(ResourceBase, table=True):
    __tablename__ = "resources"
    id: int = Field(default=None, primary_key=True)
    site_id: int = Field(foreign_key="sites.id", index=True, ondelete="CASCADE")
    active: bool = Field(default=True)


class ResourcePublic(ResourceBase):
    """A bookable resource with its kind-specific attributes."""

    id: int
    name: str
    active: bool
    misconfigured: bool = Field(default=False, description="its attributes break the kind's schema: "
                                "not bookable until its operator fixes them")


class SitePublic(SQLModel):
    """A site named in the caller's language, with its distance when searched near a point."""

    id: int
    kind: SiteKind
    name: str
    address: str
    name_zh: str
    name_en: str
    district: str
    location: Point
    opening_hours: OpeningHours
    organisation_id: int
    published: bool
    distance_m: float | None = None


class SiteDetail(SitePublic):
    """A site with its bookable resources."""

    resources: list[ResourcePublic]


class SitePage(SQLModel):
    """Sites nearest first, with the cursor of the next page."""

    items: list[SitePublic]
    next_cursor: str | None = None


class CarModel(SQLModel, table=True):
    """A car model that can be test-driven."""

    __tablename__ = "car_models"
    code: str = Field(primary_key=True, max_length=64)
    name_zh: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    maker: str = Field(max_length=100)
    powertrain: str = Field(max_length=8)
    range_km: int
    autonomy_level: str = Field(max_length=8)


class ResourceCreate(ResourceBase):
    """A bookable resource to add to a site."""


class ResourceUpdate(SQLModel):
    """Fields of a resource to change."""

    name_zh: str | None = Field(default=None, min_length=1, max_length=200)
    name_en: str | None = Field(default=None, min_length=1, max_length=200)
    attributes: dict[str, Any] | None = None
    capacity: int | None = Field(default=None, ge=1, le=10_000)
    active: bool | None = None
