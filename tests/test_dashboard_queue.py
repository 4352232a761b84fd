"""The dashboard's queues over HTTP: the moderators' triage queue and the agency's queue, their
filters, state counts, sorting, paging, exports, and who may see what."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest

from tests.fixtures.bot import served
from tests.fixtures.city import BA_DINH, BA_DINH_WARD, HOAN_KIEM_WARD, REPORTER, add_report, grant
from tests.fixtures.dashboard import browser_at, web_settings
from tests.fixtures.residents import HOAN_KIEM


@pytest.fixture
def settings(emulator, db, tmp_path):
    return web_settings(emulator, db, tmp_path, LOA_DEFAULT_LANGUAGE="en")


def codes_on(page: str) -> list[str]:
    """The reports of a queue page, in order."""
    return re.findall(r'<tr class="[^"]*" data-code="([^"]+)"', page)


def tab_counts(page: str) -> dict[str, int]:
    return {state: int(count.replace(",", "").replace(".", "")) for state, count in
            re.findall(r'data-state="([a-z_]+)">[^<]*<span class="count">([\d.,]+)</span>', page)}


async def test_the_triage_queue_filters_counts_and_sorts(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    a = await add_report(db, priority="urgent", description="Ổ gà rất lớn trước số 25, xe máy ngã.",
                         age=timedelta(hours=5))
    b = await add_report(db, category="sanitation", area=BA_DINH_WARD, point=BA_DINH, overdue=True,
                         description="Rubbish has not been collected for a week.", age=timedelta(hours=4))
    c = await add_report(db, area=BA_DINH_WARD, point=BA_DINH, state="assigned", agency="hn-so-gtvt",
                         age=timedelta(hours=3))
    d = await add_report(db, state="reopened", agency="hn-so-gtvt", age=timedelta(hours=2))
    e = await add_report(db, category="sanitation", state="resolved", agency="hn-urenco", age=timedelta(hours=1))
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get("/dashboard/queue")
        assert status == 200
        # By default: what needs a moderator (received, reopened), the most pressing first.
        assert set(codes_on(page)) == {a, b, d}
        assert tab_counts(page) == {"default": 3, "submitted": 2, "assigned": 1, "in_progress": 0, "resolved": 1,
                                    "closed": 0, "rejected": 0, "duplicate": 0, "reopened": 1, "all": 5}
        assert 'data-state="default">To triage' in page and 'aria-current="true" data-state="default"' in page
        assert REPORTER not in page, "the queue never names the reporter"
        row = page[page.index(f'data-code="{a}"'):]
        row = row[:row.index("</tr>")]
        assert 'class="badge urgent"' in row and "Traffic and roads" in row and "Hoan Kiem" in row
        assert f'href="/dashboard/reports/{a}"' in row
        assert f'<tr class="overdue" data-code="{b}">' in page
        assert 'href="/dashboard/queue?sort=-priority"' in page, "urgent first at the first click"

        async def shown(query: str) -> list[str]:
            status, page = await browser.get("/dashboard/queue?" + query)
            assert status == 200, page
            return codes_on(page)

        assert await shown("category=sanitation") == [b]
        assert set(await shown("area=" + HOAN_KIEM_WARD)) == {a, d}
        assert set(await shown("area=01&state=all")) == {a, b, c, d, e}, "a province holds its wards"
        assert await shown("state=assigned") == [c]
        assert set(await shown("agency=hn-so-gtvt&state=all")) == {c, d}
        assert await shown("priority=urgent") == [a]
        assert await shown("overdue=1") == [b]
        assert await shown("q=ổ+gà") == [a]
        assert await shown(f"q={c.lower()}&state=all") == [c]
        # The counts are those of the rest of the filter.
        status, page = await browser.get("/dashboard/queue?category=sanitation")
        assert tab_counts(page)["all"] == 2 and tab_counts(page)["resolved"] == 1
        # Links keep the filter: the tabs, the column headers, the exports.
        assert "/dashboard/queue?category=sanitation&amp;state=all" in page
        assert "/dashboard/queue?category=sanitation&amp;sort=code" in page
        assert "/dashboard/queue.csv?category=sanitation" in page

        # Sorting by a column header, then the other way by clicking it again.
        assert await shown("state=all&sort=created") == [a, b, c, d, e]
        status, page = await browser.get("/dashboard/queue?state=all&sort=created")
        assert 'aria-sort="ascending"' in page and "/dashboard/queue?state=all&amp;sort=-created" in page
        assert await shown("state=all&sort=-created") == [e, d, c, b, a]
        assert (await shown("state=all&sort=priority"))[-1] == a and (await shown("state=all&sort=-priority"))[0] == a
        assert await shown("state=all&sort=code") == sorted([a, b, c, d, e])


async def test_the_queue_pages_by_fifty_and_the_links_keep_the_filter(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    made = [await add_report(db, age=timedelta(minutes=i)) for i in range(120)]
    await add_report(db, category="sanitation")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        status, page = await browser.get("/dashboard/queue?category=roads&sort=-created")
        assert len(codes_on(page)) == 50 and codes_on(page) == made[:50]
        assert "120 reports" in page and "Page 1 of 3" in page
        assert 'rel="next" href="/dashboard/queue?category=roads&amp;sort=-created&amp;page=2"' in page
        assert 'rel="prev"' not in page
        status, page = await browser.get("/dashboard/queue?category=roads&sort=-created&page=3")
        assert codes_on(page) == made[100:] and "Page 3 of 3" in page and 'rel="next"' not in page
        assert 'rel="prev" href="/dashboard/queue?category=roads&amp;sort=-created&amp;page=2"' in page
        # Beyond the last page, or nonsense: a page that exists.
        status, page = await browser.get("/dashboard/queue?category=roads&sort=-created&page=99")
        assert status == 200 and "Page 3 of 3" in page
        status, page = await browser.get("/dashboard/queue?category=roads&sort=-created&page=x")
        assert status == 200 and "Page 1 of 3" in page


async def test_exports_follow_the_filter_and_never_name_the_reporter(application, emulator, settings, db, city):
    mai = emulator.user(first_name="Mai")
    await grant(db, mai, "moderator")
    xss = "<script>alert(1)</script> and <b>bold</b>, =1+1"
    a = await add_report(db, description=xss, address="<b>Số 25</b> Hàng Bài")
    b = await add_report(db, point=None, area=BA_DINH_WARD)
    await add_report(db, category="sanitation")
    async with served(application, emulator, settings, db) as (base, _), browser_at(base) as browser:
        await browser.sign_in(mai)
        async with browser.http.get(base + "/dashboard/queue.csv?category=roads") as response:
            assert response.status == 200 and response.content_type == "text/csv"
            assert response.headers["Content-Disposition"].startswith('attachment; filename="loa-queue-')
            text = (await response.read()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert {row["code"] for row in rows} == {a, b}
        first = next(row for row in rows if row["code"] == a)
        assert first["description"] == xss and first["state"] == "submitted" and first["category_code"] == "roads"
        assert REPORTER not in text and "reporter" not in text.splitlines()[0]
        async with browser.http.get(base + "/dashboard/queue.geojson?category=roads") as response:
            assert response.status == 200 and response.content_type == "application/geo+json"
            assert response.headers["Content-Disposition"].startswith('attachment; filename="loa-queue-')
            data = json.loads(await response.text())
        assert data["type"] == "FeatureCollection"
        [feature] = data["features"]  # the report without coordinates is not on a map
        assert feature["properties"]["code"] == a
        assert feature["geometry"]["coordinates"] == [HOAN_KIEM[1], HOAN_KIEM[0]]
        assert REPORTER not in json.dumps(data, ensure_ascii=False)

        # On the page, what residents typed is text.
        status, page = await browser.get("/dashboard/queue")
        assert "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt;" in page
        assert "<script>alert" not in page and "<b>bold" not in page


async def test_who_may_see_which_queue(application, emulator, settings, db, city):
    mai, hung, bao, lan = (emulator.user(first_name=name) for name in ("Mai", "Hùng", "Bảo", "Lan"))
    await grant(db, mai, "moderator")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    await grant(db, bao, "broadcaster")
    await add_report(db, state="assigned", agency="hn-so-gtvt")
    async with served(application, emulator, settings, db) as (base, _):
        async with browser_at(base) as nobody:
            async with nobody.http.get(base + "/dashboard/queue", allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == "/dashboard/signed-out"
        async with browser_at(base) as browser:
            await browser.sign_in(hung)
            for path in ("/dashboard/queue", "/dashboard/queue.csv", "/dashboard/queue.geojson",
                         "/dashboard/agency?agency=hn-urenco", "/dashboard/agency.csv?agency=hn-urenco"):
                status, page = await browser.get(path)
                assert status == 403 and "Your role does not allow this" in page, path
        async with browser_at(base) as browser:
            await browser.sign_in(mai)
            for path in ("/dashboard/agency", "/dashboard/agency.csv"):
                status, _page = await browser.get(path)
                assert status == 403, path
        async with browser_at(base) as browser:
            await browser.sign_in(bao)
            for path in ("/dashboard/queue", "/dashboard/agency", "/dashboard/queue.geojson"):
                status, _page = await browser.get(path)
                assert status == 403, path
        # A resident without any role gets no link at all (tests/test_dashboard_signin.py).
        await lan.send("/dashboard")
        assert "/dashboard/login" not in (await lan.next_message()).text


async def test_the_agency_queue_shows_only_the_agencys_reports(application, emulator, settings, db, city):
    hung, thu = emulator.user(first_name="Hùng"), emulator.user(first_name="Thu")
    await grant(db, hung, "agency_staff", "hn-so-gtvt")
    await grant(db, thu, "agency_staff", "hn-so-gtvt")
    await grant(db, thu, "agency_staff", "hn-urenco")
    assigned = await add_report(db, state="assigned", agency="hn-so-gtvt", age=timedelta(hours=3))
    working = await add_report(db, state="in_progress", agency="hn-so-gtvt", age=timedelta(hours=2))
    back = await add_report(db, state="reopened", agency="hn-so-gtvt", age=timedelta(hours=1))
    done = await add_report(db, state="resolved", agency="hn-so-gtvt")
    theirs = await add_report(db, category="sanitation", state="assigned", agency="hn-urenco")
    waiting = await add_report(db, state="submitted")
    async with served(application, emulator, settings, db) as (base, _):
        async with browser_at(base) as browser:
            await browser.sign_in(hung)
            status, page = await browser.get("/dashboard/agency")
            assert status == 200 and set(codes_on(page)) == {assigned, working, back}
            assert 'data-state="default">To handle' in page
            assert tab_counts(page)["all"] == 4 and tab_counts(page)["submitted"] == 0
            assert 'name="agency"' not in page, "one agency: nothing to choose"
            status, page = await browser.get("/dashboard/agency?state=all")
            assert set(codes_on(page)) == {assigned, working, back, done}
            assert theirs not in page and waiting not in page
            status, page = await browser.get("/dashboard/agency?state=all&sort=created")
            assert codes_on(page) == [assigned, working, back, done]
            async with browser.http.get(base + "/dashboard/agency.csv?state=all") as response:
                assert response.headers["Content-Disposition"].startswith('attachment; filename="loa-agency-')
                text = (await response.read()).decode("utf-8-sig")
            assert {row["code"] for row in csv.DictReader(io.StringIO(text))} == {assigned, working, back, done}
            async with browser.http.get(base + "/dashboard/agency.geojson?state=all") as response:
                features = json.loads(await response.text())["features"]
            assert {f["properties"]["code"] for f in features} == {assigned, working, back, done}
        async with browser_at(base) as browser:
            await browser.sign_in(thu)
            status, page = await browser.get("/dashboard/agency")
            assert set(codes_on(page)) == {assigned, working, back} and 'name="agency"' in page
            status, page = await browser.get("/dashboard/agency?agency=hn-urenco")
            assert codes_on(page) == [theirs]
            assert "/dashboard/agency?agency=hn-urenco&amp;state=all" in page

