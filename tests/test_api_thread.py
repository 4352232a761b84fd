"""A report's thread through the agency REST API (aiohttp's test client against the real routes),
on SQLite and PostgreSQL: an agency's token asks the resident (the question is queued for them in
the outbox, once) or adds an internal note (queued for nobody), reads the thread without the
resident's identity, and fetches a photo the resident added (the cleaned copy); another agency's
report, an unknown code and bad input are refused as the API refuses everything else, with
nothing written."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.app import build_application
from complaints import thread
from complaints.media import MediaStore
from storage import areas
from storage.models import Delivery, Report, ReportMessage
from tests.fixtures.api import REPORTER, REPORTER_NAME, World, api_settings, make_world
from tests.fixtures.thread_messages import resident_adds
from web import openapi, server

MAX_BODY = 4096


def documented(path: str, method: str, status: int) -> dict:
    """The schema the OpenAPI document gives the answer."""
    answer = openapi.document()["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def world(db) -> World:
    return await make_world(db)


@pytest.fixture
def settings(db, tmp_path):
    return api_settings(db, tmp_path, LOA_MAX_BODY_BYTES=MAX_BODY)


@pytest.fixture
async def client(db, world, settings):
    async with TestClient(TestServer(server.build(build_application(settings, db), settings, db))) as test_client:
        yield test_client


async def written(db) -> dict[str, int]:
    """How many thread messages and outbox rows there are."""
    async with db.read() as session:
        return {model.__tablename__: (await session.execute(select(func.count()).select_from(model))).scalar_one()
                for model in (ReportMessage, Delivery)}


async def error_of(response, status: int, code: str | None = None) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"}
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


# Ba Đình's ward in the API's world has a box for a boundary: the corrected location falls in it.
BA_DINH = areas.AreaLocator([("00004", 2, {"type": "Polygon", "coordinates": [
    [[105.8, 21.0], [105.9, 21.0], [105.9, 21.1], [105.8, 21.1], [105.8, 21.0]]]})])


async def test_an_agency_asks_the_resident_and_reads_the_thread(client, world, db, settings):
    report_id = world.reports["PA-AAAAA"]
    before = await written(db)
    response = await client.post("/api/v1/reports/PA-AAAAA/messages", headers=auth(world.tokens["a1"]),
                                 json={"text": "  Bên trái hay bên phải đường?  "})
    assert response.status == 201, await response.text()
    asked = await response.json()
    openapi.check(asked, documented("/api/v1/reports/{code}/messages", "post", 201))
    assert asked["kind"] == "question" and asked["public"] is True and asked["author"] == "agency_staff"
    assert asked["author_name"] == "a1 dispatch" and asked["text"] == "Bên trái hay bên phải đường?"
    assert asked["delivery"] == "queued" and asked["photos"] == 0
    after = await written(db)
    assert after == {"report_message": before["report_message"] + 1, "deliveries": before["deliveries"] + 1}
    async with db.read() as session:
        [queued] = (await session.execute(select(Delivery).order_by(Delivery.id.desc()).limit(1))).scalars()
    assert queued.chat_id == REPORTER and "PA-AAAAA" in json.dumps(queued.payload, ensure_ascii=False)

    response = await client.post("/api/v1/reports/pa-aaaaa/messages", headers=auth(world.tokens["a1_reports"]),
                                 json={"text": "Đã hẹn đội thi công <b>thứ Hai</b>.", "internal": True})
    assert response.status == 201
    note = await response.json()
    assert (note["kind"], note["public"], note["delivery"]) == ("note", False, None)
    assert (await written(db))["deliveries"] == after["deliveries"], "an internal note reaches nobody"

    assert asked["answered_at"] is None
    answer = await resident_adds(db, settings, REPORTER, report_id, text="Bên phải, trước số 14.", photo=True,
                                 location=(21.0301, 105.8502), locator=BA_DINH, question_id=asked["id"])
    # An agency polling for news finds the report the answer moved.
    response = await client.get("/api/v1/reports", params={"updated_since": answer.at.isoformat()},
                                headers=auth(world.tokens["a1"]))
    assert [r["code"] for r in (await response.json())["items"]] == ["PA-AAAAA"]
    response = await client.get("/api/v1/reports/PA-AAAAA/messages", headers=auth(world.tokens["a1"]))
    assert response.status == 200
    listed = await response.json()
    openapi.check(listed, documented("/api/v1/reports/{code}/messages", "get", 200))
    items = listed["items"]
    assert [(m["kind"], m["author"]) for m in items] == [
        ("question", "agency_staff"), ("note", "agency_staff"), ("answer", "resident")]
    assert items[0]["answered_at"] is not None
    assert items[1]["text"] == "Đã hẹn đội thi công <b>thứ Hai</b>.", "kept as data, never changed"
    added = items[2]
    assert added["author_name"] is None and added["photos"] == 1
    assert (added["latitude"], added["longitude"]) == (21.0301, 105.8502)
    raw = await response.text()
    assert REPORTER_NAME not in raw and str(REPORTER) not in raw, "the resident is never identified"

    photo = await client.get(f"/api/v1/reports/PA-AAAAA/messages/{added['id']}/photos/1",
                             headers=auth(world.tokens["a1"]))
    assert photo.status == 200 and photo.content_type == "image/jpeg"
    async with db.read() as session:
        message = await session.get(ReportMessage, added["id"])
    assert await photo.read() == MediaStore(settings.media_dir).path_of(message.photos[0]["sha256"]).read_bytes()
    for path in (f"/api/v1/reports/PA-AAAAA/messages/{added['id']}/photos/2",
                 f"/api/v1/reports/PA-AAAAA/messages/{asked['id']}/photos/1",
                 "/api/v1/reports/PA-AAAAA/messages/999999/photos/1"):
        await error_of(await client.get(path, headers=auth(world.tokens["a1"])), 404, "not_found")
    # Another agency cannot reach the photo by its message's id either.
    await error_of(await client.get(f"/api/v1/reports/PA-CCCCC/messages/{added['id']}/photos/1",
                                    headers=auth(world.tokens["a2"])), 404, "not_found")


async def test_another_agencys_report_an_unknown_one_and_bad_input_are_refused(client, world, db):
    before = await written(db)
    a1 = auth(world.tokens["a1"])
    for path, status, code in (("/api/v1/reports/PA-CCCCC/messages", 403, "other_agency"),
                               ("/api/v1/reports/PA-DDDDD/messages", 403, "other_agency"),
                               ("/api/v1/reports/PA-22222/messages", 404, "not_found"),
                               ("/api/v1/reports/%3Cb%3E/messages", 404, "not_found")):
        await error_of(await client.get(path, headers=a1), status, code)
        await error_of(await client.post(path, headers=a1, json={"text": "Ở đâu?"}), status, code)
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers=auth(world.tokens["a1_alerts"]),
                                     json={"text": "Ở đâu?"}), 403, "insufficient_scope")
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", json={"text": "Ở đâu?"}), 401)
    for body, field in (({}, "text"), ({"text": ""}, "text"), ({"text": "   \n "}, "text"),
                        ({"text": 5}, "text"), ({"text": "x" * (thread.MESSAGE_MAX + 1)}, "text"),
                        ({"text": "Ở đâu?", "internal": "yes"}, "internal"),
                        ({"text": "Ở đâu?", "to": "everyone"}, "to"), ({"text": "a\x00b"}, "text")):
        error = await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers=a1, json=body), 422)
        assert error["field"] == field, (body, error)
    json_type = {**a1, "Content-Type": "application/json"}
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers=json_type, data=b"{not json"),
                   400, "invalid_json")
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers={**a1, "Content-Type": "text/plain"},
                                     data="Ở đâu?".encode()), 415, "unsupported_media_type")
    await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers=a1,
                                     json={"text": "x" * MAX_BODY}), 413, "too_large")
    assert await written(db) == before


async def test_a_thread_takes_so_many_staff_messages_a_day(client, world, db):
    for n in range(thread.STAFF_PER_DAY):
        response = await client.post("/api/v1/reports/PA-AAAAA/messages", headers=auth(world.tokens["a1"]),
                                     json={"text": f"Ghi chú {n}", "internal": True})
        assert response.status == 201, await response.text()
    before = await written(db)
    error = await error_of(await client.post("/api/v1/reports/PA-AAAAA/messages", headers=auth(world.tokens["a1"]),
                                             json={"text": "Thêm một câu hỏi"}), 409, "too_many")
    assert f"{thread.STAFF_PER_DAY} messages" in error["message"]
    assert await written(db) == before


async def test_a_closed_report_takes_no_question(client, world, db):
    async with db.transaction() as session:
        report = await session.get(Report, world.reports["PA-BBBBB"])
        report.state = "closed"
    before = await written(db)
    error = await error_of(await client.post("/api/v1/reports/PA-BBBBB/messages", headers=auth(world.tokens["a1"]),
                                             json={"text": "Còn không?"}), 409, "closed")
    assert "PA-BBBBB" in error["message"]
    assert await written(db) == before
