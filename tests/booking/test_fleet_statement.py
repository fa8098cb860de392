"""A fleet's statement: the charging slots it settled on account in a month, and nothing else."""
from datetime import timedelta

from booking.bookings import rules, services
from booking.bookings.models import BookingCreate
from tests.booking.conftest import booking_body, next_slot, pay
from tests.factories import bearer, make_org, make_user


def charge_on_account(session, world, user, *, energy_kwh: float, days: int):
    start, end = next_slot("charger", after=timedelta(days=days))
    held, *_ = services.hold_slot(session, user_id=user.id, on_account=True,
                              data=BookingCreate(resource_id=world.resources["charger"].id, start=start, end=end))
    services.check_in(session, booking_id=held.id, user_id=user.id, now=start)
    return services.complete_booking(session, None, booking_id=held.id, user_id=user.id, energy_kwh=energy_kwh,
                                     hydrogen_kg=None, unplugged_at=end, now=end)


def test_statement_lists_what_the_fleet_owes_for_the_month(app, client, session, world):
    fleet = make_org(session, kind="operator")
    operator = make_user(session, roles=("operator",), organisation=fleet)
    settled = [charge_on_account(session, world, operator, energy_kwh=kwh, days=1 + i)
               for i, kwh in enumerate((30.0, 12.5))]
    start, end = next_slot("charger", after=timedelta(days=5))  # a citizen's paid charge is not the fleet's
    citizen = client.post("/api/v1/bookings", json=booking_body(world.resources["charger"], start, end),
                          headers=world.headers).json
    pay(client, citizen, world.headers)

    months = {rules.city_time(b.end_at).strftime("%Y-%m") for b in settled}
    headers = bearer(app, session, operator)
    lines, total = [], 0
    for month in months:
        answer = client.get(f"/api/v1/fleet/statement?month={month}", headers=headers)
        assert answer.status_code == 200, answer.json
        lines += answer.json["lines"]
        total += answer.json["total"]["amount"]
    assert sorted(line["booking_id"] for line in lines) == sorted(b.id for b in settled)
    assert total == sum(b.final_price_fen for b in settled) > 0
    assert sorted(line["energy_kwh"] for line in lines) == [12.5, 30.0]

    other = bearer(app, session, make_user(session, roles=("operator",), organisation=make_org(session)))
    mine = client.get(f"/api/v1/fleet/statement?month={month}&organisation_id={fleet.id}", headers=other)
    assert mine.status_code == 403
    assert client.get("/api/v1/fleet/statement?month=2026-13", headers=headers).status_code == 422
    assert client.get(f"/api/v1/fleet/statement?month={month}", headers=world.headers).status_code == 403
