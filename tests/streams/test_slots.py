"""User stream slots: a renewal racing a stream's end never brings the ended stream's slot back."""
import fakeredis

from backend import realtime


def test_a_slot_released_while_the_hub_renews_stays_released():
    r = fakeredis.FakeRedis()
    hub = realtime.Hub(r, max_streams=10)
    slot = realtime.claim_slot(r, user_id=7, limit=5)
    subscription = hub.join("ride:1", "ride", (7, slot))
    real_pipeline = r.pipeline

    def stream_ends_before_the_write(*args, **kwargs):
        """The stream ends after the hub read its slots and before its write reaches Redis."""
        pipe = real_pipeline(*args, **kwargs)
        write = pipe.execute

        def execute():
            if subscription in hub._watchers.get("ride:1", ()):
                subscription.close()
                realtime.release_slot(r, user_id=7, slot=slot)
            return write()
        pipe.execute = execute
        return pipe

    r.pipeline = stream_ends_before_the_write
    hub._renew_slots()
    assert r.zcard(realtime.slot_key(7)) == 0


def test_renewal_keeps_an_open_streams_slot():
    r = fakeredis.FakeRedis()
    hub = realtime.Hub(r, max_streams=10)
    slot = realtime.claim_slot(r, user_id=7, limit=5)
    hub.join("ride:1", "ride", (7, slot))
    r.zadd(realtime.slot_key(7), {slot: 1})  # about to lapse
    hub._renew_slots()
    assert r.zscore(realtime.slot_key(7), slot) > 1
