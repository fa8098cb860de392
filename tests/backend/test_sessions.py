"""Sessions keep their objects across commits; a row locked to decide on it is read as it is now."""
from sqlmodel import Session, select

from backend.accounts.models import User
from backend.db import write_transaction
from tests.factories import make_user


def test_a_locked_read_sees_what_another_transaction_committed(app, session):
    user = make_user(session)
    before = user.name
    engine = app.extensions["db_engine"]
    with Session(engine, expire_on_commit=False) as request:
        seen = request.get(User, user.id)
        request.commit()
        with Session(engine) as other, write_transaction(other):
            other.get(User, user.id).name = "After"
        assert request.exec(select(User).where(User.id == user.id)).one().name == before, \
            "an unlocked read keeps what the session saw"
        with write_transaction(request):
            locked = request.exec(select(User).where(User.id == user.id).with_for_update()).one()
            assert locked is seen and locked.name == "After"
