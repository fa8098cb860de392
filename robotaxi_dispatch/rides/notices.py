"""What riders are told: the car is at the pickup."""
from sqlmodel import Session

from backend.notifications.models import NotificationKind as Kind
from backend.notifications.services import notify
from robotaxi_dispatch.rides.models import Ride, Vehicle


def car_arrived(session: Session, ride: Ride, vehicle: Vehicle) -> None:
    """Tell the rider their robotaxi waits at the pickup, with its plate."""
    notify(session, user_id=ride.user_id, kind=Kind.ride_arriving,
           title=("车辆已到达上车点", "Your robotaxi is here"),
           body=(f"车牌 {vehicle.plate} 已到达上车点，请尽快上车。",
                 f"{vehicle.plate} is waiting at the pickup point."),
           data={"ride_id": ride.id, "vehicle_id": vehicle.id, "plate": vehicle.plate})
