"""Sites near a point: ordering against a haversine oracle, filters, management, bad input."""
import random

import pytest

from backend.geo import haversine_m
from tests.factories import bearer, make_org, make_site, make_user

CENTRE = (29.5630, 106.5516)


@pytest.fixture
def scattered_sites(session):
    """Sixty sites scattered within ~12 km of the centre, with a fixed seed."""
    org = make_org(session)
    rng = random.Random(7)
    points = [(CENTRE[0] + rng.uniform(-0.1, 0.1), CENTRE[1] + rng.uniform(-0.12, 0.12))
              for _ in range(60)]
    sites = [make_site(session, organisation=org, lat=lat, lon=lon,
                       kind=rng.choice(["charging_station", "dealer"])) for lat, lon in points]
    return sites, points


def test_nearest_first_matches_haversine_oracle(client, scattered_sites):
    sites, points = scattered_sites
    radius = 6000
    answer = client.get(f"/api/v1/sites?lat={CENTRE[0]}&lon={CENTRE[1]}&radius_m={radius}&limit=100")
    assert answer.status_code == 200
    items = answer.json["items"]
    oracle = sorted((haversine_m(*CENTRE, lat, lon), site.id) for site, (lat, lon) in
                    zip(sites, points))
    # The database measures on the ellipsoid, the oracle on a sphere: allow 0.5% either way.
    expected = {sid for d, sid in oracle if d <= radius * 0.995}
    borderline = {sid for d, sid in oracle if radius * 0.995 < d <= radius * 1.005}
    got = [item["id"] for item in items]
    assert expected <= set(got) <= expected | borderline
    distances = [item["distance_m"] for item in items]
    assert distances == sorted(distances)
    oracle_by_id = {sid: d for d, sid in oracle}
    for item in items:
        assert item["distance_m"] == pytest.approx(oracle_by_id[item["id"]], rel=0.005)


def test_kind_filter_and_cursor_pages(client, scattered_sites):
    url = f"/api/v1/sites?lat={CENTRE[0]}&lon={CENTRE[1]}&radius_m=20000&kind=dealer&limit=5"
    seen, cursor = [], None
    while True:
        page = client.get(url + (f"&cursor={cursor}" if cursor else "")).json
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert all(item["kind"] == "dealer" for item in seen)
    assert len({item["id"] for item in seen}) == len(seen)
    assert len(seen) == sum(1 for s in scattered_sites[0] if s.kind == "dealer")


@pytest.mark.parametrize("query,field", [
    ("lat=91&lon=106.5", "lat"), ("lat=29.5&lon=-181", "lon"), ("lon=106.5", "lat"),
    ("lat=29.5&lon=106.5&radius_m=-5", "radius_m"), ("lat=29.5&lon=106.5&radius_m=1e9", "radius_m"),
    ("lat=abc&lon=106.5", "lat"), ("lat=29.5&lon=106.5&kind=spaceport", "kind"),
    ("lat=29.5&lon=106.5&cursor=%27;drop", "cursor"),
])
def test_bad_query_is_422_naming_the_field(client, query, field):
    answer = client.get(f"/api/v1/sites?{query}")
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"
    assert field in {e["field"] for e in answer.json["errors"]}


def test_site_detail_language_and_unknown(client, session):
    site = make_site(session, organisation=make_org(session),
                     resources=[{"kind": "charger", "name_zh": "一号桩", "name_en": "Post 1",
                                 "attributes": {"power_kw": 120, "voltage_class": 800}}])
    en = client.get(f"/api/v1/sites/{site.id}", headers={"Accept-Language": "en"}).json
    zh = client.get(f"/api/v1/sites/{site.id}", headers={"Accept-Language": "zh-CN"}).json
    assert en["name"] == site.name_en and zh["name"] == site.name_zh
    assert en["resources"][0]["name"] == "Post 1"
    assert en["resources"][0]["attributes"]["voltage_class"] == 800
    assert client.get("/api/v1/sites/999999").status_code == 404


def test_site_operator_manages_only_own_sites(app, client, session):
    mine, theirs = make_org(session), make_org(session)
    operator = make_user(session, roles=("site_operator",), organisation=mine)
    headers = bearer(app, session, operator)
    body = {"kind": "swap_station", "name_zh": "换电站", "name_en": "Swap station",
            "address_zh": "解放碑", "address_en": "Jiefangbei", "district": "yuzhong",
            "location": {"lat": 29.5576, "lon": 106.5772},
            "opening_hours": {"mon": [["07:00", "22:00"]]}}
    created = client.post("/api/v1/manage/sites", json=body, headers=headers)
    assert created.status_code == 201
    site_id = created.json["id"]
    edited = client.patch(f"/api/v1/manage/sites/{site_id}", json={"name_en": "Swap 2"},
                          headers=headers)
    assert edited.json["name_en"] == "Swap 2"
    added = client.post(f"/api/v1/manage/sites/{site_id}/resources", headers=headers,
                        json={"kind": "swap_lane", "name_zh": "一号道", "name_en": "Lane 1",
                              "attributes": {"battery_models": ["NIO-75"]}})
    assert added.status_code == 201
    other = make_site(session, organisation=theirs)
    denied = client.patch(f"/api/v1/manage/sites/{other.id}", json={"name_en": "x"},
                          headers=headers)
    assert denied.status_code == 403
    citizen = bearer(app, session, make_user(session))
    assert client.post("/api/v1/manage/sites", json=body, headers=citizen).status_code == 403


@pytest.mark.parametrize("patch", [{"district": "atlantis"}, {"opening_hours": {"mon": [["25:00", "26:00"]]}},
                                   {"opening_hours": {"someday": [["07:00", "08:00"]]}},
                                   {"location": {"lat": 100, "lon": 0}}])
def test_bad_site_body_is_422(app, client, session, patch):
    org = make_org(session)
    headers = bearer(app, session, make_user(session, roles=("site_operator",), organisation=org))
    body = {"kind": "dealer", "name_zh": "店", "name_en": "Shop", "address_zh": "地址",
            "address_en": "Addr", "district": "yuzhong", "location": {"lat": 29.5, "lon": 106.5},
            **patch}
    answer = client.post("/api/v1/manage/sites", json=body, headers=headers)
    assert answer.status_code == 422, answer.json


def test_unpublished_site_hidden_from_public(client, session):
    site = make_site(session, organisation=make_org(session), published=False)
    assert client.get(f"/api/v1/sites/{site.id}").status_code == 404
    listed = client.get("/api/v1/sites?lat=29.5576&lon=106.5772&radius_m=1000").json["items"]
    assert site.id not in {item["id"] for item in listed}
