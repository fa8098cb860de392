"""Who is out on the evening: citizens already signed in on their phones, and the robotaxi fleet.

Written straight into the load database before the server starts: the evening is not a sign-up
flood (argon2 is slow on purpose), and the dispatcher loads the fleet when it starts.
"""
import uuid

from sqlmodel import Session, select

from backend import create_app, keys
from backend.accounts.models import Organisation, User, UserRole
from backend.accounts.services import hash_password
from backend.accounts.tokens import Principal, issue_access_token
from robotaxi_dispatch.rides.models import Vehicle

FLEET = "liangjiang-robotaxi"
TOKEN_TTL_S = 4 * 3600


def provision(env: dict, *, citizens: int, vehicles: int) -> dict:
    """Create signed-in citizens and the fleet's vehicles; return their access tokens and vehicle ids."""
    app = create_app({key: env[key] for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
    engine = app.extensions["db_engine"]
    try:
        with Session(engine, expire_on_commit=False) as session:
            password_hash = hash_password(uuid.uuid4().hex)  # nobody logs in with it: tokens are issued here
            users = [User(email=f"evening-{n}@load.cq", password_hash=password_hash, name=f"市民 {n}")
                     for n in range(citizens)]
            session.add_all(users)
            session.flush()
            session.add_all([UserRole(user_id=user.id, role="citizen") for user in users])
            fleet = session.exec(select(Organisation.id).where(Organisation.slug == FLEET)).one()
            cars = [Vehicle(organisation_id=fleet, plate=f"渝A{n:05d}L", model="apollo-rt6", seats=4,
                            region="liangjiang") for n in range(vehicles)]
            session.add_all(cars)
            session.commit()
            signing = keys.ring(app.config, keys.ACCESS_TOKEN)
            tokens = [issue_access_token(principal=Principal(user.id, frozenset({"citizen"}), frozenset()),
                                         keys=signing, ttl_s=TOKEN_TTL_S) for user in users]
            return {"citizen_tokens": tokens, "vehicle_ids": [car.id for car in cars]}
    finally:
        engine.dispose()
