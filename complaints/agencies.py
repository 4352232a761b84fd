"""Agencies and routing rules: who handles a report of a category in an area.

Both are data, loaded from a TOML file with `loa agencies load FILE` (idempotent: loading the
same file again changes nothing):

    [[agency]]
    code = "urenco"
    name_vi = "Công ty TNHH MTV Môi trường đô thị Hà Nội (URENCO)"
    name_en = "Hanoi Urban Environment Company (URENCO)"
    telegram_chat_id = 0          # 0 or omitted: set per installation (`loa agencies chat`)
    areas = ["01"]                # the units it serves, and every unit below them; [] = everywhere
    categories = ["sanitation"]   # [] = every category
    active = true                 # optional

    [[route]]
    category = "sanitation"       # omitted: any category
    area = "01"                   # omitted: anywhere
    agency = "urenco"

Routing: the most specific rule wins. From the report's area up to the root of the tree, the
rule for (category, area) comes first, then (any category, area); then (category, anywhere),
then (any category, anywhere). No rule: moderators choose.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage import areas
from storage.models import Agency, Area, Category, Report, RoutingRule

AGENCY_KEYS = {"code", "name_vi", "name_en", "telegram_chat_id", "areas", "categories", "active"}
ROUTE_KEYS = {"category", "area", "agency"}


class ConfigError(ValueError):
    """The file cannot be loaded; `problems` names each one. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class AgencySpec:
    code: str
    name_vi: str
    name_en: str
    telegram_chat_id: int | None = None
    area_codes: list[str] = field(default_factory=list)
    category_codes: list[str] = field(default_factory=list)
    active: bool = True


@dataclass
class RouteSpec:
    category_code: str | None
    area_code: str | None
    agency_code: str


@dataclass
class Config:
    agencies: list[AgencySpec]
    routes: list[RouteSpec]


@dataclass
class LoadCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    routes_created: int = 0
    routes_updated: int = 0
    routes_unchanged: int = 0


def parse_config(text: str, source: str = "the file") -> Config:
    """Read and check the shape of a configuration (references are checked by `load`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{source} is not valid TOML: {error}"]) from None
    problems: list[str] = []
    unknown = sorted(set(data) - {"agency", "route"})
    if unknown:
        problems.append(f"{source}: unknown section {', '.join(unknown)} (expected [[agency]] and [[route]])")

    def text_field(entry: dict, key: str, where: str, required: bool = True) -> str | None:
        value = entry.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{where}: {key} must be a non-empty string")
            return None
        return value.strip()

    def code_list(entry: dict, key: str, where: str) -> list[str]:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append(f"{where}: {key} must be a list of codes")
            return []
        return list(dict.fromkeys(v.strip() for v in value))

    agencies: list[AgencySpec] = []
    seen: set[str] = set()
    for n, entry in enumerate(data.get("agency", []), 1):
        where = f"agency #{n}" + (f" ({entry['code']})" if isinstance(entry.get("code"), str) else "")
        if extra := sorted(set(entry) - AGENCY_KEYS):
            problems.append(f"{where}: unknown key {', '.join(extra)}")
        code = text_field(entry, "code", where)
        if code is not None and len(code) > 32:
            problems.append(f"{where}: code is longer than 32 characters")
        if code in seen:
            problems.append(f"{where}: agency {code} appears twice")
        seen.add(code)
        names = [text_field(entry, key, where) for key in ("name_vi", "name_en")]
        chat = entry.get("telegram_chat_id", 0)
        if not isinstance(chat, int) or isinstance(chat, bool):
            problems.append(f"{where}: telegram_chat_id must be a number (0 when not yet known)")
            chat = 0
        active = entry.get("active", True)
        if not isinstance(active, bool):
            problems.append(f"{where}: active must be true or false")
        agencies.append(AgencySpec(code=code or "", name_vi=names[0] or "", name_en=names[1] or "",
                                   telegram_chat_id=chat or None, area_codes=code_list(entry, "areas", where),
                                   category_codes=code_list(entry, "categories", where), active=active is not False))
    routes: list[RouteSpec] = []
    scopes: set[tuple] = set()
    for n, entry in enumerate(data.get("route", []), 1):
        where = f"route #{n}"
        if extra := sorted(set(entry) - ROUTE_KEYS):
            problems.append(f"{where}: unknown key {', '.join(extra)}")
        category = text_field(entry, "category", where, required=False)
        area = text_field(entry, "area", where, required=False)
        agency = text_field(entry, "agency", where)
        if (category, area) in scopes:
            problems.append(f"{where}: a second route for category {category or 'any'} in area {area or 'anywhere'}")
        scopes.add((category, area))
        routes.append(RouteSpec(category, area, agency or ""))
    if problems:
        raise ConfigError(problems)
    return Config(agencies, routes)


def read_config(path: Path) -> Config:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError([f"cannot read {path}: {error.strerror}"]) from None
    return parse_config(text, str(path))


async def _existing(session: AsyncSession, column, codes: set[str]) -> set[str]:
    if not codes:
        return set()
    return set((await session.execute(select(column).where(column.in_(sorted(codes))))).scalars())


async def check_references(session: AsyncSession, config: Config) -> None:
    """Every area, category and agency the configuration names exists (in it or in the database)."""
    problems = []
    area_codes = ({c for a in config.agencies for c in a.area_codes}
                  | {r.area_code for r in config.routes if r.area_code})
    category_codes = ({c for a in config.agencies for c in a.category_codes}
                      | {r.category_code for r in config.routes if r.category_code})
    known_areas = await _existing(session, Area.code, area_codes)
    known_categories = await _existing(session, Category.code, category_codes)
    route_agencies = {r.agency_code for r in config.routes}
    known_agencies = {a.code for a in config.agencies} | await _existing(session, Agency.code, route_agencies)
    for agency in config.agencies:
        for code in agency.area_codes:
            if code not in known_areas:
                problems.append(f"agency {agency.code}: unknown area {code}")
        for code in agency.category_codes:
            if code not in known_categories:
                problems.append(f"agency {agency.code}: unknown category {code}")
    for n, route in enumerate(config.routes, 1):
        if route.area_code and route.area_code not in known_areas:
            problems.append(f"route #{n}: unknown area {route.area_code}")
        if route.category_code and route.category_code not in known_categories:
            problems.append(f"route #{n}: unknown category {route.category_code}")
        if route.agency_code not in known_agencies:
            problems.append(f"route #{n}: unknown agency {route.agency_code}")
    if problems:
        if area_codes - known_areas and (await session.execute(select(Area.code).limit(1))).first() is None:
            problems.insert(0, "there are no areas in the database: run `loa areas import` first")
        raise ConfigError(problems)


async def load(session: AsyncSession, config: Config) -> LoadCounts:
    """Create or update the agencies and routes of `config`; what it does not name is kept.

    A chat id missing from the file (0 or omitted) keeps the one the installation set."""
    await check_references(session, config)
    counts = LoadCounts()
    for spec in config.agencies:
        agency = await session.get(Agency, spec.code)
        values = dict(name_vi=spec.name_vi, name_en=spec.name_en, area_codes=spec.area_codes,
                      category_codes=spec.category_codes, active=spec.active)
        if spec.telegram_chat_id is not None:
            values["telegram_chat_id"] = spec.telegram_chat_id
        if agency is None:
            session.add(Agency(code=spec.code, **values))
            counts.created += 1
        elif any(getattr(agency, key) != value for key, value in values.items()):
            for key, value in values.items():
                setattr(agency, key, value)
            counts.updated += 1
        else:
            counts.unchanged += 1
    await session.flush()
    for spec in config.routes:
        rule = await _rule(session, spec.category_code, spec.area_code)
        if rule is None:
            session.add(RoutingRule(category_code=spec.category_code, area_code=spec.area_code,
                                    agency_code=spec.agency_code))
            counts.routes_created += 1
        elif rule.agency_code != spec.agency_code:
            rule.agency_code = spec.agency_code
            counts.routes_updated += 1
        else:
            counts.routes_unchanged += 1
    await session.flush()
    return counts


async def _rule(session: AsyncSession, category_code: str | None, area_code: str | None) -> RoutingRule | None:
    query = select(RoutingRule).where(
        RoutingRule.category_code == category_code if category_code else RoutingRule.category_code.is_(None),
        RoutingRule.area_code == area_code if area_code else RoutingRule.area_code.is_(None),
    )
    return (await session.execute(query)).scalars().first()


async def get(session: AsyncSession, code: str) -> Agency | None:
    return await session.get(Agency, code)


async def all_agencies(session: AsyncSession, *, active_only: bool = False) -> list[Agency]:
    query = select(Agency).order_by(Agency.code)
    if active_only:
        query = query.where(Agency.active.is_(True))
    return list((await session.execute(query)).scalars())


async def rules_of(session: AsyncSession, agency_code: str | None = None) -> list[RoutingRule]:
    query = select(RoutingRule)
    if agency_code is not None:
        query = query.where(RoutingRule.agency_code == agency_code)
    rules = list((await session.execute(query)).scalars())
    return sorted(rules, key=lambda r: (r.category_code or "", r.area_code or ""))


async def by_chat(session: AsyncSession, chat_id: int) -> Agency | None:
    """The agency whose staff group is this chat."""
    return (await session.execute(select(Agency).where(Agency.telegram_chat_id == chat_id))).scalars().first()


async def set_chat(session: AsyncSession, code: str, chat_id: int | None) -> Agency | None:
    agency = await session.get(Agency, code)
    if agency is not None:
        agency.telegram_chat_id = chat_id or None
    return agency


async def _area_chain(session: AsyncSession, area_code: str | None) -> list[str]:
    """The area and its ancestors, the area itself first."""
    if not area_code:
        return []
    return [a.code for a in reversed(await areas.path(session, area_code))] or [area_code]


async def route(session: AsyncSession, category_code: str | None, area_code: str | None) -> Agency | None:
    """The default agency for a report of this category in this area (active agencies only)."""
    chain = await _area_chain(session, area_code)
    where = or_(RoutingRule.area_code.in_(chain), RoutingRule.area_code.is_(None)) if chain \
        else RoutingRule.area_code.is_(None)
    rules = list((await session.execute(select(RoutingRule).where(where))).scalars())
    by_scope = {(r.category_code, r.area_code): r.agency_code for r in rules}
    scopes = [(c, a) for a in chain for c in (category_code, None)] + [(category_code, None), (None, None)]
    for scope in scopes:
        code = by_scope.get(scope)
        if code is not None:
            agency = await session.get(Agency, code)
            if agency is not None and agency.active:
                return agency
    return None


def serves(agency: Agency, category_code: str | None, chain: list[str]) -> bool:
    """Whether the agency takes reports of this category in an area with these ancestors."""
    in_area = not agency.area_codes or bool(set(agency.area_codes) & set(chain))
    of_category = not agency.category_codes or category_code in agency.category_codes
    return in_area and of_category


@dataclass
class Choices:
    """The agencies a moderator may assign a report to, in three groups, none holding the report
    already: `serving` its area and category (the routed one first, `routed`), then the others
    `taking` its category (elsewhere, or every category), then every `other` active agency."""

    routed: Agency | None
    serving: list[Agency]
    taking: list[Agency]
    other: list[Agency]

    def offered(self) -> list[Agency]:
        """One list, for where there is room for one: those serving the report's area and category;
        when none does (a report without an area, a category nobody there takes), those taking its
        category, then every other agency. Empty only when no other agency is active."""
        return self.serving or self.taking + self.other


async def choices(session: AsyncSession, report: Report) -> Choices:
    """What `Choices` says, for the report as it is now."""
    holding = report.agency_code if report.state == "assigned" else None
    serving = [a for a in await candidates(session, report) if a.code != holding]
    routed = await route(session, report.category_code, report.area_code)
    shown = {a.code for a in serving} | {holding}
    rest = [a for a in await all_agencies(session, active_only=True) if a.code not in shown]
    # Those naming the category first, then those taking every category; by name.
    taking = sorted((a for a in rest if not a.category_codes or report.category_code in a.category_codes),
                    key=lambda a: (not a.category_codes, a.name_vi))
    other = sorted((a for a in rest if a not in taking), key=lambda a: a.name_vi)
    return Choices(routed if routed in serving else None, serving, taking, other)


async def candidates(session: AsyncSession, report: Report) -> list[Agency]:
    """Agencies a moderator may assign the report to: the routed one first, then the other active
    agencies serving its area and category, the most local first (then by name)."""
    chain = await _area_chain(session, report.area_code)
    routed = await route(session, report.category_code, report.area_code)
    depth = {code: n for n, code in enumerate(chain)}

    def locality(agency: Agency) -> int:
        matches = [depth[c] for c in agency.area_codes if c in depth]
        return min(matches) if matches else len(chain) + 1

    others = [a for a in await all_agencies(session, active_only=True)
              if serves(a, report.category_code, chain) and (routed is None or a.code != routed.code)]
    others.sort(key=lambda a: (locality(a), a.name_vi))
    return ([routed] if routed is not None else []) + others
