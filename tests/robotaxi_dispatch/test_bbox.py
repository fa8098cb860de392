"""The live fleet's bbox is south,west,north,east in degrees; anything else is 422 `invalid_bbox`."""
import pytest

from tests.factories import bearer, make_org, make_user


@pytest.mark.parametrize("bbox", [
    "106.4,29.5,106.7,29.8",   # longitude first: a latitude of 106
    "29.8,106.4,29.5,106.7",   # south above north
    "29.5,106.7,29.8,106.4",   # west east of east
    "-91,0,0,1", "0,-181,1,0", "0,0,1,181",
])
def test_a_box_out_of_range_or_order_is_422(app, client, session, bbox):
    operator = bearer(app, session, make_user(session, roles=("operator",), organisation=make_org(session)))
    answer = client.get("/api/v1/ops/fleet", query_string={"bbox": bbox}, headers=operator)
    assert answer.status_code == 422 and answer.json["code"] == "invalid_bbox", answer.json


def test_a_box_in_order_is_answered(app, client, session):
    operator = bearer(app, session, make_user(session, roles=("operator",), organisation=make_org(session)))
    answer = client.get("/api/v1/ops/fleet", query_string={"bbox": "29.5,106.4,29.8,106.7"}, headers=operator)
    assert answer.status_code == 200 and answer.json["items"] == []
