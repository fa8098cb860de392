"""What a resource of each kind says about itself: one strict schema per kind.

Prices and availability filters read these attributes, so a value of the wrong type (a
`power_kw` of "fast") or a negative fee would break every citizen's search or quote a negative
price. Writes are checked against the kind's schema; rows stored before the schemas existed are
checked again when read, and a resource whose attributes fail is not offered to anyone.
"""
from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from backend.exceptions import Invalid
from booking.sites.models import ResourceKind

FEN = Field(default=0, ge=0, le=10_000_000)
# A 400 V class charger draws at most about 600 A: beyond 250 kW it is an 800 V one.
MAX_KW_AT_400_V = 250


class Connector(str, Enum):
    gbt_dc = "GB/T DC"
    gbt_ac = "GB/T AC"
    chaoji = "ChaoJi"
    ccs2 = "CCS2"
    type2 = "Type 2"


class KindAttributes(BaseModel):
    """Base of the per-kind schemas: unknown keys and loose types are refused."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ChargerAttributes(KindAttributes):
    power_kw: float = Field(gt=0, le=1200, allow_inf_nan=False)
    connector: Connector = Field(default=Connector.gbt_dc, strict=False)
    voltage_class: Literal[400, 800]
    service_fee_fen_per_kwh: int = Field(default=60, ge=0, le=1000)

    @model_validator(mode="after")
    def _power_fits_voltage(self):
        if self.voltage_class == 400 and self.power_kw > MAX_KW_AT_400_V:
            raise ValueError(f"a 400 V charger delivers at most {MAX_KW_AT_400_V} kW")
        return self


class SwapLaneAttributes(KindAttributes):
    battery_models: list[str] = Field(min_length=1, max_length=20)
    price_fen: int = FEN

    @model_validator(mode="after")
    def _model_names(self):
        if any(not 1 <= len(name) <= 64 for name in self.battery_models):
            raise ValueError("battery model names are 1 to 64 characters")
        return self


class HydrogenAttributes(KindAttributes):
    pressure_mpa: Literal[35, 70]
    price_fen_per_kg: int = Field(default=3500, ge=0, le=100_000)


class TestDriveAttributes(KindAttributes):
    car_model: str = Field(min_length=1, max_length=64)
    price_fen: int = FEN


class TrackSessionAttributes(KindAttributes):
    price_fen: int = FEN


class ParkingAttributes(KindAttributes):
    price_fen_per_hour: int = Field(default=0, ge=0, le=100_000)
    automated_valet: bool = True


SCHEMAS: dict[ResourceKind, type[KindAttributes]] = {
    ResourceKind.charger: ChargerAttributes,
    ResourceKind.swap_lane: SwapLaneAttributes,
    ResourceKind.h2_dispenser: HydrogenAttributes,
    ResourceKind.test_drive_car: TestDriveAttributes,
    ResourceKind.track_session: TrackSessionAttributes,
    ResourceKind.parking_bay: ParkingAttributes,
}
# Sessions on a track or proving ground are shared: one place would be a private booking.
MIN_CAPACITY = {ResourceKind.track_session: 2}


def checked(kind: str, attributes: dict, capacity: int) -> dict:
    """Return the attributes in their kind's canonical form, or refuse them with field errors."""
    kind = ResourceKind(kind)
    errors = []
    try:
        attributes = SCHEMAS[kind].model_validate(attributes).model_dump(mode="json")
    except ValidationError as exc:
        errors = [{"field": ".".join(["attributes", *map(str, e["loc"])]), "message": e["msg"],
                   "type": e["type"]} for e in exc.errors(include_url=False, include_input=False)]
    if capacity < MIN_CAPACITY.get(kind, 1):
        errors.append({"field": "capacity", "message": f"a {kind.value} takes at least "
                       f"{MIN_CAPACITY[kind]} places", "type": "greater_than"})
    if errors:
        raise Invalid("validation_error", "Invalid {kind} resource.", errors, params={"kind": kind.value})
    return attributes


def usable(kind: str, attributes: dict) -> dict | None:
    """Return stored attributes in canonical form, or None when they break the kind's schema."""
    try:
        return SCHEMAS[ResourceKind(kind)].model_validate(attributes).model_dump(mode="json")
    except (ValidationError, ValueError):
        return None
