"""Agencies and routing rules: the most specific rule wins; the TOML file loads idempotently
through `loa agencies`, and a bad reference is named with nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import insert

from complaints import agencies
from storage.db import Database
from storage.models import Agency, Area, Report, RoutingRule
from tests.fixtures.cli import loa

ROOT = Path(__file__).resolve().parents[1]
HANOI_FILE = ROOT / "storage" / "seed" / "agencies-hanoi.toml"
HOAN_KIEM, CUA_NAM, HCMC = "00070", "00082", "79"


async def add_agencies(db, *specs: tuple) -> None:
    async with db.transaction() as session:
        for code, areas, categories, *rest in specs:
            session.add(Agency(code=code, name_vi=f"{code} vi", name_en=f"{code} en", area_codes=areas,
                               category_codes=categories, active=rest[0] if rest else True))


async def add_rules(db, *rules: tuple) -> None:
    async with db.transaction() as session:
        for category, area, agency in rules:
            session.add(RoutingRule(category_code=category, area_code=area, agency_code=agency))


async def routed(db, category: str, area: str | None) -> str | None:
    async with db.read() as session:
        agency = await agencies.route(session, category, area)
    return agency.code if agency else None


async def test_the_most_specific_rule_wins(areas_loaded):
    db = areas_loaded
    await add_agencies(db, *[(code, [], []) for code in ("any", "roads-any", "hanoi", "roads-hanoi",
                                                          "roads-hk", "hk", "off")])
    await add_agencies(db, ("retired", [], [], False))
    await add_rules(db, (None, None, "any"), ("roads", None, "roads-any"), (None, "01", "hanoi"),
                    ("roads", "01", "roads-hanoi"), ("roads", HOAN_KIEM, "roads-hk"), (None, HOAN_KIEM, "hk"),
                    ("health", "01", "retired"))
    assert await routed(db, "roads", HOAN_KIEM) == "roads-hk"          # category in the ward
    assert await routed(db, "sanitation", HOAN_KIEM) == "hk"           # any category in the ward
    assert await routed(db, "roads", CUA_NAM) == "roads-hanoi"         # category in the province
    assert await routed(db, "sanitation", CUA_NAM) == "hanoi"          # any category in the province
    assert await routed(db, "roads", HCMC) == "roads-any"              # category anywhere
    assert await routed(db, "sanitation", HCMC) == "any"               # the catch-all
    assert await routed(db, "roads", None) == "roads-any"              # a report without an area
    assert await routed(db, "health", CUA_NAM) == "hanoi"              # an inactive agency is skipped


async def test_without_rules_moderators_choose(areas_loaded):
    await add_agencies(areas_loaded, ("hk", [HOAN_KIEM], []))
    await add_rules(areas_loaded, ("roads", HOAN_KIEM, "hk"))
    assert await routed(areas_loaded, "roads", CUA_NAM) is None
    assert await routed(areas_loaded, "sanitation", HOAN_KIEM) is None


async def test_candidates_put_the_routed_agency_first_then_those_serving_the_place(areas_loaded):
    db = areas_loaded
    await add_agencies(db, ("transport", ["01"], ["roads"]), ("ward", [HOAN_KIEM], []),
                       ("other-ward", [CUA_NAM], []), ("saigon", [HCMC], []), ("health", ["01"], ["health"]),
                       ("everywhere", [], []), ("off", [HOAN_KIEM], [], False))
    await add_rules(db, ("roads", "01", "transport"))
    report = Report(code="PA-AAAAA", category_code="roads", description="x", area_code=HOAN_KIEM)
    async with db.read() as session:
        codes = [a.code for a in await agencies.candidates(session, report)]
    assert codes == ["transport", "ward", "everywhere"]


async def test_choices_fall_back_to_the_category_then_every_agency(areas_loaded):
    db = areas_loaded
    await add_agencies(db, ("transport", ["01"], ["roads"]), ("ward", [HOAN_KIEM], []),
                       ("saigon-roads", [HCMC], ["roads"]), ("health", ["01"], ["health"]),
                       ("off", [HOAN_KIEM], ["roads"], False))
    await add_rules(db, ("roads", "01", "transport"))
    placed = Report(code="PA-AAAAA", category_code="roads", description="x", area_code=HOAN_KIEM)
    nowhere = Report(code="PA-BBBBB", category_code="roads", description="x")
    held = Report(code="PA-CCCCC", category_code="roads", description="x", area_code=HOAN_KIEM,
                  state="assigned", agency_code="transport")
    async with db.read() as session:
        choices = {name: await agencies.choices(session, report)
                   for name, report in (("placed", placed), ("nowhere", nowhere), ("held", held))}
    codes = {name: ([a.code for a in c.serving], [a.code for a in c.taking], [a.code for a in c.other],
                    [a.code for a in c.offered()]) for name, c in choices.items()}
    assert choices["placed"].routed.code == "transport"
    assert codes["placed"] == (["transport", "ward"], ["saigon-roads"], ["health"], ["transport", "ward"])
    # No area, no rule reaches it: those taking roads (naming it first), then every other one.
    assert choices["nowhere"].routed is None
    assert codes["nowhere"] == ([], ["saigon-roads", "transport", "ward"], ["health"],
                                ["saigon-roads", "transport", "ward", "health"])
    # The agency holding it is offered nothing again.
    assert choices["held"].routed is None and codes["held"][3] == ["ward"]


# ---------------------------------------------------------------- the file, through `loa`


async def migrated_with_areas(tmp_path: Path, sqlite_template: Path, shipped_areas: list[dict]) -> str:
    path = tmp_path / "loa.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    database = Database(url)
    try:
        async with database.transaction() as session:
            for level in sorted({row["level"] for row in shipped_areas}):
                await session.execute(insert(Area.__table__), [r for r in shipped_areas if r["level"] == level])
    finally:
        await database.dispose()
    return url


async def stored(url: str) -> tuple[dict, dict]:
    database = Database(url)
    try:
        async with database.read() as session:
            found = {a.code: a for a in await agencies.all_agencies(session)}
            rules = {(r.category_code, r.area_code): r.agency_code for r in await agencies.rules_of(session)}
    finally:
        await database.dispose()
    return found, rules


async def test_the_hanoi_file_loads_once_and_routes_every_category(tmp_path, sqlite_template, shipped_areas):
    url = await migrated_with_areas(tmp_path, sqlite_template, shipped_areas)
    code, out, err = await loa("agencies", "load", str(HANOI_FILE), cwd=tmp_path, DATABASE_URL=url)
    assert code == 0, err
    assert "13 created, 0 updated, 0 unchanged" in out and "routes: 19 created" in out
    code, out, _ = await loa("agencies", "load", str(HANOI_FILE), cwd=tmp_path, DATABASE_URL=url)
    assert code == 0 and "0 created, 0 updated, 13 unchanged" in out and "0 created, 0 updated, 19 unchanged" in out

    found, rules = await stored(url)
    assert all(a.telegram_chat_id is None for a in found.values())
    for category in ("roads", "sanitation", "urban_order", "infrastructure", "security", "food_safety",
                     "health", "other"):
        assert (category, "01") in rules, category
    code, out, _ = await loa("agencies", "route", "urban_order", HOAN_KIEM, cwd=tmp_path, DATABASE_URL=url)
    assert code == 0 and "hn-ubnd-hoan-kiem" in out
    code, out, _ = await loa("agencies", "route", "sanitation", HOAN_KIEM, cwd=tmp_path, DATABASE_URL=url)
    assert "hn-urenco" in out
    code, out, _ = await loa("agencies", "route", "roads", HCMC, cwd=tmp_path, DATABASE_URL=url)
    assert code == 0 and "moderators choose" in out
    code, out, _ = await loa("agencies", "show", "hn-urenco", cwd=tmp_path, DATABASE_URL=url)
    assert "URENCO" in out and "sanitation in 01" in out
    code, out, _ = await loa("agencies", "list", cwd=tmp_path, DATABASE_URL=url)
    assert code == 0 and len(out.splitlines()) == 13 and "hn-cong-an" in out


async def test_a_reload_updates_what_changed_and_keeps_the_installations_chat(tmp_path, sqlite_template,
                                                                               shipped_areas):
    url = await migrated_with_areas(tmp_path, sqlite_template, shipped_areas)
    first = tmp_path / "a.toml"
    first.write_text('[[agency]]\ncode = "w"\nname_vi = "Phường"\nname_en = "Ward"\nareas = ["00070"]\n'
                     '[[agency]]\ncode = "c"\nname_vi = "Thành phố"\nname_en = "City"\n'
                     '[[route]]\narea = "00070"\nagency = "w"\n', encoding="utf-8")
    assert (await loa("agencies", "load", str(first), cwd=tmp_path, DATABASE_URL=url))[0] == 0
    code, out, _ = await loa("agencies", "chat", "w", "-100123", cwd=tmp_path, DATABASE_URL=url)
    assert code == 0
    first.write_text(first.read_text(encoding="utf-8").replace('name_en = "Ward"', 'name_en = "Ward office"')
                     .replace('agency = "w"', 'agency = "c"'), encoding="utf-8")
    code, out, _ = await loa("agencies", "load", str(first), cwd=tmp_path, DATABASE_URL=url)
    assert "0 created, 1 updated, 1 unchanged" in out and "0 created, 1 updated, 0 unchanged" in out
    found, rules = await stored(url)
    assert found["w"].name_en == "Ward office" and found["w"].telegram_chat_id == -100123
    assert rules == {(None, "00070"): "c"}


async def test_bad_references_are_named_and_nothing_is_written(tmp_path, sqlite_template, shipped_areas):
    url = await migrated_with_areas(tmp_path, sqlite_template, shipped_areas)
    bad = tmp_path / "bad.toml"
    bad.write_text('[[agency]]\ncode = "ok"\nname_vi = "A"\nname_en = "A"\nareas = ["01", "99999"]\n'
                   'categories = ["roads", "potholes"]\n'
                   '[[route]]\ncategory = "roads"\narea = "01"\nagency = "nobody"\n', encoding="utf-8")
    code, _out, err = await loa("agencies", "load", str(bad), cwd=tmp_path, DATABASE_URL=url)
    assert code == 1 and "Traceback" not in err
    for named in ("unknown area 99999", "unknown category potholes", "unknown agency nobody"):
        assert named in err
    assert await stored(url) == ({}, {})

    bad.write_text('[[agency]]\ncode = "x"\nname_vi = "A"\n', encoding="utf-8")
    code, _out, err = await loa("agencies", "load", str(bad), cwd=tmp_path, DATABASE_URL=url)
    assert code == 1 and "name_en must be a non-empty string" in err
    bad.write_text('[[agency]\ncode = ', encoding="utf-8")
    code, _out, err = await loa("agencies", "load", str(bad), cwd=tmp_path, DATABASE_URL=url)
    assert code == 1 and "not valid TOML" in err
    code, _out, err = await loa("agencies", "route", "potholes", "01", cwd=tmp_path, DATABASE_URL=url)
    assert code == 1 and "unknown category potholes" in err


def test_a_route_given_twice_and_unknown_keys_are_refused():
    text = ('[[agency]]\ncode = "a"\nname_vi = "A"\nname_en = "A"\ncolour = "red"\n'
            '[[route]]\ncategory = "roads"\nagency = "a"\n[[route]]\ncategory = "roads"\nagency = "a"\n')
    try:
        agencies.parse_config(text)
    except agencies.ConfigError as error:
        problems = error.problems
    else:
        raise AssertionError("accepted")
    assert any("unknown key colour" in p for p in problems)
    assert any("a second route for category roads in area anywhere" in p for p in problems)
