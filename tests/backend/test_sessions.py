"""Sessions keep their objects across commits; a row locked to decide on it is read as it is now;
reads on their own stay within the session's transaction."""
from sqlmodel import Session, select

from backend.accounts.models import User
from backend.db import reads_on_their_own, write_transaction
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


def test_reads_on_their_own_last_until_the_session_commits(app, session):
    user = make_user(session)
    with Session(app.extensions["db_engine"]) as request:
        assert reads_on_their_own(request).get(User, user.id) is not None
        assert request.connection().get_execution_options()["isolation_level"] == "AUTOCOMMIT"
        request.commit()
        with write_transaction(request):  # the next transaction is an ordinary one
            assert "isolation_level" not in request.connection().get_execution_options()
            request.get(User, user.id).name = "Written"
        assert request.get(User, user.id).name == "Written"


def test_reads_on_their_own_leave_an_open_transaction_alone(app, session):
    with Session(app.extensions["db_engine"]) as request:
        request.exec(select(User)).all()
        assert "isolation_level" not in reads_on_their_own(request).connection().get_execution_options()
