"""Open311 GeoReport v2 (web/open311.py) against the real aiohttp application, on SQLite and
PostgreSQL with the shipped areas: services, filing reports as the bot does (photos by media_url,
cleaned), finding them, the public record (never the reporter), errors and hostile input."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import func, select

from bot.app import build_application
from complaints import codes, lifecycle, media, reports
from complaints.deadlines import DeadlineRules
from complaints.lifecycle import Action, Actor, Policy
from kernel.settings import Settings
from storage import tokens
from storage.models import Agency, ApiToken, Area, Category, Report, ReportEvent, ReportPhoto, Resident, StaffRole
from storage.types import utcnow
from web import open311, server

HOAN_KIEM = (21.03254, 105.85077)
SAIGON = (10.776, 106.700)
DESCRIPTION = "A deep pothole in front of number 25, near the bus stop, since last week."
GPS = (21.0, 105.75)
MODERATOR, STAFF = 500, 601
MOD = Actor("moderator", MODERATOR, "Mai")
STAFF_ACTOR = Actor("agency_staff", STAFF, "Hùng", "a1")


class Api:
    """The application under test, its database and settings, and a valid api_key."""

    def __init__(self, client: TestClient, db, settings: Settings, key: str, token_id: int) -> None:
        self.client, self.db, self.settings, self.key, self.token_id = client, db, settings, key, token_id

    async def post(self, fmt: str = "json", *, key: str | None = "default", **fields):
        if key == "default":
            key = self.key
        data = {"api_key": key} if key is not None else {}
        data |= {"service_code": "roads", "lat": str(HOAN_KIEM[0]), "long": str(HOAN_KIEM[1]),
                 "description": DESCRIPTION}
        data |= {name: value for name, value in fields.items()}
        data = {name: value for name, value in data.items() if value is not None}
        return await self.client.post(f"/open311/v2/requests.{fmt}", data=data)

    async def get(self, path: str, **params):
        return await self.client.get(f"/open311/v2/{path}", params=params)

    async def reports(self) -> list[Report]:
        async with self.db.read() as session:
            return list((await session.execute(select(Report).order_by(Report.id))).scalars())

    async def count(self) -> int:
        async with self.db.read() as session:
            return (await session.execute(select(func.count()).select_from(Report))).scalar_one()


@pytest.fixture
async def make_api(areas_loaded, tmp_path):
    made = []

    async def make(*, allow_private: bool = True, **overrides) -> Api:
        settings = Settings(_env_file=None, TELEGRAM_BOT_TOKEN="123456:TEST-token-for-open311-tests-0000",
                            DATABASE_URL=areas_loaded.url, LOA_MEDIA_DIR=str(tmp_path / "media"), **overrides)
        app = server.build(build_application(settings, areas_loaded), settings, areas_loaded)
        app[open311.ALLOW_PRIVATE_MEDIA] = allow_private  # the media server of the tests is on 127.0.0.1
        client = TestClient(TestServer(app))
        await client.start_server()
        made.append(client)
        async with areas_loaded.transaction() as session:
            row, key = await tokens.create(session, name="CityApp", scopes=["open311"])
        return Api(client, areas_loaded, settings, key, row.id)

    yield make
    for client in made:
        await client.close()


@pytest.fixture
async def api(make_api) -> Api:
    return await make_api()


@pytest.fixture
async def health_inactive(api):
    """The category `health` switched off for the test (categories outlive tests on PostgreSQL)."""
    async with api.db.transaction() as session:
        (await session.get(Category, "health")).active = False
    yield
    async with api.db.transaction() as session:
        (await session.get(Category, "health")).active = True


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (21.0, 0.0, 0.0), 3: "E", 4: (105.0, 45.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
async def media_server():
    """A web server of media URLs: /photo.jpg (a JPEG with EXIF GPS), /moved (redirects to it),
    /page (HTML), /fake.jpg (text said to be an image), /missing (404), /big.jpg (200 kB)."""
    hits: list[str] = []
    photo = jpeg_with_gps()

    async def serve(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        name = request.match_info["name"]
        if name == "photo.jpg":
            return web.Response(body=photo, content_type="image/jpeg")
        if name == "moved":
            raise web.HTTPFound("/photo.jpg")
        if name == "page":
            return web.Response(text="<html>not an image</html>", content_type="text/html")
        if name == "fake.jpg":
            return web.Response(body=b"this is not a jpeg at all", content_type="image/jpeg")
        if name == "big.jpg":
            return web.Response(body=b"\xff" * 200_000, content_type="image/jpeg")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{name}", serve)
    test_server = TestServer(app)
    await test_server.start_server()
    test_server.hits = hits
    test_server.photo = photo
    yield test_server
    await test_server.close()


async def errors_of(response, status: int) -> list[dict]:
    assert response.status == status, await response.text()
    if response.content_type == "application/json":
        body = await response.json()
    else:
        assert response.content_type == "text/xml"
        root = ET.fromstring(await response.read())
        assert root.tag == "errors"
        body = [{"code": int(e.findtext("code")), "description": e.findtext("description")} for e in root]
    assert body and all(set(e) == {"code", "description"} for e in body)
    assert body[0]["code"] == status
    return body


def xml_of(body: bytes) -> ET.Element:
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(body)


async def hoan_kiem_ward(db) -> Area:
    async with db.read() as session:
        return (await session.execute(select(Area).where(Area.full_name_en == "Hoan Kiem Ward"))).scalar_one()


# ---------------------------------------------------------------- services


async def test_services_in_json_and_xml(api):
    response = await api.get("services.json")
    assert response.status == 200 and response.content_type == "application/json"
    assert response.charset == "utf-8"
    services = await response.json()
    assert [s["service_code"] for s in services] == ["roads", "sanitation", "urban_order", "infrastructure",
                                                      "security", "food_safety", "health", "other"]
    assert services[0] == {"service_code": "roads", "service_name": "Traffic and roads",
                           "description": "Potholes, broken roads, traffic lights, signs, jams",
                           "metadata": False, "type": "realtime", "keywords": "Giao thông, đường sá",
                           "group": "Traffic and roads"}

    response = await api.get("services.xml")
    assert response.status == 200 and response.content_type == "text/xml"
    root = xml_of(await response.read())
    assert root.tag == "services" and len(root) == 8
    for element in root:
        assert element.tag == "service"
        assert [child.tag for child in element] == ["service_code", "service_name", "description", "metadata",
                                                    "type", "keywords", "group"]
        assert element.findtext("metadata") == "false" and element.findtext("type") == "realtime"
    assert root[0].findtext("service_name") == "Traffic and roads"
    assert root[1].findtext("keywords") == "Môi trường, vệ sinh"


async def test_a_category_switched_off_is_no_service(api, health_inactive):
    services = await (await api.get("services.json")).json()
    assert "health" not in [s["service_code"] for s in services] and len(services) == 7
    await errors_of(await api.get("services/health.json"), 404)
    await errors_of(await api.post(service_code="health"), 404)
    assert await api.count() == 0


async def test_service_definition_and_unknown_services(api):
    response = await api.get("services/roads.json")
    assert response.status == 200
    assert await response.json() == {"service_code": "roads", "attributes": []}
    root = xml_of(await (await api.get("services/food_safety.xml")).read())
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "food_safety" and root.find("attributes") is not None
    assert len(root.find("attributes")) == 0

    [problem] = await errors_of(await api.get("services/potholes.json"), 404)
    assert "potholes" in problem["description"]
    await errors_of(await api.get("services/potholes.xml"), 404)
    await errors_of(await api.get("services/roads'%20OR%20'1'='1.xml"), 404)


async def test_discovery_and_unknown_resources(api):
    discovery = await (await api.get("discovery.json")).json()
    [endpoint] = discovery["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2") and "text/xml" in endpoint["formats"]
    root = xml_of(await (await api.get("discovery.xml")).read())
    assert root.tag == "discovery" and root.find("endpoints/endpoint/formats/format") is not None

    await errors_of(await api.get("services.csv"), 404)
    await errors_of(await api.get("tokens/123.json"), 404)
    assert (await api.get("nothing.xml")).content_type == "text/xml"
    response = await api.client.delete("/open311/v2/requests.json")
    await errors_of(response, 405)


# ---------------------------------------------------------------- POST requests


async def test_a_request_is_filed_as_the_bot_files_a_report(api):
    before = utcnow()
    response = await api.post(first_name="  Lan  ", last_name="Nguyễn", email="lan@example.com",
                              phone="0912345678", device_id="device-1", account_id="acct-9")
    assert response.status == 200 and response.content_type == "application/json"
    [answer] = await response.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None
    code = answer["service_request_id"]
    assert codes.parse(code) == code
    assert answer["service_notice"].startswith(f"Received as {code}. Expected to be resolved by ")
    assert "not attached" not in answer["service_notice"]

    [report] = await api.reports()
    assert report.code == code and report.state == "submitted" and report.priority == "normal"
    assert report.category_code == "roads" and report.description == DESCRIPTION
    assert (report.latitude, report.longitude) == HOAN_KIEM
    assert report.area_code == (await hoan_kiem_ward(api.db)).code
    assert report.address_text is None
    assert report.resident_id is None and report.reporter_name == "Lan"
    assert before <= report.created_at <= utcnow()
    rules = DeadlineRules.from_settings(api.settings)
    assert report.due_at == rules.resolve_due(report.created_at, resolve_days=10)
    assert report.take_up_due_at == rules.take_up_due(report.created_at)
    async with api.db.read() as session:
        [event] = (await session.execute(select(ReportEvent))).scalars().all()
        token = await session.get(ApiToken, api.token_id)
        photos = (await session.execute(select(func.count()).select_from(ReportPhoto))).scalar_one()
    assert (event.state, event.action, event.actor, event.actor_name) == ("submitted", "submit", "open311", "CityApp")
    assert token.last_used_at is not None and photos == 0
    # Nothing else of the person is kept anywhere in the report.
    kept = json.dumps({c.name: str(getattr(report, c.name)) for c in Report.__table__.columns})
    for secret in ("lan@example.com", "0912345678", "Nguyễn", "device-1", "acct-9"):
        assert secret not in kept

    response = await api.post("xml", service_code="sanitation", lat=None, long=None,
                              address_string="Ngõ 12 Phố Huế, gần chợ")
    assert response.status == 200 and response.content_type == "text/xml"
    root = xml_of(await response.read())
    assert root.tag == "service_requests" and [e.tag for e in root] == ["request"]
    assert [e.tag for e in root[0]] == ["service_request_id", "service_notice", "account_id"]
    assert root[0].findtext("account_id") == ""
    second = (await api.reports())[1]
    assert root[0].findtext("service_request_id") == second.code
    assert (second.address_text, second.area_code, second.latitude) == ("Ngõ 12 Phố Huế, gần chợ", None, None)
    assert second.reporter_name is None
    assert root[0].findtext("service_notice").endswith(
        "No ward was found in address_string: the moderators will place the report.")


async def test_an_address_string_is_placed_in_the_ward_it_names(api):
    response = await api.post(lat=None, long=None, address_string="25 nguyen van cu, LONG BIEN")
    [answer] = await response.json()
    assert response.status == 200
    assert answer["service_notice"].endswith("The ward found in address_string: Long Bien Ward.")
    [report] = await api.reports()
    assert (report.address_text, report.area_code, report.latitude) == ("25 nguyen van cu, LONG BIEN", "00145", None)
    # A point wins over the words: the ward is where the point is, and nothing is said of the address.
    response = await api.post(address_string="25 Nguyễn Văn Cừ, Long Biên")
    [answer] = await response.json()
    assert "address_string" not in answer["service_notice"]
    assert (await api.reports())[1].area_code != "00145"


async def test_the_api_key_is_checked_and_nothing_is_stored_without_it(api):
    for fmt in ("json", "xml"):
        [problem] = await errors_of(await api.post(fmt, key=None), 403)
        assert "api_key" in problem["description"]
        await errors_of(await api.post(fmt, key="loa_not-a-real-token"), 403)
        await errors_of(await api.post(fmt, key="' OR 1=1 --"), 403)
    async with api.db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        await session.flush()
        _, agency_key = await tokens.create(session, name="Agency", scopes=["reports"], agency_code="a1")
        row, revoked_key = await tokens.create(session, name="Old app", scopes=["open311"])
        await tokens.revoke(session, row.id)
    await errors_of(await api.post(key=agency_key), 403)  # a token without the open311 scope
    await errors_of(await api.post(key=revoked_key), 403)
    # The key is checked before anything else is looked at.
    await errors_of(await api.post(key=revoked_key, service_code="nope", description="x"), 403)
    assert await api.count() == 0
    # Never in the address, which proxies and servers log: refused even with the key in the body too.
    for body_key in (None, api.key):
        data = {"service_code": "roads", "lat": HOAN_KIEM[0], "long": HOAN_KIEM[1], "description": DESCRIPTION}
        if body_key:
            data["api_key"] = body_key
        response = await api.client.post(f"/open311/v2/requests.json?api_key={api.key}", data=data)
        [problem] = await errors_of(response, 400)
        assert "POST body" in problem["description"]
    assert await api.count() == 0
    assert (await api.post(key=api.key)).status == 200
    assert await api.count() == 1


async def test_wrong_fields_are_refused_as_the_bot_refuses_them(api):
    cases = [
        (404, {"service_code": "potholes"}, "potholes"),
        (404, {"service_code": "roads' OR '1'='1"}, "was not found"),
        (400, {"service_code": None}, "service_code is missing"),
        (400, {"description": "Pothole!"}, "too short: 8 characters"),
        (400, {"description": "x" * 2001}, "too long: 2001 characters"),
        (400, {"description": "asdf asdf asdf asdf"}, "does not look like a description"),
        (400, {"description": None}, "description is missing"),
        (400, {"lat": None, "long": None}, "location is missing"),
        (400, {"lat": None, "long": None, "address_id": "545483"}, "address_id is not supported"),
        (400, {"long": None}, "lat and long must be sent together"),
        (400, {"lat": "north"}, "lat is not a number"),
        (400, {"lat": "91"}, "lat must be between"),
        (400, {"long": "nan"}, "long must be between"),
        (400, {"lat": str(SAIGON[0]), "long": str(SAIGON[1])}, "outside every area"),
        (400, {"lat": None, "long": None, "address_string": "ab"}, "address_string is too short"),
        (400, {"address_string": "x" * 201}, "address_string is too long"),
        (400, {"media_url": "file:///etc/passwd"}, "media_url must be an http or https URL"),
        (400, {"media_url": "javascript:alert(1)"}, "media_url must be an http or https URL"),
    ]
    for status, fields, words in cases:
        for fmt in ("json", "xml"):
            [problem] = await errors_of(await api.post(fmt, **fields), status)
            assert words in problem["description"], (fields, problem)
    assert await api.count() == 0


async def test_the_body_is_capped_and_must_be_a_form(make_api):
    api = await make_api(LOA_MAX_BODY_BYTES="4096")
    for fmt in ("json", "xml"):
        [problem] = await errors_of(await api.post(fmt, description="A long story. " * 400), 413)
        assert "too large" in problem["description"]
    response = await api.client.post("/open311/v2/requests.json", json={"api_key": api.key, "service_code": "roads"})
    await errors_of(response, 400)
    response = await api.client.post("/open311/v2/requests.xml", data=b"<request/>",
                                     headers={"Content-Type": "text/xml"})
    await errors_of(response, 400)
    response = await api.client.post("/open311/v2/requests.json", data=b"api_key=\xff\xfe&x=\xc3",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    await errors_of(response, 400)
    assert await api.count() == 0


async def test_a_photo_by_media_url_is_kept_cleaned(api, media_server):
    original = Image.open(io.BytesIO(media_server.photo))
    assert media._gps(original) == GPS and original.getexif()
    for path in ("/photo.jpg", "/moved"):
        response = await api.post(media_url=str(media_server.make_url(path)))
        [answer] = await response.json()
        assert "not attached" not in answer["service_notice"]
    assert media_server.hits == ["/photo.jpg", "/moved", "/photo.jpg"]
    first, second = await api.reports()
    async with api.db.read() as session:
        photos = (await session.execute(select(ReportPhoto).order_by(ReportPhoto.report_id))).scalars().all()
    assert [p.report_id for p in photos] == [first.id, second.id]
    photo = photos[0]
    assert photo.position == 0 and photo.telegram_file_id == "" and (photo.width, photo.height) == (64, 48)
    assert photos[1].sha256 == photo.sha256  # the same content is kept once
    path = media.MediaStore(api.settings.media_dir).path_of(photo.sha256)
    kept = path.read_bytes()
    assert kept != media_server.photo and b"PhoneMaker" not in kept
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.size == (64, 48)
        assert not image.getexif() and "exif" not in image.info and media._gps(image) is None


async def test_what_the_public_portal_shows_of_a_request_follows_the_setting(make_api):
    for setting in ("photo", "ward"):
        api = await make_api(LOA_PUBLIC_REPORTS_DEFAULT=setting)
        assert (await api.post()).status == 200
        assert (await api.reports())[-1].publicity == setting


async def test_a_photo_that_cannot_be_had_leaves_the_report_filed(make_api, media_server):
    api = await make_api(LOA_MAX_PHOTO_BYTES="100000")
    cases = [("/page", "it is not an image"), ("/fake.jpg", "it is not an image"),
             ("/missing", "the server answered HTTP 404"), ("/big.jpg", "it is larger than 100000 bytes")]
    for path, reason in cases:
        response = await api.post("xml", media_url=str(media_server.make_url(path)))
        assert response.status == 200
        notice = xml_of(await response.read()).findtext("request/service_notice")
        assert notice.endswith(f"The photo at media_url was not attached: {reason}."), notice
    response = await api.post(media_url="http://127.0.0.1:1/unreachable.jpg")
    [answer] = await response.json()
    assert answer["service_notice"].endswith("not attached: it could not be downloaded.")
    assert await api.count() == 5
    async with api.db.read() as session:
        assert (await session.execute(select(func.count()).select_from(ReportPhoto))).scalar_one() == 0


async def test_media_urls_inside_the_network_are_not_fetched(make_api, media_server):
    api = await make_api(allow_private=False)
    url = media_server.make_url("/photo.jpg")
    for target in (str(url), str(url).replace("127.0.0.1", "localhost"), "http://[::1]:9/x.jpg",
                   "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/x.jpg"):
        response = await api.post(media_url=target)
        [answer] = await response.json()
        assert answer["service_notice"].endswith("not attached: its address is not public."), (target, answer)
    assert media_server.hits == []
    assert await api.count() == 5
    # A name is resolved to its public addresses only.
    resolver = open311._PublicResolver()
    with pytest.raises(OSError):
        await resolver.resolve("localhost", 80)
    await resolver.close()


# ---------------------------------------------------------------- GET requests


async def file_report(db, *, now: datetime, category: str = "roads", resident_id: int | None = None,
                      reporter_name: str | None = None, description: str = DESCRIPTION, **fields) -> Report:
    async with db.transaction() as session:
        return await reports.file(session, category_code=category, description=description, now=now,
                                  resident_id=resident_id, reporter_name=reporter_name, **fields)


async def found(api, fmt: str = "json", **params) -> list[str]:
    response = await api.get(f"requests.{fmt}", **params)
    assert response.status == 200, await response.text()
    if fmt == "json":
        return [r["service_request_id"] for r in await response.json()]
    root = xml_of(await response.read())
    assert root.tag == "service_requests"
    return [e.findtext("service_request_id") for e in root]


async def test_requests_are_found_by_ids_service_status_and_dates(api):
    now = utcnow()
    old = await file_report(api.db, now=now - timedelta(days=100))
    week = await file_report(api.db, now=now - timedelta(days=7), category="sanitation", area_code="00070")
    day = await file_report(api.db, now=now - timedelta(days=1))
    hour = await file_report(api.db, now=now - timedelta(hours=1), category="health", address_text="Phố Huế")
    async with api.db.transaction() as session:
        (await session.get(Report, day.id)).state = "resolved"
        (await session.get(Report, week.id)).state = "rejected"
        (await session.get(Report, hour.id)).state = "in_progress"

    newest_first = [hour.code, day.code, week.code]
    assert await found(api) == newest_first
    assert await found(api, "xml") == newest_first
    assert await found(api, status="open") == [hour.code]
    assert await found(api, status="closed") == [day.code, week.code]
    assert await found(api, status="open,closed") == newest_first
    assert await found(api, status="") == newest_first  # empty is absent
    assert await found(api, service_code="roads") == [day.code]
    assert await found(api, service_code="roads,health") == [hour.code, day.code]
    assert await found(api, service_code="nothing") == []
    assert await found(api, service_code="roads", status="open") == []
    assert await found(api, start_date=(now - timedelta(days=2)).isoformat()) == [hour.code, day.code]
    assert await found(api, end_date=(now - timedelta(days=2)).isoformat()) == [week.code]  # 90 days before it
    start = (now - timedelta(days=120)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (now - timedelta(days=50)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await found(api, start_date=start, end_date=end) == [old.code]
    # Ids override everything else, in any case, with or without the dash; unknown ones are left out.
    ids = f"{old.code},{day.code.lower()},{hour.code.replace('-', '')},PA-ZZZZZ,' OR 1=1 --"
    assert await found(api, service_request_id=ids, status="open", service_code="health") == \
        [hour.code, day.code, old.code]
    assert await found(api, service_request_id="1; DROP TABLE reports") == []

    for params, words in [({"status": "pending"}, "status must be open or closed"),
                          ({"start_date": "yesterday"}, "start_date is not an ISO 8601"),
                          ({"end_date": "2026-13-01T00:00:00Z"}, "end_date is not an ISO 8601"),
                          ({"start_date": start, "end_date": (now - timedelta(days=1)).isoformat()},
                           "may not span more than 90 days"),
                          ({"start_date": end, "end_date": start}, "end_date is before start_date")]:
        for fmt in ("json", "xml"):
            [problem] = await errors_of(await api.get(f"requests.{fmt}", **params), 400)
            assert words in problem["description"]
    assert await api.count() == 4


async def test_at_most_1000_requests_newest_first(api):
    now = utcnow()
    async with api.db.transaction() as session:
        session.add_all(Report(code=f"PA-{i:05d}", category_code="roads", description=DESCRIPTION,
                               created_at=now - timedelta(minutes=i), updated_at=now) for i in range(1005))
    listed = await found(api)
    assert len(listed) == 1000 and listed[0] == "PA-00000" and listed[-1] == "PA-00999"


async def test_a_request_shows_its_progress_and_never_its_reporter(api):
    async with api.db.transaction() as session:
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
        session.add(StaffRole(telegram_id=STAFF, role="agency_staff", agency_code="a1"))
        resident = Resident(telegram_id=4242, language="vi", first_name="Bình", username="binh_secret")
        session.add(resident)
    now = utcnow() - timedelta(hours=3)
    report = await file_report(api.db, now=now, resident_id=resident.id, reporter_name="Bình @binh_secret",
                               latitude=HOAN_KIEM[0], longitude=HOAN_KIEM[1], area_code="00070",
                               address_text="25 Hàng Bài")
    tz = api.settings.tz

    async def record(fmt: str = "json", code: str = report.code) -> dict:
        response = await api.get(f"requests/{code}.{fmt}")
        assert response.status == 200, await response.text()
        text = await response.text()
        for secret in ("Bình", "binh_secret", "4242"):
            assert secret not in text
        if fmt == "json":
            [item] = await response.json()
            return item
        root = xml_of(await response.read())
        assert root.tag == "service_requests" and len(root) == 1 and root[0].tag == "request"
        return {child.tag: child.text for child in root[0]}

    item = await record()
    assert list(item) == ["service_request_id", "status", "status_notes", "service_name", "service_code",
                          "description", "agency_responsible", "service_notice", "requested_datetime",
                          "updated_datetime", "expected_datetime", "address", "lat", "long"]
    async with api.db.read() as session:
        area = await session.get(Area, "00070")
    assert item == {
        "service_request_id": report.code, "status": "open", "status_notes": None, "service_name": "Traffic and roads",
        "service_code": "roads", "description": DESCRIPTION, "agency_responsible": None, "service_notice": "Received",
        "requested_datetime": report.created_at.astimezone(tz).isoformat(timespec="seconds"),
        "updated_datetime": report.created_at.astimezone(tz).isoformat(timespec="seconds"),
        "expected_datetime": report.due_at.astimezone(tz).isoformat(timespec="seconds"),
        "address": f"25 Hàng Bài, {area.full_name_en}, Hanoi City", "lat": HOAN_KIEM[0], "long": HOAN_KIEM[1]}
    assert item["requested_datetime"].endswith("+07:00")
    xml_item = await record("xml")
    assert list(xml_item) == list(item)
    assert xml_item["status_notes"] is None and xml_item["lat"] == str(HOAN_KIEM[0])
    assert await record(code=report.code.lower().replace("-", "")) == item

    policy = Policy(rules=DeadlineRules.from_settings(api.settings))

    async def act(action, actor, **args):
        async with api.db.transaction() as session:
            await lifecycle.apply(session, report.id, action, actor, policy=policy, **args)

    await act(Action.ASSIGN, MOD, agency_code="a1", note="Please check the bus stop side.")
    await act(Action.PRIORITY, MOD, priority="urgent")  # not visible: changes no public field but the deadline
    item = await record()
    assert item["status"] == "open" and item["agency_responsible"] == "Transport Department"
    assert item["status_notes"] == "Please check the bus stop side."
    assert item["service_notice"] == "Passed to the agency"
    await act(Action.START, STAFF_ACTOR)
    assert (await record())["service_notice"] == "Being handled"
    await act(Action.RESOLVE, STAFF_ACTOR, note="Filled with asphalt <b>today</b>.")
    item = await record()
    assert item["status"] == "closed" and item["status_notes"] == "Filled with asphalt <b>today</b>."
    assert item["expected_datetime"] is None and item["service_notice"] == "Resolved"
    async with api.db.read() as session:
        events = (await session.execute(select(ReportEvent).where(ReportEvent.visible)
                                        .order_by(ReportEvent.id))).scalars().all()
    assert item["updated_datetime"] == events[-1].at.astimezone(tz).isoformat(timespec="seconds")
    await act(Action.REOPEN, Actor("resident", 4242), comment="Still broken, call me on 0912345678")
    item = await record()
    assert item["status"] == "open" and "reopened" in item["status_notes"].lower()
    assert "0912345678" not in json.dumps(item)
    await act(Action.RESOLVE, STAFF_ACTOR, note="Resurfaced the whole lane.")
    await act(Action.RATE, Actor("resident", 4242), rating="satisfied", comment="Thanks, my number is 0912345678")
    item = await record()
    assert item["status"] == "closed" and item["status_notes"] == "Resurfaced the whole lane."
    assert item["service_notice"] == "Closed"
    listed = await (await api.get("requests.json")).text()
    for secret in ("Bình", "binh_secret", "0912345678"):
        assert secret not in listed

    [problem] = await errors_of(await api.get("requests/PA-ZZZZZ.json"), 404)
    assert "PA-ZZZZZ" in problem["description"]
    await errors_of(await api.get("requests/PA-ZZZZZ.xml"), 404)
    await errors_of(await api.get("requests/1'%20OR%20'1'='1.json"), 404)


async def test_duplicates_and_rejections(api):
    now = utcnow() - timedelta(hours=2)
    async with api.db.transaction() as session:
        session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
    original = await file_report(api.db, now=now)
    duplicate = await file_report(api.db, now=now)
    spam = await file_report(api.db, now=now, description="Offensive words about my neighbour Mr. Tuấn, call him")
    policy = Policy(rules=DeadlineRules.from_settings(api.settings))
    async with api.db.transaction() as session:
        await lifecycle.apply(session, duplicate.id, Action.DUPLICATE, MOD, policy=policy, original_id=original.id)
        await lifecycle.apply(session, spam.id, Action.REJECT, MOD, policy=policy,
                              reason="It contains abusive or offensive content.")
    item = (await (await api.get(f"requests/{duplicate.code}.json")).json())[0]
    assert item["status"] == "closed" and item["status_notes"] == f"Duplicate of {original.code}."
    item = (await (await api.get(f"requests/{spam.code}.json")).json())[0]
    assert item["status"] == "closed" and item["status_notes"] == "It contains abusive or offensive content."
    assert item["description"] is None  # a rejected report's text is not published
    assert "Tuấn" not in await (await api.get("requests.xml")).text()


# ---------------------------------------------------------------- hostile strings


async def test_strings_like_sql_or_html_are_kept_verbatim_and_escaped(api):
    description = "Robert'); DROP TABLE reports;-- <script>alert('x')</script> & \"quotes\" broken lamp ]]>"
    address = "1 O'Brien St <img src=x onerror=alert(1)> & Co"
    name = "<b>Lan</b>'; DELETE FROM residents;--"
    response = await api.post("xml", description=description + "\x00\x07", address_string=address,
                              first_name=name)
    assert response.status == 200
    [report] = await api.reports()
    assert report.description == description and report.address_text == address
    assert report.reporter_name == name

    raw = await (await api.get(f"requests/{report.code}.xml")).read()
    assert b"<script>" not in raw and b"<img" not in raw and b"&lt;script&gt;" in raw
    root = xml_of(raw)
    assert root.findtext("request/description") == description
    assert root.findtext("request/address").startswith(address)
    assert b"DELETE FROM" not in raw  # the reporter's name is never shown
    [item] = await (await api.get(f"requests/{report.code}.json")).json()
    assert item["description"] == description
    response = await api.get("requests.json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert [r["description"] for r in await response.json()] == [description]
    async with api.db.read() as session:  # the tables are all still there
        assert (await session.execute(select(func.count()).select_from(Resident))).scalar_one() == 0
        assert (await session.execute(select(func.count()).select_from(Report))).scalar_one() == 1


async def test_an_open311_report_reaches_the_moderators_like_any_other(api):
    """Filed through Open311, it is a report like the bot's: its card lists it, and it can be triaged."""
    await api.post()
    [report] = await api.reports()
    async with api.db.transaction() as session:
        session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
        session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
    async with api.db.transaction() as session:
        result = await lifecycle.apply(session, report.id, Action.ASSIGN, MOD, agency_code="a1",
                                       policy=Policy(rules=DeadlineRules.from_settings(api.settings)))
    assert result.to_state == "assigned" and result.notified == 0  # no resident to tell
    assert datetime.now(timezone.utc) < report.due_at
