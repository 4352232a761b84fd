"""The dashboard's triage queue (complaints.queue) on SQLite and PostgreSQL: every filter alone and
together, areas with the units below them, overdue, search, the sorts, paging, the counts per
state, and the exports, which never show who reported."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import column, insert, table, text

from complaints import codes, queue, reports
from complaints.queue import QueueFilter, QueueRow
from storage import migrate
from storage.models import Agency, Area, Resident
from storage.types import utcnow

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
# Three levels: province 90 > district 9001 > ward 900101; and province 91 beside it.
PROVINCE, DISTRICT, WARD, OTHER = "90", "9001", "900101", "91"
REPORTER = "Trần Bí Mật"
REPORTER_TELEGRAM_ID = 987_654_321
OPEN = ("submitted", "assigned", "in_progress", "reopened")
DONE = ("resolved", "closed", "rejected", "duplicate")


def code_for(n: int) -> str:
    digits = []
    for _ in range(codes.LENGTH):
        n, rest = divmod(n, len(codes.ALPHABET))
        digits.append(codes.ALPHABET[rest])
    return codes.PREFIX + "".join(reversed(digits))


class Reports:
    """Files reports through complaints.reports.file (by the same resident, with the reporter's
    name), then sets what triage would have set; each defaults to a submitted `roads` report
    filed an hour before NOW."""

    def __init__(self, db, resident_id: int) -> None:
        self.db = db
        self.resident_id = resident_id
        self.n = 0

    async def add(self, description: str = "Ổ gà lớn giữa đường", *, category: str = "roads", age=HOUR,
                  area: str | None = None, point: tuple[float, float] | None = None, address: str | None = None,
                  photos: int = 0, state: str = "submitted", agency: str | None = None, priority: str = "normal",
                  overdue: bool = False, due="filed", updated_age=None, rating: str | None = None,
                  code: str | None = None):
        self.n += 1
        code = code or code_for(self.n)
        async with self.db.transaction() as session:
            report = await reports.file(
                session, category_code=category, description=description,
                latitude=point[0] if point else None, longitude=point[1] if point else None,
                area_code=area, address_text=address, resident_id=self.resident_id, reporter_name=REPORTER,
                photos=[{"file_id": f"file-{self.n}-{i}", "file_unique_id": f"u-{self.n}-{i}"} for i in range(photos)],
                now=NOW - age, new_code=lambda: code)
            report.state, report.agency_code, report.priority, report.rating = state, agency, priority, rating
            report.rating_comment = "Bình luận riêng của người dân" if rating else None
            if overdue:
                report.overdue_at = NOW - age + 30 * HOUR
            if due != "filed":
                report.due_at = due
            if updated_age is not None:
                report.updated_at = NOW - updated_age
            await session.flush()
            session.expunge(report)
            return report


@pytest.fixture
async def made(db) -> Reports:
    """`db` with an area tree, two agencies and a resident who files every report."""
    async with db.transaction() as session:
        tree = ((PROVINCE, None, 0), (OTHER, None, 0), (DISTRICT, PROVINCE, 1), (WARD, DISTRICT, 2))
        for code, parent, level in tree:
            session.add(Area(code=code, parent_code=parent, level=level, name_vi=f"Khu {code}", name_en=f"Area {code}",
                             full_name_vi=f"Khu {code}", full_name_en=f"Area {code}"))
            await session.flush()
        session.add(Agency(code="ag-roads", name_vi="Sở Giao thông", name_en="Transport Department"))
        session.add(Agency(code="ag-waste", name_vi="URENCO", name_en="URENCO"))
        resident = Resident(telegram_id=REPORTER_TELEGRAM_ID, first_name=REPORTER)
        session.add(resident)
        await session.flush()
        resident_id = resident.id
    return Reports(db, resident_id)


async def page(db, f: QueueFilter = QueueFilter(), **options) -> queue.QueuePage:
    async with db.read() as session:
        return await queue.page(session, f, **options)


async def export(db, f: QueueFilter = QueueFilter(), **options) -> list[QueueRow]:
    async with db.read() as session:
        return await queue.export_rows(session, f, **options)


async def found(db, f: QueueFilter, **options) -> list[str]:
    return [row.code for row in (await page(db, f, **options)).rows]


async def found_set(db, f: QueueFilter) -> set[str]:
    """The codes a filter finds on one page, checked to be those of pages of one (on SQLite the
    first of these walk an index, the last ones sort what matched)."""
    codes_found = await found(db, f)
    one_by_one = []
    for number in range(1, len(codes_found) + 2):
        one_by_one += await found(db, f, page=number, per_page=1)
    assert one_by_one[:len(codes_found)] == codes_found, f
    return set(codes_found)


# ---------------------------------------------------------------- rows and filters


async def test_without_a_filter_every_report_comes_newest_first_with_its_fields(made):
    db = made.db
    older = await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", age=3 * HOUR)
    report = await made.add("Ổ gà lớn trước số 12", area=WARD, point=(21.0285, 105.8542), address="Số 12 phố Huế",
                            photos=2, state="resolved", agency="ag-roads", priority="urgent", rating="satisfied")
    result = await page(db)
    assert [row.code for row in result.rows] == [report.code, older.code]
    assert (result.total, result.page, result.per_page, result.pages) == (2, 1, 50, 1)
    assert result.rows[0] == QueueRow(
        id=report.id, code=report.code, state="resolved", priority="urgent", category_code="roads", area_code=WARD,
        agency_code="ag-roads", description="Ổ gà lớn trước số 12", address_text="Số 12 phố Huế", latitude=21.0285,
        longitude=105.8542, created_at=NOW - HOUR, updated_at=NOW - HOUR, due_at=report.due_at, overdue=False,
        photos=2, rating="satisfied")
    assert report.due_at is not None and result.rows[0].due_at.tzinfo == timezone.utc
    assert result.rows[1].photos == 0 and result.rows[1].latitude is None and result.rows[1].agency_code is None


async def test_each_filter_alone(made):
    db = made.db
    a = await made.add(area=WARD, state="assigned", agency="ag-roads", priority="urgent", age=4 * HOUR)
    b = await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=OTHER, state="in_progress",
                       agency="ag-waste", age=3 * HOUR)
    c = await made.add(area=OTHER, overdue=True, age=2 * HOUR)
    d = await made.add("Cống thoát nước bốc mùi", category="sanitation", state="closed", agency="ag-waste")
    assert await found_set(db, QueueFilter(states=("assigned",))) == {a.code}
    assert await found_set(db, QueueFilter(states=("assigned", "in_progress"))) == {a.code, b.code}
    assert await found_set(db, QueueFilter(states=("in_progress", "closed"))) == {b.code, d.code}
    assert await found_set(db, QueueFilter(category="sanitation")) == {b.code, d.code}
    assert await found_set(db, QueueFilter(area=PROVINCE)) == {a.code}
    assert await found_set(db, QueueFilter(area=OTHER)) == {b.code, c.code}
    assert await found_set(db, QueueFilter(agency="ag-waste")) == {b.code, d.code}
    assert await found_set(db, QueueFilter(priority="urgent")) == {a.code}
    assert await found_set(db, QueueFilter(priority="normal")) == {b.code, c.code, d.code}
    assert await found_set(db, QueueFilter(overdue=True)) == {c.code}
    assert await found_set(db, QueueFilter(search="rác")) == {b.code}
    assert await found_set(db, QueueFilter(search=c.code)) == {c.code}
    assert await found_set(db, QueueFilter()) == {a.code, b.code, c.code, d.code}


async def test_filters_combine(made):
    db = made.db
    wanted = await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=WARD, state="assigned",
                            agency="ag-waste", priority="urgent", overdue=True)
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=WARD, state="assigned",
                   agency="ag-waste", priority="urgent")  # not overdue
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=OTHER, state="assigned",
                   agency="ag-waste", priority="urgent", overdue=True)  # elsewhere
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=WARD, state="assigned",
                   agency="ag-waste", priority="normal", overdue=True)  # not urgent
    other_state = await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=WARD, state="in_progress",
                                 agency="ag-waste", priority="urgent", overdue=True)
    await made.add("Rác thải ùn ứ đầu ngõ", category="roads", area=WARD, state="assigned",
                   agency="ag-waste", priority="urgent", overdue=True)  # another category
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", area=WARD, state="assigned",
                   agency="ag-roads", priority="urgent", overdue=True)  # another agency
    other_words = await made.add("Cống thoát nước bốc mùi", category="sanitation", area=WARD, state="assigned",
                                 agency="ag-waste", priority="urgent", overdue=True)
    everything = QueueFilter(states=("assigned",), category="sanitation", area=PROVINCE, agency="ag-waste",
                             priority="urgent", overdue=True, search="rác thải")
    result = await page(db, everything)
    assert [row.code for row in result.rows] == [wanted.code] and result.total == 1
    assert result.rows[0].overdue is True
    assert await found_set(db, dataclasses.replace(everything, states=())) == {wanted.code, other_state.code}
    assert await found_set(db, dataclasses.replace(everything, search=None)) == {wanted.code, other_words.code}


async def test_an_area_takes_in_every_unit_below_it(made):
    db = made.db
    in_province = await made.add(area=PROVINCE)
    in_district = await made.add(area=DISTRICT, state="assigned")
    in_ward = await made.add(area=WARD)
    elsewhere = await made.add(area=OTHER)
    await made.add(area=None)
    assert await found_set(db, QueueFilter(area=PROVINCE)) == {in_province.code, in_district.code, in_ward.code}
    assert await found_set(db, QueueFilter(area=DISTRICT)) == {in_district.code, in_ward.code}
    assert await found_set(db, QueueFilter(area=WARD)) == {in_ward.code}
    province = await page(db, QueueFilter(area=PROVINCE, states=("submitted",)))
    assert province.counts == dict.fromkeys(queue.STATES, 0) | {"submitted": 2, "assigned": 1}
    assert province.total == 2 and {row.code for row in province.rows} == {in_province.code, in_ward.code}
    assert await found_set(db, QueueFilter(area=OTHER)) == {elsewhere.code}
    unknown = await page(db, QueueFilter(area="99"))
    assert unknown.rows == [] and unknown.total == 0 and unknown.pages == 1


async def test_overdue_means_flagged_and_still_open(made):
    db = made.db
    flagged_open = {state: await made.add(state=state, overdue=True) for state in OPEN}
    flagged_done = {state: await made.add(state=state, overdue=True) for state in DONE}
    await made.add(state="assigned")  # open, never flagged
    result = await page(db, QueueFilter(overdue=True))
    assert {row.code for row in result.rows} == {r.code for r in flagged_open.values()}
    assert all(row.overdue for row in result.rows)
    assert result.counts == {state: 1 if state in OPEN else 0 for state in queue.STATES}
    everything = {row.code: row.overdue for row in (await page(db)).rows}
    assert not any(everything[r.code] for r in flagged_done.values())
    assert sum(everything.values()) == len(OPEN)
    assert await found_set(db, QueueFilter(overdue=True, states=("resolved",))) == set()


async def test_a_reference_code_is_found_exactly_in_any_case(made, monkeypatch):
    db = made.db
    report = await made.add(code="PA-7K3Q9")
    mention = await made.add("Trùng với báo cáo PA-7K3Q9 hôm qua")
    await made.add(code="PA-7K3QA")
    for typed in ("PA-7K3Q9", "pa-7k3q9", " Pa 7K3q9 ", "PA7K3Q9"):
        assert await found(db, QueueFilter(search=typed)) == [report.code], typed
    # Without its prefix it may be a word too: the report with that code and those that mention it.
    assert await found_set(db, QueueFilter(search="7k3q9")) == {report.code, mention.code}
    assert await found_set(db, QueueFilter(search="PA-7K3Q")) == {mention.code}  # not a code: words
    assert await found(db, QueueFilter(search="PA-7K3QB")) == []
    monkeypatch.setattr(queue, "ID_LIST_MAX", 0)  # the rows searched again instead of read by id
    assert await found_set(db, QueueFilter(search="7k3q9")) == {report.code, mention.code}


async def search(db, monkeypatch, term: str) -> set[str]:
    """The codes a search finds, checked to be the same when the page's rows are searched again
    rather than read by the ids the count found."""
    first = await found_set(db, QueueFilter(search=term))
    with monkeypatch.context() as patched:
        patched.setattr(queue, "ID_LIST_MAX", 0)
        assert await found_set(db, QueueFilter(search=term)) == first, term
    return first


async def test_words_are_found_in_any_case_with_or_without_diacritics(made, monkeypatch):
    db = made.db
    lamp = await made.add("Đèn chiếu sáng hỏng cả dãy phố", address="Số 5 Hàng Bài")
    drain = await made.add("Cống thoát nước bốc mùi", address="Ngõ 12 phố Huế")
    shouting = await made.add("ĐÈN ĐƯỜNG TẮT CẢ TUẦN NAY")
    inside = await made.add("Cột đèn nghiêng")
    await made.add("Ổ gà lớn giữa đường")
    assert await search(db, monkeypatch, "đèn") == {lamp.code, shouting.code, inside.code}
    assert await search(db, monkeypatch, "ĐÈN") == {lamp.code, shouting.code, inside.code}
    assert await search(db, monkeypatch, "Đèn hỏng") == {lamp.code}  # every word, in any order of the text
    assert await search(db, monkeypatch, "hàng bài") == {lamp.code}  # in the address
    assert await search(db, monkeypatch, "phố huế") == {drain.code}  # "phố" alone is in both
    assert await search(db, monkeypatch, "  BỐC   mùi ") == {drain.code}
    assert await search(db, monkeypatch, "đèn huế") == set()  # the words of two different reports
    assert await search(db, monkeypatch, "den") == {lamp.code, shouting.code, inside.code}  # as staff type
    assert await search(db, monkeypatch, "DEN hong") == {lamp.code}
    assert await search(db, monkeypatch, "cong thoat nuoc") == {drain.code}
    blank = await page(db, QueueFilter(search="   "))
    assert blank.total == 5


async def test_d_with_a_stroke_is_found_as_d_and_tones_never_matter(made, monkeypatch):
    db = made.db
    street = await made.add("Rác thải ở đầu ngõ", address="Ngõ 5 Đội Cấn")
    other = await made.add("Rạc rời biển báo")  # other tones, the same letters
    await made.add("Ổ gà lớn giữa đường", address="Phố Kim Mã")
    for typed in ("Đội Cấn", "doi can", "DOI CAN", "đội cấn", "Doi Can"):
        assert await search(db, monkeypatch, typed) == {street.code}, typed
    assert await search(db, monkeypatch, "rác") == {street.code, other.code}
    assert await search(db, monkeypatch, "rac") == {street.code, other.code}
    assert await search(db, monkeypatch, "rac dau ngo") == {street.code}
    assert await search(db, monkeypatch, "dđ") == set()
    # Words are found by their start: "hỏng" (broken) is not inside "không" (not).
    unlit = await made.add("Đèn không sáng", address="Ngõ (hẻm) 7/2")
    broken = await made.add("Đèn hỏng")
    assert await search(db, monkeypatch, "hong") == {broken.code}
    assert await search(db, monkeypatch, "hỏng") == {broken.code}
    assert await search(db, monkeypatch, "kh") == {unlit.code}
    assert await search(db, monkeypatch, "hem") == {unlit.code}  # after a bracket
    assert await search(db, monkeypatch, "7/2") == {unlit.code}


async def test_percent_and_underscore_in_a_search_are_literal(made, monkeypatch):
    db = made.db
    percent = await made.add("Giảm 50% làn đường vì sửa cống")
    await made.add("Giảm 500 làn đường vì sửa cống")
    underscore = await made.add("Biển báo ghi mã a_b sai chính tả")
    await made.add("Biển báo ghi mã axb sai chính tả")
    backslash = await made.add("Đường dẫn C:\\thu_muc bị hỏng")
    assert await search(db, monkeypatch, "50%") == {percent.code}
    assert await search(db, monkeypatch, "%") == {percent.code}
    assert await search(db, monkeypatch, "a_b") == {underscore.code}
    assert await search(db, monkeypatch, "_") == {underscore.code, backslash.code}
    assert await search(db, monkeypatch, "c:\\thu_muc") == {backslash.code}
    assert await search(db, monkeypatch, "5_%") == set()


# ---------------------------------------------------------------- sorts and pages


async def test_each_sort_orders_the_reports_and_ties_go_to_the_newest(made):
    db = made.db
    add = made.add
    r1 = await add(age=5 * HOUR, updated_age=1 * HOUR, due=NOW + 3 * HOUR, code="PA-MMMMM")
    r2 = await add(age=4 * HOUR, updated_age=3 * HOUR, due=NOW + 1 * HOUR, priority="urgent", code="PA-22222",
                   state="assigned")
    r3 = await add(age=4 * HOUR, updated_age=3 * HOUR, due=NOW + 1 * HOUR, code="PA-ZZZZZ")  # r2's twin
    r4 = await add(age=2 * HOUR, updated_age=2 * HOUR, due=None, priority="urgent", code="PA-AAAAA",
                   state="in_progress")
    r5 = await add(age=1 * HOUR, updated_age=4 * HOUR, due=NOW + 2 * HOUR, code="PA-HHHHH", state="closed")
    await add(age=3 * HOUR, updated_age=0 * HOUR, due=NOW, state="rejected")
    expected = {
        "-created": [r5, r4, r3, r2, r1],
        "created": [r1, r3, r2, r4, r5],
        "-updated": [r1, r4, r3, r2, r5],
        "updated": [r5, r3, r2, r4, r1],
        "due": [r3, r2, r1, r5, r4],  # then no deadline, or closed: newest first
        "-due": [r1, r3, r2, r5, r4],  # those last too
        "-priority": [r4, r2, r5, r3, r1],  # urgent first
        "priority": [r5, r3, r1, r4, r2],
        "code": [r2, r4, r5, r1, r3],
        "-code": [r3, r1, r5, r4, r2],
        "state": [r3, r1, r2, r4, r5],  # in the tabs' order, newest first
        "-state": [r5, r4, r2, r3, r1],  # still newest first
    }
    assert set(expected) == queue.SORTS
    five = QueueFilter(states=("submitted", "assigned", "in_progress", "closed"))  # not the rejected one
    four = QueueFilter(states=("submitted", "assigned", "in_progress"))
    for sort, order in expected.items():
        codes_in_order = [r.code for r in order]
        assert await found(db, five, sort=sort) == codes_in_order, sort
        assert await found(db, four, sort=sort) == [code for code in codes_in_order if code != r5.code], sort
        by_twos = []  # small pages: on SQLite the first ones walk indexes, the last one sorts
        for number in (1, 2, 3):
            by_twos += await found(db, five, sort=sort, page=number, per_page=2)
        assert by_twos == codes_in_order, sort
        assert [row.code for row in await export(db, five, sort=sort)] == codes_in_order, sort
        everything = await found(db, QueueFilter(), sort=sort)
        assert [code for code in everything if code in codes_in_order] == codes_in_order, sort
        assert len(everything) == 6
    assert await found(db, five, sort="bogus") == [r.code for r in expected["-created"]]
    urgent = await found(db, QueueFilter(states=OPEN, priority="urgent"), sort="due", per_page=1)
    assert urgent == [r2.code]


async def test_a_priority_the_queue_does_not_know_sorts_in_its_place(made):
    db = made.db
    high = await made.add(priority="high", age=1 * HOUR)
    zero = await made.add(priority="zero", age=2 * HOUR)
    normal = await made.add(age=3 * HOUR)
    urgent = await made.add(priority="urgent", age=4 * HOUR)
    pressing = await made.add(priority="pressing", age=5 * HOUR)  # between normal and urgent
    ascending = [high.code, normal.code, pressing.code, urgent.code, zero.code]
    assert await found(db, QueueFilter(), sort="priority") == ascending
    assert await found(db, QueueFilter(), sort="-priority") == ascending[::-1]
    assert (await page(db)).total == 5


async def test_pages_are_clamped_and_cover_every_report_once(made):
    db = made.db
    added = [await made.add(age=(10 - n) * HOUR) for n in range(7)]
    newest_first = [r.code for r in reversed(added)]
    pages = [await page(db, per_page=3, page=n) for n in (1, 2, 3)]
    assert [[row.code for row in p.rows] for p in pages] == [newest_first[:3], newest_first[3:6], newest_first[6:]]
    assert all((p.total, p.pages, p.per_page) == (7, 3, 3) for p in pages)
    assert [p.page for p in pages] == [1, 2, 3]
    for asked, given in ((0, 1), (-5, 1), (4, 3), (99, 3)):
        clamped = await page(db, per_page=3, page=asked)
        assert clamped.page == given, asked
        assert [row.code for row in clamped.rows] == [row.code for row in pages[given - 1].rows]
    one_each = await page(db, per_page=0, page=2)
    assert (one_each.per_page, one_each.pages, [row.code for row in one_each.rows]) == (1, 7, [newest_first[1]])
    capped = await page(db, per_page=10_000)
    assert capped.per_page == queue.MAX_PER_PAGE and len(capped.rows) == 7
    nothing = await page(db, QueueFilter(category="health"), page=5)
    assert (nothing.rows, nothing.total, nothing.page, nothing.pages) == ([], 0, 1, 1)


async def test_counts_per_state_ignore_the_states_asked_for(made):
    db = made.db
    await made.add(state="submitted")
    await made.add(state="submitted")
    assigned = await made.add(state="assigned")
    await made.add(state="resolved")
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation", state="submitted")
    result = await page(db, QueueFilter(states=("assigned",), category="roads"))
    assert [row.code for row in result.rows] == [assigned.code] and result.total == 1
    assert result.counts == dict.fromkeys(queue.STATES, 0) | {"submitted": 2, "assigned": 1, "resolved": 1}
    both = await page(db, QueueFilter(states=("assigned", "resolved"), category="roads"))
    assert both.total == 2 and both.counts == result.counts
    assert (await page(db, QueueFilter(category="roads"))).total == 4
    assert (await page(db)).counts["submitted"] == 3


async def test_a_lookup_session_gives_the_same_page(made):
    db = made.db
    await made.add(area=WARD, state="assigned")
    await made.add(area=OTHER, state="assigned")
    f = QueueFilter(area=PROVINCE, states=("assigned",), search="ổ gà")
    async with db.lookup() as session:
        looked_up = await queue.page(session, f)
    assert looked_up == await page(db, f) and looked_up.total == 1


# ---------------------------------------------------------------- exports


async def test_exports_follow_the_filter_and_the_sort_up_to_the_limit(made):
    db = made.db
    roads = [await made.add(age=(5 - n) * HOUR, due=NOW + (n % 3) * HOUR) for n in range(5)]
    await made.add("Rác thải ùn ứ đầu ngõ", category="sanitation")
    f = QueueFilter(category="roads")
    exported = await export(db, f, sort="due")
    assert exported == (await page(db, f, sort="due")).rows
    assert len(exported) == 5 and {row.code for row in exported} == {r.code for r in roads}
    assert [row.code for row in await export(db, f, sort="due", limit=2)] == [row.code for row in exported[:2]]
    assert await export(db, f, limit=0) == []


async def test_the_reporter_never_appears_in_rows_csv_or_geojson(made):
    db = made.db
    await made.add(point=(21.03, 105.85), state="closed", rating="not_satisfied", photos=1)
    await made.add(address="Số 3 phố Huế")
    rows = await export(db)
    names = {field.name for field in dataclasses.fields(QueueRow)}
    assert not names & {"resident_id", "reporter_name", "rating_comment", "telegram_id"}
    assert all(not hasattr(row, "reporter_name") and not hasattr(row, "resident_id") for row in rows)
    text = queue.to_csv(rows) + json.dumps(queue.to_geojson(rows), ensure_ascii=False)
    assert len(rows) == 2 and "phố Huế" in text and "not_satisfied" in text  # the exports do carry the rows
    for secret in (REPORTER, "Bí Mật", str(REPORTER_TELEGRAM_ID), "Bình luận riêng"):
        assert secret not in text, secret


def row(**fields) -> QueueRow:
    values = dict(id=1, code="PA-7K3Q9", state="submitted", priority="normal", category_code="roads", area_code=WARD,
                  agency_code=None, description="Ổ gà lớn giữa đường", address_text=None, latitude=None,
                  longitude=None, created_at=NOW, updated_at=NOW + HOUR, due_at=None, overdue=False, photos=0,
                  rating=None)
    return QueueRow(**(values | fields))


def test_csv_has_a_header_iso_times_and_no_formulas():
    rows = [
        row(description="=HYPERLINK(\"http://evil.example\",\"xem\")", address_text="+84 912 345 678",
            latitude=-33.9249, longitude=18.4241,
            due_at=datetime(2026, 12, 1, 17, 30, tzinfo=timezone(timedelta(hours=7))),
            overdue=True, photos=3, agency_code="ag-roads"),
        row(id=2, code="PA-22222", description="-1 cái đèn", address_text="@SUM(A1:A2)", rating="satisfied"),
        row(id=3, code="PA-33333", description="\tthụt lề", address_text="\rđầu dòng"),
        row(id=4, code="PA-44444", description="Bình thường, có dấu phẩy; và \"ngoặc\"\nxuống dòng = giữa câu"),
    ]
    lines = list(csv.reader(io.StringIO(queue.to_csv(rows), newline="")))
    header, *data = lines
    assert header == ["id", "code", "state", "priority", "category_code", "area_code", "agency_code", "description",
                      "address_text", "latitude", "longitude", "created_at", "updated_at", "due_at", "overdue",
                      "photos", "rating"]
    cells = [dict(zip(header, line)) for line in data]
    assert cells[0]["description"] == "'=HYPERLINK(\"http://evil.example\",\"xem\")"
    assert cells[0]["address_text"] == "'+84 912 345 678"
    assert (cells[0]["latitude"], cells[0]["longitude"]) == ("-33.9249", "18.4241")  # numbers stay numbers
    assert cells[0]["due_at"] == "2026-12-01T10:30:00+00:00"
    assert cells[0]["created_at"] == "2026-11-27T09:00:00+00:00"
    assert cells[0]["updated_at"] == "2026-11-27T10:00:00+00:00"
    assert (cells[0]["overdue"], cells[0]["photos"], cells[0]["rating"]) == ("true", "3", "")
    assert cells[1]["description"] == "'-1 cái đèn" and cells[1]["address_text"] == "'@SUM(A1:A2)"
    assert cells[1]["due_at"] == "" and cells[1]["overdue"] == "false"
    assert cells[2]["description"] == "'\tthụt lề" and cells[2]["address_text"] == "'\rđầu dòng"
    assert cells[3]["description"] == "Bình thường, có dấu phẩy; và \"ngoặc\"\nxuống dòng = giữa câu"
    assert len(data) == 4 and queue.to_csv([]).splitlines() == [",".join(header)]


def test_geojson_holds_the_located_rows_as_points():
    located = row(latitude=21.0285, longitude=105.8542, due_at=NOW + 2 * HOUR, photos=2, overdue=True)
    collection = queue.to_geojson([located, row(id=2, code="PA-22222"), row(id=3, latitude=21.0)])
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 1
    feature = collection["features"][0]
    assert feature["type"] == "Feature" and feature["id"] == 1
    assert feature["geometry"] == {"type": "Point", "coordinates": [105.8542, 21.0285]}
    assert feature["properties"] == {
        "id": 1, "code": "PA-7K3Q9", "state": "submitted", "priority": "normal", "category_code": "roads",
        "area_code": WARD, "agency_code": None, "description": "Ổ gà lớn giữa đường", "address_text": None,
        "created_at": "2026-11-27T09:00:00+00:00", "updated_at": "2026-11-27T10:00:00+00:00",
        "due_at": "2026-11-27T11:00:00+00:00", "overdue": True, "photos": 2, "rating": None}
    assert json.loads(json.dumps(collection)) == collection
    assert queue.to_geojson([]) == {"type": "FeatureCollection", "features": []}


# ---------------------------------------------------------------- query strings


def test_parse_filter_keeps_what_it_knows_and_ignores_the_rest():
    params = {"state": "in_progress, bogus,SUBMITTED,,submitted", "category": " roads ", "area": "",
              "agency": "ag-roads", "priority": "URGENT", "overdue": "true", "q": "  ổ gà  ", "sort": "code",
              "page": "2"}
    assert queue.parse_filter(params) == QueueFilter(states=("submitted", "in_progress"), category="roads", area=None,
                                                     agency="ag-roads", priority="urgent", overdue=True, search="ổ gà")
    assert queue.parse_filter({"state": "bogus", "priority": "high", "overdue": "0", "q": "   ", "category": " "}) \
        == QueueFilter()
    assert queue.parse_filter({}) == QueueFilter()
    assert queue.parse_filter({"overdue": "1"}).overdue and not queue.parse_filter({"overdue": "no"}).overdue
    assert queue.parse_filter({"area": PROVINCE, "priority": "normal"}) == QueueFilter(area=PROVINCE, priority="normal")


def test_parse_sort_falls_back_to_the_newest_first():
    for sort in queue.SORTS:
        assert queue.parse_sort(sort) == sort
    assert queue.parse_sort(" -due ") == "-due"
    for unknown in (None, "", "bogus", "--created", "created;drop table reports", "+created"):
        assert queue.parse_sort(unknown) == "-created", unknown


async def test_the_upgrade_fills_the_search_text_of_reports_filed_before_it(db):
    await migrate.downgrade(db, "0010")
    # The reports table as 0010 left it: only the columns this row needs, none added since.
    old_reports = table("reports", *(column(name) for name in (
        "code", "category_code", "description", "address_text", "state", "priority", "created_at", "updated_at")))
    async with db.engine.begin() as connection:
        await connection.execute(insert(old_reports).values(
            code="PA-2OLD2", category_code="roads", description="ĐÈN đường hỏng", address_text="Phố HUẾ",
            state="submitted", priority="normal", created_at=utcnow(), updated_at=utcnow()))
    await migrate.upgrade(db)
    assert await found_set(db, QueueFilter(search="đèn huế")) == {"PA-2OLD2"}
    assert await found_set(db, QueueFilter(search="den hue")) == {"PA-2OLD2"}


async def test_the_upgrade_folds_the_diacritics_of_the_search_text_of_reports_filed_before_it(made):
    db = made.db
    report = await made.add("Rác thải ở đầu ngõ", address="Ngõ 5 Đội Cấn")
    await migrate.downgrade(db, "0014")  # the search text as 0011 wrote it: case-folded only
    async with db.engine.connect() as connection:  # the table as 0014 left it: read its column alone
        before = (await connection.execute(text("SELECT search_text FROM reports WHERE code = :code"),
                                           {"code": report.code})).scalar_one()
    assert "đội cấn" in before and "doi can" not in before
    await migrate.upgrade(db)
    assert await found_set(db, QueueFilter(search="doi can")) == {report.code}
    assert await found_set(db, QueueFilter(search="Đội Cấn")) == {report.code}
