"""The load run's summary of py-spy samples: own time by innermost frame, inclusive time of the platform's code."""
from load.hotspots import summary


def test_summary_ranks_own_and_inclusive_time(tmp_path):
    raw = tmp_path / "samples.txt"
    raw.write_text(
        'process 10:"gunicorn";handle (gunicorn/workers/gthread.py:1);quote (robotaxi_dispatch/rides/services.py:83);'
        "_populate_full (sqlalchemy/orm/loading.py:1370) 30\n"
        'process 11:"gunicorn";handle (gunicorn/workers/gthread.py:1);nearby (booking/bookings/availability.py:290);'
        "recv (redis/connection.py:1) 10\n"
        "not a sample line\n")
    text = summary(raw)
    assert text.startswith("40 samples")
    own, inclusive = text.split("| on the stack |")
    assert "| 75.0% | `_populate_full (sqlalchemy/orm/loading.py:1370)` |" in own
    assert "| 75.0% | `quote (robotaxi_dispatch/rides/services.py:83)` |" in inclusive
    assert "gunicorn" not in inclusive  # only the platform's own functions count there


def test_summary_of_no_samples(tmp_path):
    raw = tmp_path / "samples.txt"
    raw.write_text("")
    assert summary(raw) == "py-spy took no samples.\n"
