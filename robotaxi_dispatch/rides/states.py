"""The ride and vehicle state machines: which moves are legal from which status."""
from backend.exceptions import IllegalTransition
from robotaxi_dispatch.rides.models import RideStatus as R
from robotaxi_dispatch.rides.models import VehicleStatus as V

RIDE_MOVES = {
    # A booked ride is released to dispatch, cancelled by its rider or when its card is declined.
    R.scheduled: {R.requested, R.cancelled},
    R.requested: {R.assigned, R.cancelled, R.no_vehicle},
    # Back to requested when the vehicle is withdrawn (fault, operator command) before pickup.
    R.assigned: {R.arriving, R.requested, R.cancelled},
    R.arriving: {R.in_progress, R.requested, R.cancelled},
    R.in_progress: {R.completed},
}

_ANY = set(V)
_OUT_OF_SERVICE_FROM = {V.available, V.rebalancing, V.dispatched, V.pulled_over, V.to_depot, V.to_charger}

# Vehicle events and operator commands: the statuses they may start from and where they lead
# (None keeps the status).
VEHICLE_MOVES = {
    "arrived_pickup": ({V.dispatched}, None),
    "picked_up": ({V.dispatched}, V.on_trip),
    "dropped_off": ({V.on_trip}, V.available),
    "fault": (_ANY - {V.fault}, V.fault),
    "fault_cleared": ({V.fault}, V.available),
    "charging_started": ({V.to_charger}, V.charging),
    "charged": ({V.charging}, V.available),
    "arrived_depot": ({V.to_depot}, V.pulled_over),
    "rebalanced": ({V.rebalancing}, V.available),
    "rebalance": ({V.available}, V.rebalancing),  # the dispatcher's, not an operator's
    "go_charge": (_OUT_OF_SERVICE_FROM, V.to_charger),
    "return_to_depot": (_OUT_OF_SERVICE_FROM | {V.charging}, V.to_depot),
    "pull_over": (_OUT_OF_SERVICE_FROM, V.pulled_over),
    "resume": ({V.pulled_over, V.to_depot, V.to_charger, V.charging}, V.available),
}
VEHICLE_EVENTS = ("arrived_pickup", "picked_up", "dropped_off", "fault", "fault_cleared",
                  "charging_started", "charged", "arrived_depot", "rebalanced")
COMMANDS = ("return_to_depot", "go_charge", "pull_over", "resume")


def check_ride_move(current: R, new: R) -> None:
    """Refuse a ride status change the state machine does not allow."""
    if new not in RIDE_MOVES.get(current, set()):
        raise IllegalTransition(f"move a ride to {new.value!r}", current.value)


def vehicle_move(action: str, current: V) -> V:
    """Return the vehicle status an event or command leads to, or refuse it."""
    allowed, target = VEHICLE_MOVES[action]
    if current not in allowed:
        raise IllegalTransition(action, current.value)
    return target or current
