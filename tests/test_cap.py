"""CAP 1.2: the samples, POST /api/v1/cap over real HTTP (mapping, areas, updates, refusals), and
polling feeds from an HTTP server of the test; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select, update

from broadcasts import alerts, cap, cap_areas, feeds
from broadcasts.alerts import CANCELLED, PENDING, SENT
from broadcasts.render import render_alert
from handlers import feed_job
from kernel.settings import Settings
from storage import tokens
from storage.models import Agency, Alert, Area, CapFeed, Delivery, Resident, Subscription, Topic
from tests.fixtures import cap_shapes
from tests.fixtures.bot import served, settings_for
from web import cap as cap_route
from web.keys import DB, SETTINGS

FIXTURES = Path(__file__).parent / "fixtures" / "cap"
LIMIT = 64 * 1024
XML = "application/cap+xml"


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# ---------------------------------------------------------------- parsing, no database


SAMPLES = {
    "australia.cap": None,
    "canada.cap": None,
    "earthquake.cap": None,  # CAP 1.1, read as 1.2
    "weather.cap": None,  # CAP 1.1
    "oasis_amber_alert_example.xml": None,
    "invalid.cap": ("/alert", "<scope> is missing"),
    "no_optional_fields.cap": ("/alert/info", "needs at least one <info>"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_parses_or_is_refused_as_expected(name):
    expected = SAMPLES[name]
    if expected is None:
        message = cap.parse(sample(name))
        assert message.infos and message.identifier and message.sent.tzinfo is not None
        return
    with pytest.raises(cap.CapError) as refused:
        cap.parse(sample(name))
    path, words = expected
    assert refused.value.path == path and words in str(refused.value)
    assert str(refused.value).startswith(path)


def test_the_shipped_schema_is_the_oasis_file():
    assert cap.SCHEMA.read_bytes() == (FIXTURES / "CAP-v1.2.xsd").read_bytes()
    assert cap.schema() is cap.schema()  # loaded once


def test_the_mapping_of_a_two_language_message():
    message = cap.parse(sample("oasis_amber_alert_example.xml"))
    texts = cap.texts_of(message)
    assert set(texts) == {"en", "es"}
    assert texts["en"].startswith("Amber Alert in Los Angeles County\n\nDATE/TIME: 06/11/03")
    assert texts["es"].startswith("Alerta Amber en el condado de Los Ángeles")
    assert cap.topic_for(message, ["weather", "security", "general"]) == "security"  # Rescue
    assert (cap.severity_of(message), cap.urgency_of(message)) == ("severe", "immediate")
    assert cap.sender_name_of(message) == "Los Angeles Police Dept - LAPD"


def test_categories_languages_and_html_line_breaks():
    available = ["weather", "traffic", "health", "food_safety", "security", "utilities", "general"]
    expected = {"Met": "weather", "Geo": "weather", "Fire": "weather", "Env": "health", "Health": "health",
                "Transport": "traffic", "Safety": "security", "Security": "security", "Rescue": "security",
                "CBRNE": "security", "Infra": "utilities", "Other": "general"}
    assert cap.CATEGORY_TOPICS == expected
    australia = cap.parse(sample("australia.cap"))
    assert cap.topic_for(australia, available) == "weather"
    assert cap.topic_for(australia, ["traffic", "general"]) == "general"
    assert cap.topic_for(australia, ["traffic"]) == "traffic"
    # Two info blocks in the same language with the same text: the text once.
    text = cap.texts_of(australia)["en"]
    assert text.count("Yerong Creek Structure Fire") == 1
    assert "LOCATION: 12 Cox Street, Yerong Creek\nCOUNCIL AREA: Lockhart" in text  # <br /> became a new line
    assert [cap.language_code(tag) for tag in ("en-US", "vi-VN", "vi", "fr-CA", None, "EN")] == \
        ["en", "vi", "vi", "fr", "en", "en"]
    earthquake = cap.parse(sample("earthquake.cap"))  # no <language>: en-US
    assert list(cap.texts_of(earthquake)) == ["en"] and earthquake.version == "1.1"


def replace(data: bytes, old: str, new: str, count: int = 1) -> bytes:
    """`data` with `old` replaced (its first `count` times; -1: everywhere)."""
    text = data.decode()
    assert old in text
    return text.replace(old, new, count).encode()


RAIN = "loa-hanoi-rain.cap"


@pytest.mark.parametrize(("old", "new", "path", "words"), [
    ("<sent>2026-11-24T08:00:00+07:00</sent>", "<sent>2026-11-24T08:00:00</sent>", "/alert/sent", "time zone"),
    ("<sent>2026-11-24T08:00:00+07:00</sent>", "<sent>2026-11-24T08:00:00Z</sent>", "/alert/sent", "time zone"),
    ("<expires>2037-11-25T08:00:00+07:00</expires>", "<expires>25/11/2099</expires>",
     "/alert/info[1]/expires", "time zone"),
    ("<identifier>HN-KTTV-2026-0001</identifier>", "<identifier>HN 0001</identifier>", "/alert/identifier", "spaces"),
    ("<sender>canhbao@kttv-hanoi.example.vn</sender>", "<sender>a,b</sender>", "/alert/sender", "commas"),
    ("<msgType>Alert</msgType>", "<msgType>Update</msgType>", "/alert/references", "must name earlier messages"),
    ("<scope>Public</scope>", "<scope>Public</scope><references>only-two,parts</references>",
     "/alert/references", "sender,identifier,sent"),
    ("<scope>Public</scope>", "<scope>Private</scope>", "/alert/addresses", "needs <addresses>"),
    ("<severity>Severe</severity>", "<severity>Catastrophic</severity>", "/alert/info[1]/severity", "must be one of"),
    ("<category>Met</category>", "<category>Weather</category>", "/alert/info[1]/category[1]", "must be one of"),
    ("<value>01</value>", "<value>01</value></geocode><geocode><valueName>x</valueName>",
     "/alert/info[1]/area[1]/geocode[2]", "<value> is missing"),
    ("<areaDesc>Thành phố Hà Nội</areaDesc>",
     "<areaDesc>x</areaDesc><polygon>21.0,105.8 21.1,105.8 21.1,105.9</polygon>",
     "/alert/info[1]/area[1]/polygon[1]", "at least 4 coordinate pairs"),
    ("<areaDesc>Thành phố Hà Nội</areaDesc>",
     "<areaDesc>x</areaDesc><polygon>21.0,105.8 21.1,105.8 21.1,105.9 21.0,105.9</polygon>",
     "/alert/info[1]/area[1]/polygon[1]", "first and last"),
    ("<areaDesc>Thành phố Hà Nội</areaDesc>", "<areaDesc>x</areaDesc><circle>121.0,105.8 5</circle>",
     "/alert/info[1]/area[1]/circle[1]", "outside WGS 84"),
    ("<areaDesc>Thành phố Hà Nội</areaDesc>", "<areaDesc>x</areaDesc><circle>21.0,105.8</circle>",
     "/alert/info[1]/area[1]/circle[1]", "radius"),
])
def test_the_rules_name_the_element_at_fault(old, new, path, words):
    with pytest.raises(cap.CapError) as refused:
        cap.parse(replace(sample(RAIN), old, new))
    assert refused.value.path == path, str(refused.value)
    assert words in str(refused.value) and str(refused.value).startswith(path)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE alert [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
"""


def with_doctype(doctype: str, entity_in: str = "identifier") -> bytes:
    """The Hanoi sample with a DOCTYPE and `&xxe;` in one of its elements."""
    text = sample(RAIN).decode()
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    text = text.replace(declaration, f"{declaration}{doctype}\n")
    return text.replace("<identifier>HN-KTTV-2026-0001</identifier>", "<identifier>&xxe;</identifier>").encode()


XXE = with_doctype('<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"""


@pytest.mark.parametrize("data", [BOMB, XXE, EXTERNAL_DTD, PARAMETER_ENTITY], ids=["bomb", "xxe", "dtd", "pe"])
def test_no_dtd_no_entity_is_ever_read(data):
    with pytest.raises(cap.CapError) as refused:
        cap.parse(data)
    assert "DOCTYPE is not allowed" in str(refused.value)


@pytest.mark.parametrize(("data", "words"), [
    (b"", "empty"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>1</identif", "malformed XML"),
    (b"\xff\xfe<\x00", "malformed XML"),
    (b"{\"alert\": 1}", "malformed XML"),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'/>", "must be a CAP 1.2 <alert>"),
    (b"<alert xmlns='http://www.incident.com/cap/1.0'/>", "CAP 1.0 is not supported"),
    (b"<a>" * 40 + b"</a>" * 40, "deeper than"),
])
def test_malformed_documents(data, words):
    with pytest.raises(cap.CapError) as refused:
        cap.parse(data, max_bytes=LIMIT)
    assert words in str(refused.value)


def test_the_size_cap_comes_before_parsing():
    with pytest.raises(cap.CapTooLarge):
        cap.parse(b" " * (LIMIT + 1), max_bytes=LIMIT)


# ---------------------------------------------------------------- geometry, no database


SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]],
                                             [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]}  # with a hole


def ring(*points) -> tuple:
    """CAP order: (lat, lon) pairs, closed."""
    return tuple((lat, lon) for lon, lat in points + points[:1])


def test_polygon_and_circle_intersections_with_a_boundary():
    index = cap_areas.AreaIndex([("square", SQUARE)])

    def meets_polygon(cap_ring) -> bool:
        return index.meeting([cap_areas.polygon_shape(cap_ring)]) == {"square"}

    def meets_circle(lat, lon, radius_km) -> bool:
        return index.meeting([cap_areas.circle_shape(lat, lon, radius_km)]) == {"square"}

    assert meets_polygon(ring((1, 1), (2, 1), (2, 2)))  # inside
    assert meets_polygon(ring((-5, -5), (20, -5), (20, 20), (-5, 20)))  # around it
    assert meets_polygon(ring((-1, 5), (11, 5), (11, 5.5), (-1, 5.5)))  # a band across: edges only
    assert meets_polygon(ring((10, 10), (12, 10), (12, 12)))  # touching a corner counts
    assert not meets_polygon(ring((4.5, 4.5), (5.5, 4.5), (5.5, 5.5)))  # in the hole
    assert not meets_polygon(ring((11, 11), (12, 11), (12, 12)))  # outside
    assert meets_polygon(ring((-1, -1), (1, 1), (1, -1), (-1, 1)))  # a bow-tie crossing itself: repaired
    assert not meets_polygon(ring((11, 11), (12, 12), (12, 11), (11, 12)))  # the same, outside
    assert meets_circle(5, 1, 0)  # lat 5, lon 1: the centre inside
    assert not meets_circle(5, 5, 0)  # a point in the hole
    assert not meets_circle(5, 5, 10)  # in the hole, 10 km: far from every edge (~100 km)
    assert meets_circle(5, 5, 120)  # reaches the hole's edge
    assert meets_circle(5, -0.5, 60) and not meets_circle(5, -0.5, 50)  # ~55 km west


# ---------------------------------------------------------------- the HTTP API


@dataclass
class Api:
    client: TestClient
    db: object
    settings: Settings
    token: str
    other_scope: str
    log: list = field(default_factory=list)

    async def post(self, data: bytes, *, token: str | None = "default", content_type: str = XML, **kw):
        headers = {"Content-Type": content_type, **kw.pop("headers", {})}
        if token == "default":
            token = self.token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.client.post(cap_route.PATH, data=data, headers=headers, **kw)
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


@asynccontextmanager
async def api_for(db, limit: int):
    settings = Settings(_env_file=None, DATABASE_URL=db.url, LOA_MAX_BODY_BYTES=str(limit))
    async with db.transaction() as session:
        session.add(Agency(code="kttv", name_vi="Đài KTTV", name_en="Hydro-Met"))
        await session.flush()
        _, token = await tokens.create(session, name="KTTV CAP", agency_code="kttv", scopes=["alerts"])
        _, other = await tokens.create(session, name="KTTV reports", agency_code="kttv", scopes=["reports"])
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[DB] = db
    cap_route.setup(app)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, db, settings, token, other)


@pytest.fixture
async def api(db):
    async with api_for(db, LIMIT) as made:
        yield made


@pytest.fixture
async def roomy_api(db):
    """The API with the default body cap (1 MiB): room for detailed polygons."""
    async with api_for(db, 1024 * 1024) as made:
        yield made


async def count_alerts(db) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Alert))).scalar_one()


async def get_alert(db, alert_id: int) -> Alert:
    async with db.read() as session:
        return await session.get(Alert, alert_id)


async def deliveries(db, alert_id: int) -> dict[int, str]:
    """chat id → state of the alert's deliveries."""
    async with db.read() as session:
        rows = await session.execute(select(Delivery.chat_id, Delivery.state).where(Delivery.alert_id == alert_id))
        return dict(rows.all())


async def residents(db, area_code: str, first_id: int, count: int = 2, topics=("weather",), language="vi") -> list[int]:
    async with db.transaction() as session:
        for n in range(count):
            resident = Resident(telegram_id=first_id + n, area_code=area_code, onboarded=True, language=language)
            session.add(resident)
            await session.flush()
            for topic in topics:
                session.add(Subscription(resident_id=resident.id, topic_code=topic))
    return [first_id + n for n in range(count)]


async def mark_sent(db, alert_id: int, chat_ids: list[int]) -> None:
    async with db.transaction() as session:
        await session.execute(update(Delivery).where(Delivery.alert_id == alert_id, Delivery.chat_id.in_(chat_ids))
                              .values(state=SENT))


async def test_invalid_sample_is_refused_naming_the_problem(api):
    status, body = await api.post(sample("invalid.cap"))
    assert status == 400
    assert body["error"]["code"] == "invalid_cap"
    assert body["error"]["message"].startswith("/alert: ") and "<scope> is missing" in body["error"]["message"]
    assert body["error"]["field"] == "/alert"
    status, body = await api.post(sample("no_optional_fields.cap"))
    assert status == 400 and body["error"]["field"] == "/alert/info"
    assert await count_alerts(api.db) == 0


async def test_the_oasis_amber_alert_in_two_languages(api):
    status, body = await api.post(sample("oasis_amber_alert_example.xml"), content_type="application/xml")
    assert status == 201, body
    made = body["alert"]
    assert made["identifier"] == "KARO@CLETS.DOJ.CA.GOV,KAR0-0306112239-SW" and made["source"] == "cap"
    assert (made["kind"], made["topic"], made["severity"], made["urgency"]) == \
        ("alert", "security", "severe", "immediate")
    assert made["languages"] == ["en", "es"]
    # Its SAME code names no area here: recorded, sent to nobody.
    assert made["areas"] == [] and made["status"] == "done"
    assert body["queued"] is False and body["recipients"] == 0
    assert any("no area" in warning for warning in body["warnings"])
    alert = await get_alert(api.db, made["id"])
    assert alert.texts["en"].startswith("Amber Alert in Los Angeles County")
    assert alert.texts["es"].startswith("Alerta Amber")
    assert alert.sender_name == "Los Angeles Police Dept - LAPD"


async def test_canada_update_corrects_the_earlier_alert(api):
    status, body = await api.post(sample("loa-canada-original.cap"))
    assert status == 201, body
    original = body["alert"]["id"]
    status, body = await api.post(sample("canada.cap"))
    assert status == 201, body
    correction = body["alert"]
    assert (correction["kind"], correction["replaces_id"]) == ("correction", original)
    assert correction["languages"] == ["en", "fr"]
    assert (correction["severity"], correction["urgency"]) == ("minor", "past")  # the update's
    assert correction["expires_at"].startswith("2012-05-03T00:20:00")
    assert (await get_alert(api.db, original)).status == alerts.Status.CANCELLED


async def test_an_update_corrects_the_latest_of_a_chain(api):
    first = (await api.post(sample("loa-canada-original.cap")))[1]["alert"]["id"]
    second = (await api.post(sample("loa-canada-earlier-update.cap")))[1]["alert"]
    assert (second["kind"], second["replaces_id"]) == ("correction", first)
    status, body = await api.post(sample("canada.cap"))  # references both
    assert status == 201 and body["alert"]["replaces_id"] == second["id"]


async def test_an_update_of_an_alert_not_taken_here_is_a_new_alert(api):
    status, body = await api.post(sample("canada.cap"))
    assert status == 201
    assert (body["alert"]["kind"], body["alert"]["replaces_id"]) == ("alert", None)
    assert any("not taken here" in warning for warning in body["warnings"])


async def test_hanoi_by_geocode_reaches_the_subscribed_residents(api, areas_loaded):
    db = api.db
    reached = await residents(db, "00070", 1000)  # Hoàn Kiếm
    reached += await residents(db, "00082", 2000, language="en")  # Cửa Nam
    await residents(db, "00082", 3000, topics=("traffic",))  # another topic
    await residents(db, "25747", 4000)  # Hồ Chí Minh City

    status, body = await api.post(sample(RAIN))
    assert status == 201, body
    made = body["alert"]
    assert (made["topic"], made["severity"], made["urgency"], made["areas"]) == \
        ("weather", "severe", "expected", ["01"])
    assert made["languages"] == ["en", "vi"] and made["expires_at"].startswith("2037-11-25T01:00:00")
    assert body["queued"] is True and body["recipients"] == 4 and body["warnings"] == []
    assert await deliveries(db, made["id"]) == dict.fromkeys(reached, PENDING)
    alert = await get_alert(db, made["id"])
    assert alert.link == "https://kttv-hanoi.example.vn/canh-bao/2026-0001"
    assert alert.texts["vi"] == ("Cảnh báo mưa lớn trên địa bàn Hà Nội\n\nTừ chiều nay đến sáng mai, Hà Nội có mưa to "
                                 "đến rất to, lượng mưa phổ biến 80–150 mm.\n\nHạn chế ra đường, tránh các tuyến phố "
                                 "thường ngập úng.")
    async with db.read() as session:
        topic = await session.get(Topic, "weather")
    english = render_alert(alert, topic, "en", tz=api.settings.tz).text
    assert "Heavy rain warning for Hanoi" in english and "kttv-hanoi.example.vn" in english

    # The same message again: the same alert, nothing new.
    status, again = await api.post(sample(RAIN))
    assert status == 200 and again["duplicate"] is True and again["alert"]["id"] == made["id"]
    assert await count_alerts(db) == 1 and len(await deliveries(db, made["id"])) == 4


async def test_a_polygon_around_hoan_kiem_reaches_that_ward_only(api, areas_loaded):
    db = api.db
    inside = await residents(db, "00070", 1000, topics=("traffic",))
    await residents(db, "00082", 2000, topics=("traffic",))  # Cửa Nam, next door
    await residents(db, "00070", 3000, topics=("weather",))
    status, body = await api.post(sample("loa-hoan-kiem-closure.cap"))
    assert status == 201, body
    assert (body["alert"]["topic"], body["alert"]["areas"]) == ("traffic", ["00070"])
    assert await deliveries(db, body["alert"]["id"]) == dict.fromkeys(inside, PENDING)


async def test_shapes_meet_the_wards_they_touch(api, areas_loaded):
    async def areas_of(area_xml: str) -> list[str]:
        geocode = "<geocode>\n        <valueName>VN-GSO</valueName>\n        <value>01</value>\n      </geocode>"
        data = replace(sample(RAIN), geocode, area_xml, -1)
        return await cap.match_areas(api.db, cap.parse(data))

    # Around the ward's bounding box: Hoàn Kiếm and its neighbours, never the whole city.
    around = await areas_of(
        "<polygon>21.020,105.840 21.020,105.862 21.043,105.862 21.043,105.840 21.020,105.840</polygon>")
    assert "00070" in around and "00082" in around and "01" not in around and len(around) < 10
    assert await areas_of("<circle>21.0287,105.8524 0</circle>") == ["00070"]  # a point by the lake
    wide = await areas_of("<circle>21.0287,105.8524 60</circle>")  # all of Hà Nội, ward by ward
    assert len(wide) == 126 and "01" not in wide
    # A geocode for the city and a shape in it: the city (its wards are in it).
    both = await areas_of(
        "<circle>21.0287,105.8524 1</circle><geocode><valueName>x</valueName><value>01</value></geocode>")
    assert both == ["01"]
    assert await areas_of("<polygon>0,0 0,1 1,1 0,0</polygon>") == []


async def test_update_and_cancel_follow_the_bots_correct_and_cancel(api, areas_loaded):
    db = api.db
    hoan_kiem = await residents(db, "00070", 1000, count=3)
    original = (await api.post(sample(RAIN)))[1]["alert"]["id"]
    await mark_sent(db, original, hoan_kiem[:2])  # the third is still waiting

    status, body = await api.post(sample("loa-hanoi-rain-update.cap"))
    assert status == 201, body
    correction = body["alert"]
    assert (correction["kind"], correction["replaces_id"], correction["severity"]) == \
        ("correction", original, "extreme")
    # Those who received it and the one still waiting get the correction; the original stops.
    assert await deliveries(db, correction["id"]) == dict.fromkeys(hoan_kiem, PENDING)
    assert await deliveries(db, original) == {hoan_kiem[0]: SENT, hoan_kiem[1]: SENT, hoan_kiem[2]: CANCELLED}
    assert body["recipients"] == 3

    await mark_sent(db, correction["id"], hoan_kiem[:1])
    status, body = await api.post(sample("loa-hanoi-rain-cancel.cap"))  # references both
    assert status == 201, body
    cancellation = body["alert"]
    assert (cancellation["kind"], cancellation["replaces_id"]) == ("cancellation", correction["id"])
    assert await deliveries(db, cancellation["id"]) == {hoan_kiem[0]: PENDING}  # only who received it
    async with db.read() as session:
        assert (await session.get(Alert, correction["id"])).status == alerts.Status.CANCELLED
        rendered = render_alert(await session.get(Alert, cancellation["id"]), None, "vi", tz=api.settings.tz,
                                replaced=await session.get(Alert, correction["id"]))
    assert "Mưa rất lớn" in rendered.text

    # Cancelling again changes nothing.
    again = replace(sample("loa-hanoi-rain-cancel.cap"), "HN-KTTV-2026-0003", "HN-KTTV-2026-0004")
    status, body = await api.post(again)
    assert status == 201 and body["queued"] is False and "already cancelled" in body["warnings"][0]


async def test_an_update_reaches_the_areas_it_adds(api, areas_loaded):
    db = api.db
    hoan_kiem = await residents(db, "00070", 1000, topics=("traffic",))
    cua_nam = await residents(db, "00082", 2000, topics=("traffic",))
    original = (await api.post(sample("loa-hoan-kiem-closure.cap")))[1]["alert"]["id"]
    await mark_sent(db, original, hoan_kiem)
    update = sample("loa-hoan-kiem-closure.cap").decode()
    update = update.replace("<identifier>HN-GT-2026-0457</identifier>", "<identifier>HN-GT-2026-0458</identifier>")
    update = update.replace("<msgType>Alert</msgType>", "<msgType>Update</msgType>")
    update = update.replace("<scope>Public</scope>", "<scope>Public</scope>\n  <references>"
                            "giaothong@hanoi.example.vn,HN-GT-2026-0457,2026-11-24T07:30:00+07:00</references>")
    update = update.replace("</polygon>", "</polygon>\n      <geocode><valueName>VN-GSO</valueName>"
                            "<value>00082</value></geocode>")
    status, body = await api.post(update.encode())
    assert status == 201, body
    assert body["alert"]["kind"] == "correction" and body["alert"]["areas"] == ["00070", "00082"]
    assert await deliveries(db, body["alert"]["id"]) == dict.fromkeys(hoan_kiem + cua_nam, PENDING)
    assert body["recipients"] == 4 and (await get_alert(db, body["alert"]["id"])).composed_at is not None


async def test_the_same_message_twice_at_once_makes_one_alert(api, areas_loaded):
    await residents(api.db, "00070", 1000)
    answers = await asyncio.gather(*(api.post(sample(RAIN)) for _ in range(4)))
    assert sorted(status for status, _ in answers) == [200, 200, 200, 201]
    assert len({body["alert"]["id"] for _, body in answers}) == 1
    assert await count_alerts(api.db) == 1


def test_the_server_serves_the_route():
    from web import server

    assert cap_route in server.SETUPS


async def test_only_the_sender_updates_or_cancels_its_alerts(api, areas_loaded):
    await residents(api.db, "00070", 1000)
    original = (await api.post(sample(RAIN)))[1]["alert"]["id"]
    forged = replace(sample("loa-hanoi-rain-cancel.cap"), "<sender>canhbao@kttv-hanoi.example.vn</sender>",
                     "<sender>someone@else.example</sender>")
    status, body = await api.post(forged)
    assert status == 201 and body["queued"] is False and body["alert"]["replaces_id"] is None
    assert (await get_alert(api.db, original)).status == alerts.Status.SENDING
    assert set((await deliveries(api.db, original)).values()) == {PENDING}


async def test_another_agencys_token_cannot_cancel_by_naming_the_sender(api, areas_loaded):
    await residents(api.db, "00070", 1000)
    original = (await api.post(sample(RAIN)))[1]["alert"]["id"]
    assert (await get_alert(api.db, original)).agency_code == "kttv"
    async with api.db.transaction() as session:
        session.add(Agency(code="other", name_vi="Khác", name_en="Other"))
        await session.flush()
        _, other_agency = await tokens.create(session, name="Other CAP", agency_code="other", scopes=["alerts"])
    status, body = await api.post(sample("loa-hanoi-rain-cancel.cap"), token=other_agency)
    assert status == 201 and body["queued"] is False and body["alert"]["replaces_id"] is None
    assert (await get_alert(api.db, body["alert"]["id"])).agency_code == "other"
    assert (await get_alert(api.db, original)).status == alerts.Status.SENDING
    assert set((await deliveries(api.db, original)).values()) == {PENDING}


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("<status>Actual</status>", "<status>Test</status>", "status Test"),
    ("<status>Actual</status>", "<status>Exercise</status>", "status Exercise"),
    ("<scope>Public</scope>", "<scope>Restricted</scope><restriction>staff</restriction>", "scope Restricted"),
    ("<expires>2037-11-25T08:00:00+07:00</expires>", "<expires>2020-11-25T08:00:00+07:00</expires>", "expired"),
])
async def test_held_messages_are_recorded_and_sent_to_nobody(api, areas_loaded, old, new, reason):
    await residents(api.db, "00070", 1000)
    status, body = await api.post(replace(sample(RAIN), old, new, -1))
    assert status == 201, body
    assert body["queued"] is False and body["recipients"] == 0 and reason in body["warnings"][0]
    assert body["alert"]["status"] == "done" and await deliveries(api.db, body["alert"]["id"]) == {}


async def test_a_test_update_leaves_the_actual_alert_alone(api, areas_loaded):
    await residents(api.db, "00070", 1000)
    original = (await api.post(sample(RAIN)))[1]["alert"]["id"]
    test_cancel = replace(sample("loa-hanoi-rain-cancel.cap"), "<status>Actual</status>", "<status>Test</status>")
    status, body = await api.post(test_cancel)
    assert status == 201 and body["alert"]["replaces_id"] is None
    assert (await get_alert(api.db, original)).status == alerts.Status.SENDING


async def test_ack_and_error_messages_are_not_alerts(api):
    ack = replace(sample("loa-hanoi-rain-cancel.cap"), "<msgType>Cancel</msgType>", "<msgType>Ack</msgType>")
    status, body = await api.post(ack)
    assert status == 422 and body["error"]["code"] == "unsupported_cap"
    assert await count_alerts(api.db) == 0


async def test_html_and_sql_looking_text_is_kept_as_text(api, areas_loaded):
    data = replace(sample(RAIN), "<headline>Cảnh báo mưa lớn trên địa bàn Hà Nội</headline>",
                   "<headline>&lt;script&gt;alert(1)&lt;/script&gt; '); DROP TABLE alerts;--</headline>")
    status, body = await api.post(data)
    assert status == 201
    alert = await get_alert(api.db, body["alert"]["id"])
    assert alert.texts["vi"].startswith("<script>alert(1)</script> '); DROP TABLE alerts;--")
    rendered = render_alert(alert, None, "vi", tz=api.settings.tz).text
    assert "&lt;script&gt;" in rendered and "<script>" not in rendered
    assert await count_alerts(api.db) == 1


# ---------------------------------------------------------------- refusals over HTTP: nothing stored


async def test_an_xml_bomb_and_external_entities_get_400(api):
    for data in (BOMB, XXE, EXTERNAL_DTD, PARAMETER_ENTITY):
        status, body = await api.post(data)
        assert status == 400 and body["error"]["code"] == "invalid_cap"
        assert "DOCTYPE is not allowed" in body["error"]["message"]
        assert "root:" not in str(body)  # nothing of /etc/passwd
    assert await count_alerts(api.db) == 0


async def test_malformed_xml_gets_400(api):
    for data in (b"<alert", b"not xml at all", "<alert>é</alert>".encode("latin-1")):
        status, body = await api.post(data)
        assert status == 400 and body["error"]["code"] == "invalid_cap"
        assert body["error"]["message"].startswith("malformed XML")
    assert await count_alerts(api.db) == 0


async def test_a_body_over_the_cap_gets_413(api):
    big = sample(RAIN).replace(b"</alert>", b"<!--" + b"x" * LIMIT + b"--></alert>")
    status, body = await api.post(big)
    assert status == 413 and body["error"]["code"] == "too_large"

    async def chunks():  # no Content-Length: counted while read
        for _ in range(LIMIT // 1024 + 2):
            yield b" " * 1024

    status, body = await api.post(chunks())
    assert status == 413 and body["error"]["code"] == "too_large"
    # Compressed below the cap, over it once decoded.
    status, body = await api.post(gzip.compress(big), headers={"Content-Encoding": "gzip"})
    assert status == 413
    assert await count_alerts(api.db) == 0


async def test_tokens_scopes_and_content_types(api):
    status, body = await api.post(sample(RAIN), token=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await api.post(sample(RAIN), token="loa_not-a-token")
    assert status == 401 and body["error"]["code"] == "invalid_token"
    status, body = await api.post(sample(RAIN), token=api.other_scope)
    assert status == 403 and body["error"]["code"] == "insufficient_scope"
    status, body = await api.post(sample(RAIN), content_type="application/json")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    async with api.db.transaction() as session:
        row = (await session.execute(select(tokens.ApiToken).where(
            tokens.ApiToken.token_hash == tokens.digest(api.token)))).scalar_one()
        await tokens.revoke(session, row.id)
    status, body = await api.post(sample(RAIN))
    assert status == 401
    assert await count_alerts(api.db) == 0


# ---------------------------------------------------------------- feeds


ATOM_ENTRY = """<entry>
  <id>urn:loa-test:{name}</id>
  <title>{name}</title>
  <updated>{updated}</updated>
  <link rel="alternate" type="application/cap+xml" href="/cap/{name}"/>
</entry>"""


class FeedServer:
    """An Atom feed of CAP documents, with ETags, served over real HTTP."""

    def __init__(self) -> None:
        self.entries: list[str] = []  # CAP file names, newest first
        self.requests: list[tuple[str, str, int]] = []  # (path, If-None-Match, status)
        self.fail_with: int | None = None
        self.body: bytes | None = None  # served instead of the feed
        self.documents: dict[str, bytes] = {}  # served at /cap/{name} before the fixtures

    def feed(self) -> bytes:
        entries = "\n".join(ATOM_ENTRY.format(name=name, updated="2026-11-24T08:00:00Z") for name in self.entries)
        return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
                f"<id>urn:loa-test:feed</id><title>Test</title><updated>2026-11-24T08:00:00Z</updated>"
                f"{entries}</feed>").encode()

    async def serve_feed(self, request: web.Request) -> web.Response:
        if self.fail_with:
            return self._log(request, web.Response(status=self.fail_with, text="down"))
        body = self.body if self.body is not None else self.feed()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            return self._log(request, web.Response(status=304, headers={"ETag": etag}))
        return self._log(request, web.Response(body=body, content_type="application/atom+xml", headers={"ETag": etag}))

    async def serve_cap(self, request: web.Request) -> web.Response:
        if request.match_info["name"] in self.documents:
            return self._log(request, web.Response(body=self.documents[request.match_info["name"]], content_type=XML))
        path = FIXTURES / request.match_info["name"]
        if not path.is_file():
            return self._log(request, web.Response(status=404))
        return self._log(request, web.Response(body=path.read_bytes(), content_type=XML))

    def _log(self, request: web.Request, response: web.Response) -> web.Response:
        self.requests.append((request.path, request.headers.get("If-None-Match", ""), response.status))
        return response

    def fetched(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == path)


@pytest.fixture
async def feed_server():
    server = FeedServer()
    app = web.Application()
    app.router.add_get("/feed.xml", server.serve_feed)
    app.router.add_get("/cap/{name}", server.serve_cap)
    async with TestServer(app) as http:
        server.url = str(http.make_url("/feed.xml"))
        server.base = str(http.make_url("/"))
        yield server


def poller_for(db, url: str, woken: list | None = None) -> feeds.FeedPoller:
    settings = Settings(_env_file=None, DATABASE_URL=db.url, LOA_CAP_FEEDS=url, LOA_MAX_BODY_BYTES=str(LIMIT))
    return feeds.FeedPoller(db, settings, on_queued=(lambda: woken.append(1)) if woken is not None else None)


async def stored_feed(db, url: str) -> CapFeed:
    async with db.read() as session:
        return await session.get(CapFeed, url)


async def test_a_feed_is_polled_with_etags_and_each_alert_taken_once(db, areas_loaded, feed_server):
    subscribed = await residents(db, "00070", 1000, topics=("weather", "traffic"))
    feed_server.entries = ["loa-hoan-kiem-closure.cap", RAIN]
    woken: list = []
    poller = poller_for(db, feed_server.url, woken)

    [first] = await poller.poll_all()
    assert first.status == 200 and len(first.taken) == 2 and first.summary is None, first
    assert await count_alerts(db) == 2 and woken
    for alert_id in first.taken:
        assert await deliveries(db, alert_id) == dict.fromkeys(subscribed, PENDING)
    row = await stored_feed(db, feed_server.url)
    assert row.etag and row.last_status == 200 and row.last_error is None and row.checked_at

    [second] = await poller.poll_all()  # unchanged: a 304 through the ETag, nothing new
    assert second.status == 304 and second.taken == []
    assert feed_server.requests[-1] == ("/feed.xml", row.etag, 304)
    assert await count_alerts(db) == 2

    feed_server.entries.insert(0, "loa-hanoi-rain-update.cap")  # a new entry
    [third] = await poller.poll_all()
    assert third.status == 200 and len(third.taken) == 1
    correction = await get_alert(db, third.taken[0])
    assert correction.kind == "correction"
    assert feed_server.fetched(f"/cap/{RAIN}") == 1  # the entries taken before are not fetched again
    assert feed_server.fetched("/cap/loa-hanoi-rain-update.cap") == 1
    assert (await poller.poll_all())[0].status == 304

    # A restarted bot (nothing in memory) whose feed changed: fetched again, taken once only.
    feed_server.entries.append("loa-canada-original.cap")
    restarted = poller_for(db, feed_server.url)
    [fourth] = await restarted.poll_all()
    assert fourth.status == 200 and len(fourth.taken) == 1 and fourth.duplicates == 3
    assert await count_alerts(db) == 4


async def test_entries_are_taken_in_the_order_they_were_sent(db, areas_loaded, feed_server):
    await residents(db, "00070", 1000)
    feed_server.entries = ["loa-hanoi-rain-update.cap", RAIN]  # the update listed first
    [result] = await poller_for(db, feed_server.url).poll_all()
    first, second = [await get_alert(db, alert_id) for alert_id in result.taken]
    assert (first.kind, second.kind, second.replaces_id) == ("alert", "correction", first.id)


async def test_feed_problems_are_recorded_and_never_raised(db, feed_server):
    poller = poller_for(db, feed_server.url)
    feed_server.fail_with = 503
    [result] = await poller.poll_all()
    assert result.status == 503 and (await stored_feed(db, feed_server.url)).last_error.endswith("HTTP 503")

    feed_server.fail_with = None
    feed_server.body = b"<html><body>not a feed"
    await poller.poll_all()
    assert "malformed XML" in (await stored_feed(db, feed_server.url)).last_error

    feed_server.body = BOMB
    await poller.poll_all()
    assert "DOCTYPE is not allowed" in (await stored_feed(db, feed_server.url)).last_error

    # One bad entry among good ones: the good ones are taken, the bad ones named.
    feed_server.body = None
    feed_server.entries = ["missing.cap", "invalid.cap", "oasis_amber_alert_example.xml"]
    [result] = await poller.poll_all()
    assert len(result.taken) == 1
    error = (await stored_feed(db, feed_server.url)).last_error
    assert "missing.cap: HTTP 404" in error and "invalid.cap: /alert: <alert>: <scope> is missing" in error

    # Nobody listening: recorded too.
    closed = "http://127.0.0.1:9/feed.xml"
    [result] = await poller.poll_all([closed])
    assert result.status is None and (await stored_feed(db, closed)).last_error.startswith(closed)
    assert await count_alerts(db) == 1


async def test_a_feed_that_is_one_cap_document(db, feed_server):
    feed_server.body = sample("oasis_amber_alert_example.xml")
    poller = poller_for(db, feed_server.url)
    assert len((await poller.poll_all())[0].taken) == 1
    async with db.transaction() as session:  # a server that ignores ETags
        (await session.get(CapFeed, feed_server.url)).etag = None
    [again] = await poller.poll_all()
    assert again.status == 200 and again.taken == [] and again.duplicates == 1
    assert await count_alerts(db) == 1


async def test_an_atom_entry_can_carry_the_cap_document(db, feed_server):
    document = sample("oasis_amber_alert_example.xml").decode().split("?>", 1)[1]
    feed_server.body = (f'<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><entry><id>e1</id>'
                        f'<updated>2026-11-24T08:00:00Z</updated><content type="application/cap+xml">{document}'
                        f"</content></entry></feed>").encode()
    [result] = await poller_for(db, feed_server.url).poll_all()
    assert len(result.taken) == 1 and result.summary is None


def test_add_jobs_polls_the_configured_feeds():
    from telegram.ext import ApplicationBuilder

    application = ApplicationBuilder().token("123456:TEST-token").build()
    application.bot_data["settings"] = Settings(_env_file=None, LOA_CAP_FEEDS="")
    feed_job.add_jobs(application)
    assert not application.job_queue.get_jobs_by_name(feed_job.JOB_NAME)
    application.bot_data["settings"] = Settings(
        _env_file=None, LOA_CAP_FEEDS="https://a.example/cap.atom, ftp://no, https://a.example/cap.atom,https://b.example/x.xml",
        LOA_CAP_FEED_SECONDS="45")
    assert feeds.feed_urls(application.bot_data["settings"]) == ["https://a.example/cap.atom", "https://b.example/x.xml"]
    feed_job.add_jobs(application)
    [job] = application.job_queue.get_jobs_by_name(feed_job.JOB_NAME)
    assert job.job.trigger.interval.total_seconds() == 45


# ---------------------------------------------------------------- bounded work: hostile input, big shapes


ALERT_TAG = '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'


def with_attributes(count: int) -> bytes:
    attributes = " ".join(f'a{n}="x"' for n in range(count))
    return replace(sample(RAIN), ALERT_TAG, f'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" {attributes}>')


def with_geocodes(count: int, data: bytes | None = None, after: str = "</areaDesc>") -> bytes:
    """The rain warning with `count` more geocodes in each of its two info blocks (3 elements each)."""
    more = "".join(f"<geocode><valueName>x</valueName><value>9{n:05d}</value></geocode>" for n in range(count))
    return replace(data or sample(RAIN), after, f"{after}{more}", -1)


async def test_a_message_with_30000_attributes_is_refused_before_the_schema(roomy_api):
    api = roomy_api
    status, body = await api.post(with_attributes(30_000))  # about 300 KB
    assert status == 400, body
    assert body["error"]["code"] == "too_complex" and "30,000 attributes" in body["error"]["message"]
    status, body = await api.post(with_attributes(cap.MAX_ATTRIBUTES + 1))
    assert status == 400 and body["error"]["code"] == "too_complex"
    # Too many elements (each allowed by the schema): refused the same way.
    status, body = await api.post(with_geocodes(cap.MAX_ELEMENTS // 6 + 1))
    assert status == 400 and body["error"]["code"] == "too_complex", body
    assert f"more than {cap.MAX_ELEMENTS:,} elements" in body["error"]["message"]
    # A few attributes (a signature has some) still meet the schema, which names them.
    status, body = await api.post(with_attributes(3))
    assert status == 400 and body["error"]["code"] == "invalid_cap" and "'a0' attribute" in body["error"]["message"]
    assert await count_alerts(api.db) == 0


@pytest.mark.parametrize("encoding", ["UTF-7", "x-no-such-encoding", "Big5"])
async def test_an_encoding_expat_cannot_read_gets_400(api, encoding):
    data = replace(sample(RAIN), 'encoding="UTF-8"', f'encoding="{encoding}"')
    status, body = await api.post(data)
    assert status == 400, body
    assert body["error"]["code"] == "invalid_cap" and body["error"]["field"] == "/"
    assert f"encoding {encoding!r}" in body["error"]["message"] and "send UTF-8" in body["error"]["message"]
    assert await count_alerts(api.db) == 0


async def test_detailed_polygons_are_matched_and_shapes_above_the_caps_refused(roomy_api, areas_loaded):
    status, body = await roomy_api.post(cap_shapes.with_polygons(cap_shapes.disc(2400)))
    assert status == 201, body
    matched = body["alert"]["areas"]
    assert "00070" in matched and 5 < len(matched) < 30 and "01" not in matched
    # A band of the same size around the whole city, outside it: its bounding box covers every
    # ward, it meets none.
    status, body = await roomy_api.post(cap_shapes.with_polygons(cap_shapes.band(2400), identifier="band"))
    assert status == 201 and body["alert"]["areas"] == [] and "no area" in body["warnings"][0]

    status, body = await roomy_api.post(cap_shapes.with_polygons(cap_shapes.disc(cap.MAX_POLYGON_POINTS),
                                                                 identifier="too-many-points"))
    assert status == 400 and body["error"]["code"] == "too_complex", body
    assert body["error"]["field"] == "/alert/info[1]/area[1]/polygon[1]"
    assert f"at most {cap.MAX_POLYGON_POINTS:,} coordinate pairs" in body["error"]["message"]
    circles = "".join("<circle>21.0287,105.8524 1</circle>" for _ in range(cap.MAX_SHAPES // 2 + 1))
    status, body = await roomy_api.post(replace(sample(RAIN), "</areaDesc>", f"</areaDesc>{circles}", -1))
    assert status == 400 and body["error"]["code"] == "too_complex"
    assert f"at most {cap.MAX_SHAPES} polygons and circles" in body["error"]["message"]
    assert await count_alerts(roomy_api.db) == 2


async def test_a_message_over_its_time_budget_is_refused():
    data = with_geocodes(1500)
    with pytest.raises(cap.CapTooComplex) as refused:
        await cap.parse_off_the_loop(data, budget=0)
    assert "took more than 0 s" in str(refused.value)
    assert (await cap.parse_off_the_loop(data)).identifier == "HN-KTTV-2026-0001"


# ---------------------------------------------------------------- deduplication per agency


async def add_agency(db, code: str) -> str:
    async with db.transaction() as session:
        session.add(Agency(code=code, name_vi=code, name_en=code))
        await session.flush()
        _, token = await tokens.create(session, name=f"{code} CAP", agency_code=code, scopes=["alerts"])
    return token


async def test_the_same_sender_and_identifier_from_another_agency_is_not_a_duplicate(api, areas_loaded):
    reached = await residents(api.db, "00070", 1000)
    other = await add_agency(api.db, "other")
    test_message = replace(sample(RAIN), "<status>Actual</status>", "<status>Test</status>", -1)
    status, first = await api.post(test_message)  # agency kttv: a Test, held
    assert status == 201 and first["queued"] is False

    status, body = await api.post(sample(RAIN), token=other)  # agency other: Actual, same sender and identifier
    assert status == 201, body
    assert body["duplicate"] is False and body["queued"] is True and body["recipients"] == len(reached)
    mine = body["alert"]
    assert mine["id"] != first["alert"]["id"] and mine["status"] == "sending"
    assert (await get_alert(api.db, mine["id"])).agency_code == "other"
    assert await deliveries(api.db, mine["id"]) == dict.fromkeys(reached, PENDING)

    # Each agency's repeat finds its own alert, never the other's.
    status, again = await api.post(sample(RAIN), token=other)
    assert status == 200 and again["duplicate"] is True and again["alert"]["id"] == mine["id"]
    status, again = await api.post(sample(RAIN))
    assert status == 200 and again["alert"]["id"] == first["alert"]["id"] and again["alert"]["status"] == "done"
    # The city's feeds are one more owner.
    taken = await cap.take(api.db, cap.parse(sample(RAIN)), tz=api.settings.tz)
    assert taken.created and taken.alert.agency_code is None
    assert taken.alert.id not in (first["alert"]["id"], mine["id"])
    again = await cap.take(api.db, cap.parse(sample(RAIN)), tz=api.settings.tz)
    assert not again.created and again.alert.id == taken.alert.id
    assert await count_alerts(api.db) == 3


async def test_a_cancel_reaches_only_its_own_agencys_alert(api, areas_loaded):
    await residents(api.db, "00070", 1000)
    other = await add_agency(api.db, "other")
    mine = (await api.post(sample(RAIN)))[1]["alert"]["id"]
    theirs = (await api.post(sample(RAIN), token=other))[1]["alert"]["id"]
    status, body = await api.post(sample("loa-hanoi-rain-cancel.cap"), token=other)
    assert status == 201 and body["alert"]["replaces_id"] == theirs
    assert (await get_alert(api.db, theirs)).status == alerts.Status.CANCELLED
    assert (await get_alert(api.db, mine)).status == alerts.Status.SENDING


# ---------------------------------------------------------------- the server keeps answering


@pytest.fixture
def settings(emulator, db, tmp_path):
    return settings_for(emulator, db, LOA_MEDIA_DIR=str(tmp_path / "media"), HTTP_HOST="127.0.0.1", HTTP_PORT="0")


async def test_healthz_keeps_answering_while_cap_messages_are_processed(application, emulator, settings, db):
    """Four messages at the element cap, each with a 2,400-point polygon: a second or more of
    parsing, schema checks and geometry. /healthz, polled every 50 ms meanwhile, answers
    throughout (on the event loop, the work would hold every answer until it is done), at a rate
    compared with the same poller's on the same machine just before, so that load does not count."""
    token = await add_agency(db, "kttv")
    heavy = [with_geocodes(cap.MAX_ELEMENTS // 6 - 60,
                           cap_shapes.with_polygons(cap_shapes.disc(2400), identifier=f"heavy-{n}"),
                           after="</polygon>")
             for n in range(4)]
    async with served(application, emulator, settings, db) as (base, session):
        async def post(data: bytes):
            async with session.post(base + cap_route.PATH, data=data, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": XML}) as response:
                return response.status, await response.json()

        async def poll_while(busy) -> tuple[int, float]:
            """/healthz every 50 ms while `busy()`: how many answers, in how many seconds."""
            loop = asyncio.get_running_loop()
            started, answered = loop.time(), 0
            while busy():
                async with session.get(base + "/healthz") as response:
                    assert response.status == 200
                answered += 1
                await asyncio.sleep(0.05)
            return answered, loop.time() - started

        quiet_until = asyncio.get_running_loop().time() + 1.0
        quiet, quiet_seconds = await poll_while(lambda: asyncio.get_running_loop().time() < quiet_until)
        posts = asyncio.gather(*(post(data) for data in heavy))
        answered, seconds = await poll_while(lambda: not posts.done())
        answers = await posts
    assert [status for status, _ in answers] == [201] * 4, answers
    assert all("00070" in body["alert"]["areas"] for _, body in answers)
    assert answered >= 4 and answered / seconds >= 0.4 * quiet / quiet_seconds, (answered, seconds, quiet)


async def test_feeds_take_the_same_bounded_path(db, areas_loaded, feed_server):
    feed_server.documents = {"attributes.cap": with_attributes(5_000),
                             "utf7.cap": replace(sample(RAIN), 'encoding="UTF-8"', 'encoding="UTF-7"')}
    feed_server.entries = ["attributes.cap", "utf7.cap", "loa-hoan-kiem-closure.cap"]
    [result] = await poller_for(db, feed_server.url).poll_all()
    assert len(result.taken) == 1, result
    error = (await stored_feed(db, feed_server.url)).last_error
    assert "attributes.cap: the XML has 5,000 attributes" in error
    assert "utf7.cap: the XML declares the encoding 'UTF-7'" in error
    # A feed that is itself one hostile document: refused the same way.
    feed_server.body = with_attributes(5_000)
    [result] = await poller_for(db, feed_server.url).poll_all()
    assert "5,000 attributes" in result.summary and not result.taken
    assert await count_alerts(db) == 1


async def test_the_area_index_follows_the_areas_as_they_change(db, areas_loaded):
    far = replace(sample(RAIN), "<areaDesc>Thành phố Hà Nội</areaDesc>",
                  "<areaDesc>x</areaDesc><polygon>10.0,100.0 10.0,100.1 10.1,100.1 10.0,100.0</polygon>", -1)
    far = replace(far, "<value>01</value>", "<value>nothing</value>", -1)
    assert await cap.match_areas(db, cap.parse(far)) == []
    square = {"type": "Polygon",
              "coordinates": [[[100.0, 10.0], [100.2, 10.0], [100.2, 10.2], [100.0, 10.2], [100.0, 10.0]]]}
    async with db.transaction() as session:  # as `loa areas import` would, from another process
        session.add(Area(code="99999", level=0, kind="province", name_vi="Thử", name_en="Test", full_name_vi="Tỉnh Thử",
                         full_name_en="Test Province", search_name="thu", min_lon=100.0, min_lat=10.0, max_lon=100.2,
                         max_lat=10.2, boundary=json.dumps(square)))
    assert await cap.match_areas(db, cap.parse(far)) == ["99999"]
