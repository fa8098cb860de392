"""What riders are told: a car set off for their booked ride, the car is at the pickup, a booked ride fell through."""
from sqlmodel import Session

from backend.notifications.models import NotificationKind as Kind
from backend.notifications.services import notify
from robotaxi_dispatch.rides.fares import SHANGHAI
from robotaxi_dispatch.rides.models import Ride, Vehicle


def car_arrived(session: Session, ride: Ride, vehicle: Vehicle) -> None:
    """Tell the rider their robotaxi waits at the pickup, with its plate."""
    notify(session, user_id=ride.user_id, kind=Kind.ride_arriving,
           title=("车辆已到达上车点", "Your robotaxi is here"),
           body=(f"车牌 {vehicle.plate} 已到达上车点，请尽快上车。",
                 f"{vehicle.plate} is waiting at the pickup point."),
           data={"ride_id": ride.id, "vehicle_id": vehicle.id, "plate": vehicle.plate})


def car_on_its_way(session: Session, ride: Ride, vehicle: Vehicle) -> None:
    """Tell the rider of a booked ride that its robotaxi set off, with its plate and pickup estimate."""
    minutes = max(1, round((ride.pickup_eta_s or 0) / 60))
    notify(session, user_id=ride.user_id, kind=Kind.ride_on_its_way,
           title=("车辆正在赶来", "Your robotaxi is on its way"),
           body=(f"车牌 {vehicle.plate} 已出发，约 {minutes} 分钟后到达上车点。",
                 f"{vehicle.plate} is on its way and reaches the pickup in about {minutes} min."),
           data={"ride_id": ride.id, "vehicle_id": vehicle.id, "plate": vehicle.plate},
           dedupe_key=f"ride-{ride.id}-on-its-way")


def booked_ride_cancelled(session: Session, ride: Ride) -> None:
    """Tell the rider their booked ride was cancelled because the fare could not be authorised."""
    assert ride.pickup_at is not None, "only booked rides are told this"
    at = ride.pickup_at.astimezone(SHANGHAI)
    notify(session, user_id=ride.user_id, kind=Kind.ride_cancelled,
           title=("预约行程已取消", "Booked ride cancelled"),
           body=(f"{at:%m月%d日 %H:%M} 的预约行程因银行卡未能预授权已取消，请更换付款方式后重新预约。",
                 f"Your ride booked for {at:%d %b %H:%M} was cancelled: the card could not be authorised. "
                 "Update your payment method and book again."),
           data={"ride_id": ride.id}, dedupe_key=f"ride-{ride.id}-cancelled")
