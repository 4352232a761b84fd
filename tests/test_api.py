"""The agency REST API over HTTP (aiohttp's test client against the real routes), on SQLite and
PostgreSQL, with real tokens: every endpoint's answers and errors, and the security cases (no
token, revoked token, another agency's token, wrong scope, SQL- and HTML-looking strings kept as
data, a body over the cap, malformed JSON), each with nothing stored when refused."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import build_application
from broadcasts import lifecycle as alert_lifecycle
from complaints import lifecycle
from complaints.lifecycle import Action, Actor, Refused
from kernel.settings import Settings
from storage.models import Alert, BroadcastSchedule, Delivery, ReportEvent, ReportPhoto, Resident
from storage.types import utcnow
from tests.fixtures.api import REPORTER, REPORTER_NAME, World, api_settings, make_world
from web import server

MAX_BODY = 4096
SQL = "'; DROP TABLE alerts; -- \" OR 1=1"
HTML = "<script>alert('x')</script> <b>bold</b> &amp; 😀"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(db) -> World:
    return await make_world(db)


def api_app(db, settings: Settings) -> web.Application:
    """The server `loa run` serves (web/server.py), with the API among its features."""
    return server.build(build_application(settings, db), settings, db)


@pytest.fixture
async def client(db, world, tmp_path):
    settings = api_settings(db, tmp_path, LOA_MAX_BODY_BYTES=MAX_BODY)
    async with TestClient(TestServer(api_app(db, settings))) as test_client:
        yield test_client


async def counts(db) -> dict[str, int]:
    async with db.read() as session:
        return {model.__tablename__: (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (Alert, Delivery, BroadcastSchedule, ReportEvent)}


def alert_body(**fields) -> dict:
    return {"topic": "weather", "areas": ["01"], "severity": "severe", "texts": {"vi": "Mưa lớn"}, **fields}


async def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# ---------------------------------------------------------------- the document and the reference lists


async def test_the_openapi_document_is_public(client):
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"] == "3.1.0" and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"/api/v1/alerts", "/api/v1/alerts/{alert_id}", "/api/v1/reports/{code}/actions"} <= set(doc["paths"])


async def test_areas_topics_and_categories_for_any_valid_token(client, world):
    for name in ("a1", "a1_reports", "open311"):
        response = await client.get("/api/v1/areas", headers=auth(world.tokens[name]))
        assert response.status == 200
        assert [a["code"] for a in (await response.json())["items"]] == ["01", "79"]
    wards = await (await client.get("/api/v1/areas?parent=01", headers=auth(world.tokens["a1"]))).json()
    assert [(a["code"], a["name_vi"], a["parent_code"]) for a in wards["items"]] == [
        ("00004", "Ba Đình", "01"), ("00008", "Long Biên", "01")]
    assert wards["items"][0]["bbox"] == [105.8, 21.0, 105.9, 21.1] and wards["items"][1]["bbox"] is None
    found = await (await client.get("/api/v1/areas", params={"q": "LONG BIEN"},
                                    headers=auth(world.tokens["a1"]))).json()
    assert [a["code"] for a in found["items"]] == ["00008"]
    within = await (await client.get("/api/v1/areas", params={"q": "ho", "parent": "01"},
                                     headers=auth(world.tokens["a1"]))).json()
    assert within["items"] == []
    await error_of(await client.get("/api/v1/areas?parent=99", headers=auth(world.tokens["a1"])), 422, "unknown_area")
    await error_of(await client.get("/api/v1/areas?limit=0&q=ba", headers=auth(world.tokens["a1"])), 422)

    topics = await (await client.get("/api/v1/topics", headers=auth(world.tokens["open311"]))).json()
    assert "weather" in [t["code"] for t in topics["items"]]
    categories = await (await client.get("/api/v1/categories", headers=auth(world.tokens["a2"]))).json()
    roads = next(c for c in categories["items"] if c["code"] == "roads")
    assert roads["resolve_days"] > 0 and roads["name_en"]


async def test_no_token_a_malformed_one_an_unknown_one_and_a_revoked_one_are_refused(client, world, db):
    before = await counts(db)
    for path in ("/api/v1/areas", "/api/v1/alerts", "/api/v1/reports", "/api/v1/reports/PA-AAAAA"):
        response = await client.get(path)
        await error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="loa"')
        for header in (f"Basic {world.tokens['a1']}", "Bearer", "Bearer loa_nope", f"Bearer {world.tokens['a1']}x",
                       f"Bearer {world.tokens['revoked']}"):
            response = await client.get(path, headers={"Authorization": header})
            await error_of(response, 401, "invalid_token")
            assert "Bearer" in response.headers["WWW-Authenticate"]
    response = await client.post("/api/v1/alerts", json=alert_body(), headers=auth(world.tokens["revoked"]))
    await error_of(response, 401, "invalid_token")
    response = await client.post("/api/v1/reports/PA-AAAAA/actions", json={"action": "start"},
                                 headers=auth(world.tokens["revoked"]))
    await error_of(response, 401, "invalid_token")
    assert await counts(db) == before


async def test_a_token_without_the_scope_is_refused(client, world, db):
    before = await counts(db)
    for token, path in (("a1_reports", "/api/v1/alerts"), ("open311", "/api/v1/alerts"),
                        ("a1_alerts", "/api/v1/reports"), ("open311", "/api/v1/reports/PA-AAAAA")):
        response = await client.get(path, headers=auth(world.tokens[token]))
        await error_of(response, 403, "insufficient_scope")
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    await error_of(await client.post("/api/v1/alerts", json=alert_body(), headers=auth(world.tokens["a1_reports"])),
                   403, "insufficient_scope")
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/actions", json={"action": "start"},
                                     headers=auth(world.tokens["a1_alerts"])), 403, "insufficient_scope")
    assert await counts(db) == before


# ---------------------------------------------------------------- alerts


async def test_an_alert_is_sent_to_the_followers_of_its_topic_in_its_areas(client, world, db):
    response = await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]), json=alert_body(
        areas=["01", "01"], urgency="immediate", texts={"vi": "  Mưa lớn  ", "en": "Heavy rain"},
        link="https://nchmf.gov.vn/x", identifier="urn:oid:2.49.0.1.704.2026.1",
        expires_at=(utcnow() + timedelta(hours=2)).isoformat()))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert response.headers["Location"] == f"/api/v1/alerts/{created['id']}"
    assert created["recipients"] == 3  # the three residents of Hà Nội's wards, not the one in 79
    assert created["deliveries"] == {"total": 3, "sent": 0, "failed": 0, "blocked": 0, "cancelled": 0,
                                     "expired": 0, "waiting": 0, "remaining": 3}
    assert (created["status"], created["kind"], created["source"], created["sender_name"]) == (
        "sending", "alert", "api", "a1 dispatch")
    assert created["texts"] == {"vi": "Mưa lớn", "en": "Heavy rain"} and created["areas"] == ["01"]
    assert created["identifier"] == "urn:oid:2.49.0.1.704.2026.1" and created["urgency"] == "immediate"
    assert created["replaced_by"] is None and created["schedule"] is None
    async with db.read() as session:
        alert = await session.get(Alert, created["id"])
        assert (alert.source, alert.sender_name, alert.identifier) == ("api", "a1 dispatch",
                                                                       "a1/urn:oid:2.49.0.1.704.2026.1")

    async with db.transaction() as session:  # the sender at work
        first = (await session.execute(select(Delivery).where(Delivery.alert_id == created["id"])
                                       .order_by(Delivery.id))).scalars().all()
        first[0].state, first[1].state = "sent", "blocked"
    got = await (await client.get(f"/api/v1/alerts/{created['id']}", headers=auth(world.tokens["a1"]))).json()
    assert {k: got["deliveries"][k] for k in ("sent", "blocked", "remaining", "total")} == {
        "sent": 1, "blocked": 1, "remaining": 1, "total": 3}

    second = await (await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]),
                                      json=alert_body(areas=["79"], severity="minor"))).json()
    assert second["recipients"] == 1 and second["identifier"] is None
    listing = await (await client.get("/api/v1/alerts?per_page=1", headers=auth(world.tokens["a1"]))).json()
    assert (listing["total"], listing["page"], listing["per_page"]) == (2, 1, 1)
    assert [a["id"] for a in listing["items"]] == [second["id"]] and "deliveries" not in listing["items"][0]
    page_2 = await (await client.get("/api/v1/alerts?per_page=1&page=2", headers=auth(world.tokens["a1"]))).json()
    assert [a["id"] for a in page_2["items"]] == [created["id"]]
    theirs = await (await client.get("/api/v1/alerts", headers=auth(world.tokens["a2"]))).json()
    assert theirs == {"items": [], "page": 1, "per_page": 20, "total": 0}
    await error_of(await client.get("/api/v1/alerts?per_page=101", headers=auth(world.tokens["a1"])), 422)
    await error_of(await client.get("/api/v1/alerts?page=x", headers=auth(world.tokens["a1"])), 422)


async def test_an_alert_nobody_follows_is_done_at_once(client, world):
    response = await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]),
                                 json=alert_body(topic="traffic", severity="extreme"))
    body = await response.json()
    assert (response.status, body["recipients"], body["status"], body["deliveries"]["total"]) == (201, 0, "done", 0)


@pytest.mark.parametrize("fields, field, code", [
    ({"topic": "volcanoes"}, "topic", "unknown_topic"),
    ({"areas": ["01", "99999"]}, "areas.1", "unknown_area"),
    ({"areas": []}, "areas", "validation_error"),
    ({"areas": [f"{n:05d}" for n in range(21)]}, "areas", "validation_error"),
    ({"severity": "apocalyptic"}, "severity", "validation_error"),
    ({"severity": None}, "severity", "validation_error"),
    ({"urgency": "now"}, "urgency", "validation_error"),
    ({"texts": {"vi": "   "}}, "texts.vi", "validation_error"),
    ({"texts": {"en": "Only English"}}, "texts.vi", "validation_error"),
    ({"texts": {"vi": "x" * 3501}}, "texts.vi", "validation_error"),
    ({"texts": {"vi": "ok", "fr": "non"}}, "texts.fr", "validation_error"),
    ({"texts": {"vi": "a\x00b"}}, "texts.vi", "validation_error"),
    ({"link": "javascript:alert(1)"}, "link", "validation_error"),
    ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at", "validation_error"),
    ({"expires_at": "tomorrow"}, "expires_at", "validation_error"),
    ({"expires_at": "2030-01-01T00:00:00"}, "expires_at", "validation_error"),  # no offset
    ({"send_at": "2020-01-01T00:00:00+07:00"}, "send_at", "validation_error"),
    ({"send_at": "2099-01-01T00:00:00+07:00"}, "send_at", "validation_error"),
    ({"identifier": "has space"}, "identifier", "validation_error"),
    ({"paid": True}, "paid", "validation_error"),
])
async def test_a_bad_alert_is_refused_naming_the_field_and_nothing_is_stored(client, world, db, fields, field, code):
    before = await counts(db)
    response = await client.post("/api/v1/alerts", json=alert_body(**fields), headers=auth(world.tokens["a1"]))
    error = await error_of(response, 422, code)
    assert error["field"] == field, error
    assert await counts(db) == before


async def test_a_required_field_missing_and_a_body_that_is_not_an_object(client, world, db):
    before = await counts(db)
    body = alert_body()
    del body["texts"]
    assert (await error_of(await client.post("/api/v1/alerts", json=body, headers=auth(world.tokens["a1"])),
                           422))["field"] == "texts"
    error = await error_of(await client.post("/api/v1/alerts", json=[body], headers=auth(world.tokens["a1"])), 422)
    assert "must be object" in error["message"]
    soon = utcnow() + timedelta(hours=1)
    error = await error_of(await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]), json=alert_body(
        send_at=soon.isoformat(), expires_at=(soon - timedelta(minutes=1)).isoformat())), 422)
    assert error["field"] == "expires_at"
    assert await counts(db) == before


async def test_an_identifier_is_taken_once_per_agency(client, world, db):
    first = await client.post("/api/v1/alerts", json=alert_body(identifier="ID-1"), headers=auth(world.tokens["a1"]))
    assert first.status == 201
    before = await counts(db)
    again = await client.post("/api/v1/alerts", json=alert_body(identifier="ID-1"), headers=auth(world.tokens["a1"]))
    error = await error_of(again, 409, "duplicate_identifier")
    assert str((await first.json())["id"]) in error["message"]
    assert await counts(db) == before
    other = await client.post("/api/v1/alerts", json=alert_body(identifier="ID-1"), headers=auth(world.tokens["a2"]))
    assert other.status == 201


async def test_a_scheduled_alert_is_sent_by_the_schedule_and_stays_the_agencys(client, world, db):
    at = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    response = await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]), json=alert_body(
        send_at=at.isoformat()))
    assert response.status == 201, await response.text()
    template = await response.json()
    assert template["status"] == "template" and template["recipients"] == 3 and template["deliveries"]["total"] == 0
    assert template["schedule"] == {"send_at": at.isoformat(), "active": True, "sent_as": None}

    [ran] = await alert_lifecycle.run_due(db, tz=Settings(_env_file=None).tz, now=at + timedelta(seconds=1))
    assert ran.recipients == 3
    got = await (await client.get(f"/api/v1/alerts/{template['id']}", headers=auth(world.tokens["a1"]))).json()
    assert got["schedule"] == {"send_at": at.isoformat(), "active": False, "sent_as": ran.alert_id}
    sent = await (await client.get(f"/api/v1/alerts/{ran.alert_id}", headers=auth(world.tokens["a1"]))).json()
    assert (sent["source"], sent["status"], sent["sender_name"], sent["deliveries"]["total"]) == (
        "schedule", "sending", "a1 dispatch", 3)
    listing = await (await client.get("/api/v1/alerts", headers=auth(world.tokens["a1"]))).json()
    assert {a["id"] for a in listing["items"]} == {template["id"], ran.alert_id}
    await error_of(await client.get(f"/api/v1/alerts/{ran.alert_id}", headers=auth(world.tokens["a2"])), 403)
    await error_of(await client.post(f"/api/v1/alerts/{template['id']}/cancel", headers=auth(world.tokens["a1"])),
                   409, "already_sent")
    await error_of(await client.post(f"/api/v1/alerts/{template['id']}/correct", json={"texts": {"vi": "Sửa"}},
                                     headers=auth(world.tokens["a1"])), 409, "not_sent")

    later = await (await client.post("/api/v1/alerts", headers=auth(world.tokens["a1"]), json=alert_body(
        send_at=(at + timedelta(hours=1)).isoformat()))).json()
    stopped = await client.post(f"/api/v1/alerts/{later['id']}/cancel", headers=auth(world.tokens["a1"]))
    assert stopped.status == 200
    assert (await stopped.json())["status"] == "cancelled"
    assert await alert_lifecycle.run_due(db, tz=Settings(_env_file=None).tz, now=at + timedelta(hours=2)) == []


async def _mark(db, alert_id: int, *states: str) -> None:
    async with db.transaction() as session:
        rows = (await session.execute(select(Delivery).where(Delivery.alert_id == alert_id)
                                      .order_by(Delivery.id))).scalars().all()
        for row, state in zip(rows, states):
            row.state = state


async def test_correct_then_cancel_as_the_bots_buttons_do(client, world, db):
    token = auth(world.tokens["a1"])
    original = await (await client.post("/api/v1/alerts", json=alert_body(), headers=token)).json()
    await _mark(db, original["id"], "sent", "sent")  # the third still waits
    response = await client.post(f"/api/v1/alerts/{original['id']}/correct", headers=token,
                                 json={"texts": {"vi": " Mưa rất lớn ", "en": "Very heavy rain"}})
    assert response.status == 201, await response.text()
    correction = await response.json()
    assert (correction["kind"], correction["replaces_id"], correction["recipients"], correction["source"]) == (
        "correction", original["id"], 3, "api")  # those who got it, and instead of it the one still waiting
    assert correction["texts"] == {"vi": "Mưa rất lớn", "en": "Very heavy rain"}
    assert response.headers["Location"] == f"/api/v1/alerts/{correction['id']}"
    now = await (await client.get(f"/api/v1/alerts/{original['id']}", headers=token)).json()
    assert (now["status"], now["replaced_by"], now["deliveries"]["cancelled"]) == ("cancelled", correction["id"], 1)

    before = await counts(db)
    await error_of(await client.post(f"/api/v1/alerts/{original['id']}/correct", json={"texts": {"vi": "x"}},
                                     headers=token), 409, "already_replaced")
    await error_of(await client.post(f"/api/v1/alerts/{original['id']}/cancel", headers=token), 409,
                   "already_replaced")
    assert await counts(db) == before

    await _mark(db, correction["id"], "sent", "failed")
    response = await client.post(f"/api/v1/alerts/{correction['id']}/cancel", headers=token)
    assert response.status == 200, await response.text()
    cancelled = await response.json()
    assert cancelled["status"] == "cancelled" and cancelled["replaced_by"] is not None
    notice = await (await client.get(f"/api/v1/alerts/{cancelled['replaced_by']}", headers=token)).json()
    assert (notice["kind"], notice["replaces_id"], notice["deliveries"]["total"]) == ("cancellation",
                                                                                      correction["id"], 1)
    await error_of(await client.post(f"/api/v1/alerts/{notice['id']}/cancel", headers=token), 409, "is_cancellation")
    await error_of(await client.post(f"/api/v1/alerts/{notice['id']}/correct", json={"texts": {"vi": "x"}},
                                     headers=token), 409, "is_cancellation")


async def test_cancelling_an_alert_nobody_received_yet_drops_it_without_a_notice(client, world, db):
    token = auth(world.tokens["a1"])
    alert = await (await client.post("/api/v1/alerts", json=alert_body(), headers=token)).json()
    response = await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=token)
    body = await response.json()
    assert (body["status"], body["replaced_by"], body["deliveries"]["cancelled"]) == ("cancelled", None, 3)
    await error_of(await client.post(f"/api/v1/alerts/{alert['id']}/cancel", headers=token), 409, "cancelled")
    await error_of(await client.post(f"/api/v1/alerts/{alert['id']}/correct", json={"texts": {"vi": "x"}},
                                     headers=token), 409, "cancelled")


async def test_another_agencys_alerts_are_out_of_reach(client, world, db):
    alert = await (await client.post("/api/v1/alerts", json=alert_body(), headers=auth(world.tokens["a1"]))).json()
    async with db.transaction() as session:
        bot_alert = Alert(topic_code="weather", severity="minor", area_codes=["01"], texts={"vi": "bot"},
                          source="bot", sender_telegram_id=1)
        session.add(bot_alert)
        await session.flush()
        bot_id = bot_alert.id
    before = await counts(db)
    other = auth(world.tokens["a2"])
    for alert_id in (alert["id"], bot_id):
        await error_of(await client.get(f"/api/v1/alerts/{alert_id}", headers=other), 403, "other_agency")
        await error_of(await client.post(f"/api/v1/alerts/{alert_id}/cancel", headers=other), 403, "other_agency")
        await error_of(await client.post(f"/api/v1/alerts/{alert_id}/correct", json={"texts": {"vi": "x"}},
                                         headers=other), 403, "other_agency")
    for missing in ("999999", "0", "abc", "-1", "99999999999"):
        await error_of(await client.get(f"/api/v1/alerts/{missing}", headers=other), 404, "not_found")
    assert await counts(db) == before
    still = await (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth(world.tokens["a1"]))).json()
    assert still["status"] == "sending" and still["deliveries"]["remaining"] == 3


# ---------------------------------------------------------------- reports


async def test_the_agency_lists_and_reads_its_reports_without_the_reporters_identity(client, world, db):
    token = auth(world.tokens["a1"])
    listing = await (await client.get("/api/v1/reports", headers=token)).json()
    assert [r["code"] for r in listing["items"]] == ["PA-BBBBB", "PA-AAAAA"] and listing["total"] == 2
    first = listing["items"][1]
    assert (first["state"], first["category"], first["area_code"], first["address"], first["photos"]) == (
        "assigned", "roads", "00004", "12 Phố Huế", 0)
    assert first["allowed_actions"] == ["start", "resolve", "send_back"]
    assert (await (await client.get("/api/v1/reports?state=in_progress", headers=token)).json())["total"] == 0
    future = (utcnow() + timedelta(days=1)).isoformat()
    assert (await (await client.get("/api/v1/reports", params={"updated_since": future},
                                    headers=token)).json())["items"] == []
    await error_of(await client.get("/api/v1/reports?state=lost", headers=token), 422)

    response = await client.get("/api/v1/reports/pa-aaaaa", headers=token)
    text = await response.text()
    detail = json.loads(text)
    assert detail["code"] == "PA-AAAAA"
    assert [(e["action"], e["state"], e["actor"], e["actor_name"]) for e in detail["history"]] == [
        ("submit", "submitted", "resident", None), ("assign", "assigned", "moderator", "Mai")]
    # The id as a number of its own: its digits may well occur inside a timestamp's microseconds.
    assert REPORTER_NAME not in text and not re.search(rf"\b{REPORTER}\b", text) and "resident_id" not in text

    await error_of(await client.get("/api/v1/reports/PA-CCCCC", headers=token), 403, "other_agency")
    await error_of(await client.get("/api/v1/reports/PA-DDDDD", headers=token), 403, "other_agency")
    await error_of(await client.get("/api/v1/reports/PA-ZZZZZ", headers=token), 404, "not_found")
    await error_of(await client.get("/api/v1/reports/nonsense", headers=token), 404, "not_found")


async def test_the_agency_acts_on_its_reports_with_the_bots_rules(client, world, db):
    token = auth(world.tokens["a1"])
    url = "/api/v1/reports/PA-AAAAA/actions"
    response = await client.post(url, json={"action": "start", "expected_state": "assigned"}, headers=token)
    assert response.status == 200, await response.text()
    started = await response.json()
    assert started["state"] == "in_progress" and started["allowed_actions"] == ["resolve", "send_back"]
    assert started["history"][-1] == {**started["history"][-1], "action": "start", "actor": "agency_staff",
                                      "actor_name": "a1 dispatch", "agency_code": "a1"}
    async with db.read() as session:
        event = (await session.execute(select(ReportEvent).order_by(ReportEvent.id.desc()).limit(1))).scalar_one()
        assert (event.actor_telegram_id, event.actor_name) == (None, "a1 dispatch")

    before = await counts(db)
    error = await error_of(await client.post(url, json={"action": "start"}, headers=token), 409, "wrong_state")
    assert "Being handled" in error["message"]
    error = await error_of(await client.post(url, json={"action": "resolve", "note": "x", "expected_state": "assigned"},
                                             headers=token), 409, "changed")
    assert "a1 dispatch" in error["message"]
    assert (await error_of(await client.post(url, json={"action": "resolve"}, headers=token), 422))["field"] == "note"
    assert (await error_of(await client.post(url, json={"action": "resolve", "note": "   "}, headers=token),
                           422, "missing_note"))["field"] == "note"
    await error_of(await client.post(url, json={"action": "send_back"}, headers=token), 422)
    await error_of(await client.post(url, json={"action": "start", "note": "x"}, headers=token), 422)
    await error_of(await client.post(url, json={"action": "assign", "agency_code": "a1"}, headers=token), 422)
    await error_of(await client.post(url, json={"action": "reject", "reason": "no"}, headers=token), 422)
    await error_of(await client.post(url, json={"action": "resolve", "note": "x" * 2001}, headers=token), 422)
    await error_of(await client.post(url, json={"action": "start"}, headers=auth(world.tokens["a2"])), 403,
                   "other_agency")
    assert await counts(db) == before

    note = f"Đã vá. {HTML} {SQL}"
    response = await client.post(url, json={"action": "resolve", "note": note}, headers=token)
    resolved = await response.json()
    assert resolved["state"] == "resolved" and resolved["history"][-1]["note"] == note  # as given, not escaped
    assert resolved["resolved_at"] is not None and resolved["allowed_actions"] == []
    async with db.read() as session:
        told = (await session.execute(select(Delivery).where(Delivery.chat_id == REPORTER)
                                      .order_by(Delivery.id))).scalars().all()
    text = told[-1].payload["params"]["text"]
    assert "PA-AAAAA" in text and "Sở Giao thông" in text and "&lt;script&gt;" in text  # escaped for Telegram
    assert told[-1].payload["params"]["reply_markup"]["inline_keyboard"]  # the rating buttons, as from the bot

    back = await client.post("/api/v1/reports/PA-BBBBB/actions", json={"action": "send_back", "reason": "Không phải"},
                             headers=token)
    assert back.status == 200 and (await back.json())["state"] == "submitted"
    await error_of(await client.get("/api/v1/reports/PA-BBBBB", headers=token), 403, "other_agency")
    codes = [r["code"] for r in (await (await client.get("/api/v1/reports", headers=token)).json())["items"]]
    assert codes == ["PA-AAAAA"]


async def test_a_report_photo_is_the_cleaned_copy(client, world, db, tmp_path):
    from complaints.media import MediaStore

    store = MediaStore(tmp_path / "media")
    path = store.path_of("ab" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xd8\xff\xe0JPEG")
    async with db.transaction() as session:
        session.add(ReportPhoto(report_id=world.reports["PA-AAAAA"], position=0, telegram_file_id="F",
                                file_unique_id="U", sha256="ab" * 32))
        session.add(ReportPhoto(report_id=world.reports["PA-AAAAA"], position=1, telegram_file_id="G",
                                file_unique_id="V", sha256=None))
    token = auth(world.tokens["a1"])
    response = await client.get("/api/v1/reports/PA-AAAAA/photos/1", headers=token)
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert await response.read() == b"\xff\xd8\xff\xe0JPEG"
    assert (await (await client.get("/api/v1/reports/PA-AAAAA", headers=token)).json())["photos"] == 2
    for n in ("2", "3", "0", "x"):
        await error_of(await client.get(f"/api/v1/reports/PA-AAAAA/photos/{n}", headers=token), 404)
    await error_of(await client.get("/api/v1/reports/PA-AAAAA/photos/1", headers=auth(world.tokens["a2"])), 403)


async def test_a_token_acts_only_while_valid_and_for_its_agency_in_the_life_cycle(db, world):
    """The life cycle checks a token actor itself: revoked, another agency's, or without the reports scope."""
    report_id = world.reports["PA-AAAAA"]
    for name, code in (("revoked", "not_agency_staff"), ("a2", "not_agency_staff"), ("a1_alerts", "not_agency_staff")):
        actor = Actor("agency_staff", None, name, "a1", token_id=world.token_ids[name])
        async with db.transaction() as session:
            with pytest.raises(Refused) as refused:
                await lifecycle.apply(session, report_id, Action.START, actor)
        assert refused.value.code == code
    other = Actor("agency_staff", None, "a2", "a2", token_id=world.token_ids["a2"])
    async with db.transaction() as session:
        with pytest.raises(Refused) as refused:
            await lifecycle.apply(session, report_id, Action.START, other)
    assert refused.value.code == "other_agency"
    moderator_by_token = Actor("moderator", None, "a1", "a1", token_id=world.token_ids["a1"])
    async with db.transaction() as session:
        with pytest.raises(Refused) as refused:
            await lifecycle.apply(session, report_id, Action.REJECT, moderator_by_token, reason="x")
    assert refused.value.code == "not_moderator"


# ---------------------------------------------------------------- hostile input


async def test_sql_and_html_looking_strings_are_kept_and_returned_as_data(client, world, db):
    token = auth(world.tokens["a1"])
    texts = {"vi": f"{SQL} {HTML}", "en": "Robert'); DROP TABLE residents;--"}
    response = await client.post("/api/v1/alerts", headers=token, json=alert_body(
        texts=texts, identifier="1'OR'1'='1;--", link="https://x.example/?q=';DROP%20TABLE"))
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["texts"] == {"vi": texts["vi"], "en": texts["en"]} and created["identifier"] == "1'OR'1'='1;--"
    got = await (await client.get(f"/api/v1/alerts/{created['id']}", headers=token)).json()
    assert got["texts"] == created["texts"] and got["link"] == "https://x.example/?q=';DROP%20TABLE"
    async with db.read() as session:
        assert (await session.get(Alert, created["id"])).texts == texts
        assert (await session.execute(select(func.count()).select_from(Resident))).scalar_one() == 4

    before = await counts(db)
    for params in ({"q": "' OR 1=1 --"}, {"q": "%"}, {"q": "_ _"}):
        response = await client.get("/api/v1/areas", params=params, headers=token)
        assert response.status == 200 and (await response.json())["items"] == []
    await error_of(await client.get("/api/v1/areas", params={"parent": "01' OR '1'='1"}, headers=token), 422)
    await error_of(await client.get("/api/v1/reports/PA-AAAAA' OR '1'='1", headers=token), 404)
    await error_of(await client.get("/api/v1/alerts/1 OR 1=1", headers=token), 404)
    await error_of(await client.post("/api/v1/alerts", headers=token, json=alert_body(topic="weather' OR '1'='1")),
                   422, "unknown_topic")
    await error_of(await client.post("/api/v1/alerts", headers=token,
                                     json=alert_body(areas=["01'; DELETE FROM areas; --"])), 422)
    assert await counts(db) == before


async def test_a_body_over_the_cap_malformed_json_and_other_media_are_refused(client, world, db):
    token = auth(world.tokens["a1"])
    before = await counts(db)
    big = json.dumps(alert_body(texts={"vi": "x" * (MAX_BODY + 10)}))
    for path in ("/api/v1/alerts", "/api/v1/reports/PA-AAAAA/actions"):
        response = await client.post(path, data=big, headers={**token, "Content-Type": "application/json"})
        error = await error_of(response, 413, "too_large")
        assert str(MAX_BODY) in error["message"]

        async def chunks():
            for _ in range(4):
                yield b"x" * 2048

        response = await client.post(path, data=chunks(), headers={**token, "Content-Type": "application/json"})
        await error_of(response, 413, "too_large")
        for raw in (b"{", b"{'topic': 'weather'}", b"", b"\xff\xfe\x00", b"[" * 2000 + b"]" * 2000,
                    b'{"topic": "weather",}', b"NaN"):
            response = await client.post(path, data=raw, headers={**token, "Content-Type": "application/json"})
            assert response.status in (400, 413, 422), (raw[:20], response.status)
            if len(raw) < MAX_BODY and raw != b"NaN":
                await error_of(response, 400, "invalid_json")
        response = await client.post(path, data="topic=weather", headers={
            **token, "Content-Type": "application/x-www-form-urlencoded"})
        await error_of(response, 415, "unsupported_media_type")
    assert await counts(db) == before


async def test_absurd_numbers_in_the_path_are_not_found(client, world):
    token = auth(world.tokens["a1"])
    for raw in ("9" * 5000, "9" * 19, str(2**31), "0", "-1", "١٢", "1e3"):
        for path in (f"/api/v1/alerts/{raw}", f"/api/v1/alerts/{raw}/cancel", f"/api/v1/reports/PA-AAAAA/photos/{raw}"):
            method = client.post if path.endswith("cancel") else client.get
            await error_of(await method(path, headers=token), 404, "not_found")


async def test_unknown_addresses_and_methods_answer_in_json(client, world):
    token = auth(world.tokens["a1"])
    await error_of(await client.get("/api/v1/nothing-here", headers=token), 404, "not_found")
    response = await client.delete("/api/v1/alerts", headers=token)
    await error_of(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}
    response = await client.put("/api/v1/reports/PA-AAAAA", headers=token)
    await error_of(response, 405)
