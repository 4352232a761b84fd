"""Areas: the tree of administrative units, its import from data, search, and locating a point.

The data is a folder: `*.json` files hold lists of units (each with `Code`, `Name`, `NameEn`,
`FullName`, `FullNameEn` and its children under `Wards`, `Units` or `Children`, to any depth),
`*.geojson` files hold boundaries (FeatureCollections whose features name their unit by `id` or
`properties.code`). `storage/seed/vn-admin-units-2025/` is Vietnam's, shipped with Loa.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import case, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.text import fold
from storage.db import Database
from storage.models import Area

SHIPPED = Path(__file__).with_name("seed") / "vn-admin-units-2025"

CHILD_KEYS = ("wards", "units", "children")

# FullName prefixes (normalized) and the kind they give a unit.
KIND_PREFIXES = (
    ("thanh pho", "province"),
    ("tinh", "province"),
    ("phuong", "ward"),
    ("xa", "commune"),
    ("dac khu", "special_zone"),
)
# What a resident may type before a name to say its kind ("phuong long bien", "tp ha noi").
KIND_WORDS = dict(KIND_PREFIXES) | {"tp": "province", "p": "ward", "x": "commune"}

_APOSTROPHES = dict.fromkeys(map(ord, "'’ʼ`´"), None)
_NOT_WORD = re.compile(r"[^0-9a-z]+")


def full_name(area: Area, language: str) -> str:
    """The unit's full name ("Phường Ba Đình", "Ba Dinh Ward") in English or else Vietnamese."""
    return area.full_name_en if language == "en" else area.full_name_vi


def normalize(text: str) -> str:
    """The search key of a name: no diacritics, đ → d, lower case, punctuation as spaces, single spaces.

    "Long Biên", "LONG BIÊN" and "long  bien" all give "long bien"; "M'Drắk" gives "mdrak".
    """
    return _NOT_WORD.sub(" ", fold(text.translate(_APOSTROPHES))).strip()


# Vietnamese alphabetical order: ă and â after a, đ after d, ê after e, ô and ơ after o, ư after u;
# tones only break ties, in the dictionary order (none, grave, hook, tilde, acute, dot below).
_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_LETTER_RANK = {letter: rank for rank, letter in enumerate(_ALPHABET)}
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}  # breve, circumflex, horn: they make a new letter
_TONE_RANK = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def sort_key(name: str) -> tuple:
    """A key that orders names as a Vietnamese reader expects, numbers by value ("2" before "10")."""
    primary: list[tuple[int, int]] = []
    tones: list[int] = []
    digits = ""
    letter = ""

    def flush_letter() -> None:
        nonlocal letter
        if letter:
            composed = unicodedata.normalize("NFC", letter)
            rank = _LETTER_RANK.get(composed, _LETTER_RANK.get(letter[0]))
            primary.append((3, rank) if rank is not None else (4, ord(letter[0])))
            letter = ""

    for ch in unicodedata.normalize("NFD", name.lower()):
        if ch.isdigit():
            flush_letter()
            digits += ch
            continue
        if digits:
            primary.append((1, int(digits)))
            digits = ""
        if ch in _LETTER_MARKS and letter:
            letter += ch
        elif ch in _TONE_RANK:
            if letter:
                tones[-1] = _TONE_RANK[ch]
        elif unicodedata.combining(ch):
            continue
        elif ch.isalpha():
            flush_letter()
            letter = ch
            tones.append(0)
        else:
            flush_letter()
            if ch.isspace() and primary and primary[-1] != (0, 0):
                primary.append((0, 0))
    flush_letter()
    if digits:
        primary.append((1, int(digits)))
    while primary and primary[-1] == (0, 0):
        primary.pop()
    return tuple(primary), tuple(tones), name


def kind_of(full_name: str, level: int = 0) -> str:
    """The unit's kind from its full name's prefix; "Thành phố" below the top level is a city."""
    key = normalize(full_name)
    for prefix, kind in KIND_PREFIXES:
        if key == prefix or key.startswith(prefix + " "):
            return "city" if kind == "province" and prefix == "thanh pho" and level > 0 else kind
    return "unit"


# ---------------------------------------------------------------- import


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    with_boundary: int = 0
    # Boundary features that name no unit of the data (their ids).
    unmatched_boundaries: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


# The columns an import writes, in the order it compares them.
_COLUMNS = ("parent_code", "level", "kind", "name_vi", "name_en", "full_name_vi", "full_name_en",
            "search_name", "min_lon", "min_lat", "max_lon", "max_lat", "boundary")
_MAX_LENGTHS = {"code": 16, "name_vi": 128, "name_en": 128, "full_name_vi": 160, "full_name_en": 160,
                "search_name": 160}


def _get(mapping: dict, *names: str):
    """A field by any of its names, case-insensitively ("Code", "code", "CODE")."""
    lowered = {key.lower(): value for key, value in mapping.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def _children_of(unit: dict) -> list:
    for key, value in unit.items():
        if key.lower() in CHILD_KEYS and isinstance(value, list):
            return value
    return []


def _unit_lists(folder: Path) -> Iterator[tuple[Path, list]]:
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            data = _children_of(data) or [data]
        if not isinstance(data, list):
            raise ValueError(f"{path.name}: expected a list of units")
        yield path, data


def _walk(units: list, parent: str | None, level: int, source: str) -> Iterator[dict]:
    """The units of a nested list, each before its children."""
    for unit in units:
        if not isinstance(unit, dict):
            raise ValueError(f"{source}: a unit is not an object: {unit!r:.80}")
        code = _get(unit, "Code", "id")
        name = _get(unit, "Name")
        if code is None or name is None:
            raise ValueError(f"{source}: a unit without Code or Name: {unit!r:.120}")
        code, name = str(code).strip(), str(name).strip()
        full_name = str(_get(unit, "FullName") or name).strip()
        name_en = str(_get(unit, "NameEn") or normalize(name).title()).strip()
        row = {
            "code": code,
            "parent_code": parent,
            "level": level,
            "kind": kind_of(full_name, level),
            "name_vi": name,
            "name_en": name_en,
            "full_name_vi": full_name,
            "full_name_en": str(_get(unit, "FullNameEn") or name_en).strip(),
            "search_name": normalize(name),
        }
        for column, limit in _MAX_LENGTHS.items():
            if len(row[column]) > limit:
                raise ValueError(f"{source}: unit {code}: {column} is longer than {limit} characters")
        yield row
        yield from _walk(_children_of(unit), code, level + 1, source)


def _features(folder: Path) -> Iterator[tuple[str, dict]]:
    """(unit code, geometry) of every feature of every `*.geojson` file in the folder."""
    for path in sorted(folder.glob("*.geojson")):
        data = json.loads(path.read_text(encoding="utf-8"))
        features = data.get("features", []) if data.get("type") == "FeatureCollection" else [data]
        for feature in features:
            geometry = feature.get("geometry")
            code = feature.get("id")
            if code in (None, ""):
                code = _get(feature.get("properties") or {}, "code", "Code", "ma")
            if code in (None, "") or not geometry:
                continue
            if geometry.get("type") not in ("Polygon", "MultiPolygon"):
                raise ValueError(f"{path.name}: feature {code}: a {geometry.get('type')} is not an area")
            yield str(code), geometry


def _bbox(geometry: dict) -> tuple[float, float, float, float]:
    xs: list[float] = []
    ys: list[float] = []
    for polygon in _polygons(geometry):
        for ring in polygon:
            for x, y, *_ in ring:
                xs.append(x)
                ys.append(y)
    return min(xs), min(ys), max(xs), max(ys)


def read_units(folder: Path) -> tuple[list[dict], list[str]]:
    """The rows an import writes (parents first), and the boundary ids that match no unit."""
    rows: list[dict] = []
    seen: set[str] = set()
    for path, units in _unit_lists(folder):
        for row in _walk(units, None, 0, path.name):
            if row["code"] in seen:
                raise ValueError(f"{path.name}: unit {row['code']} appears twice")
            seen.add(row["code"])
            rows.append(row)
    boundaries: dict[str, dict] = {}
    for code, geometry in _features(folder):
        boundaries[code] = geometry
    for row in rows:
        geometry = boundaries.get(row["code"])
        if geometry is None:
            row.update(min_lon=None, min_lat=None, max_lon=None, max_lat=None, boundary=None)
        else:
            min_lon, min_lat, max_lon, max_lat = _bbox(geometry)
            row.update(min_lon=min_lon, min_lat=min_lat, max_lon=max_lon, max_lat=max_lat,
                       boundary=json.dumps(geometry, separators=(",", ":"), ensure_ascii=False))
    rows.sort(key=lambda row: row["level"])  # stable: parents before children
    return rows, sorted(set(boundaries) - seen)


async def import_units(db: Database, folder: Path) -> ImportCounts:
    """Create or update the areas of a data folder, in one transaction; running it again changes nothing.

    Units of the database that the folder does not list are left as they are; for the units it
    lists, the folder is the truth (a unit without a boundary in the folder loses its boundary).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    rows, unmatched = read_units(folder)
    if not rows:
        raise ValueError(f"{folder}: no units found (expected *.json files with lists of units)")
    counts = ImportCounts(unmatched_boundaries=unmatched,
                          with_boundary=sum(row["boundary"] is not None for row in rows))
    async with db.transaction() as session:
        columns = [getattr(Area, name) for name in ("code", *_COLUMNS)]
        existing = {stored[0]: tuple(stored[1:]) for stored in await session.execute(select(*columns))}
        created: list[dict] = []
        changed: list[dict] = []
        for row in rows:
            stored = existing.get(row["code"])
            if stored is None:
                created.append(row)
            elif stored != tuple(row[name] for name in _COLUMNS):
                changed.append(row)
        if created:
            await session.execute(insert(Area), created)
        if changed:
            await session.execute(update(Area), changed)
    counts.created, counts.updated = len(created), len(changed)
    counts.unchanged = len(rows) - len(created) - len(changed)
    return counts


# ---------------------------------------------------------------- queries


async def get(session: AsyncSession, code: str) -> Area | None:
    return await session.get(Area, code)


async def children(session: AsyncSession, parent_code: str | None) -> list[Area]:
    """The units right below `parent_code` (the top level for None), in Vietnamese alphabetical order."""
    query = select(Area).where(
        Area.parent_code.is_(None) if parent_code is None else Area.parent_code == parent_code)
    found = (await session.execute(query)).scalars().all()
    return sorted(found, key=lambda area: (sort_key(area.name_vi), area.code))


async def count_children(session: AsyncSession, code: str) -> int:
    return (await session.execute(
        select(func.count()).select_from(Area).where(Area.parent_code == code))).scalar_one()


async def path(session: AsyncSession, code: str) -> list[Area]:
    """The unit and its ancestors, the root first; empty for an unknown code."""
    chain: list[Area] = []
    area = await session.get(Area, code)
    while area is not None and len(chain) < 64:
        chain.append(area)
        area = await session.get(Area, area.parent_code) if area.parent_code else None
    return chain[::-1]


def _descendants(code: str):
    """A recursive CTE of the codes below `code` (not `code` itself)."""
    tree = select(Area.code).where(Area.parent_code == code).cte("descendants", recursive=True)
    below = select(Area.code).where(Area.parent_code == tree.c.code)
    return tree.union_all(below)


async def descendant_codes(session: AsyncSession, code: str) -> list[str]:
    """Every unit below `code`, at any depth (an alert to a province reaches all of these)."""
    tree = _descendants(code)
    return list((await session.execute(select(tree.c.code))).scalars())


def _split_kind(query: str) -> tuple[str | None, str]:
    """("ward", "long bien") for "phuong long bien"; (None, query) when no kind word leads."""
    words = query.split(" ")
    for size in (2, 1):
        head = " ".join(words[:size])
        if len(words) > size and head in KIND_WORDS:
            rest = " ".join(words[size:])
            if len(rest) >= 2:
                return KIND_WORDS[head], rest
    return None, query


async def search(session: AsyncSession, query: str, *, within: str | None = None, limit: int = 8) -> list[Area]:
    """Units whose name matches what a resident typed, best first.

    Accents, case and punctuation do not matter. Exact names come first, then names that start
    with the query, then names with a word that does, then any that contain it (spaces ignored
    last: "longbien", "hanoi"). A leading kind ("phuong long bien", "xa bat trang", "tp ha noi")
    is understood: units of that kind rank first. Among equals, higher levels first, then by name.
    `within` keeps the units below that code.
    """
    q = normalize(query)
    if len(q) < 2 or limit <= 0:
        return []
    kind, rest = _split_kind(q)
    name = Area.search_name
    compact = func.replace(name, " ", "")

    def tiers(term: str) -> list:
        tight = term.replace(" ", "")
        return [name == term, compact == tight, name.like(f"{term}%"), name.like(f"% {term}%"),
                name.like(f"%{term}%"), compact.like(f"%{tight}%")]

    whens: list = []
    for index, plain in enumerate(tiers(q)):
        if kind is None:
            whens.append((plain, len(whens)))
        else:
            of_kind = tiers(rest)[index]
            whens.append((or_(plain, (Area.kind == kind) & of_kind), len(whens)))
            whens.append((of_kind, len(whens)))
    rank = case(*whens, else_=literal(len(whens)))
    conditions = [name.like(f"%{q}%"), compact.like(f"%{q.replace(' ', '')}%")]
    if kind is not None:
        conditions.append(compact.like(f"%{rest.replace(' ', '')}%"))
    statement = select(Area).where(or_(*conditions))
    if within is not None:
        statement = statement.where(Area.code.in_(select(_descendants(within).c.code)))
    statement = statement.order_by(rank, Area.level, Area.search_name, Area.code).limit(limit)
    return list((await session.execute(statement)).scalars())


# ---------------------------------------------------------------- a typed address


# Words an address writes before a unit's name: the ward-level ones say it for sure; the old
# districts' ("quận Long Biên") name what is now, mostly, the ward that kept the district's name.
_WARD_WORDS = {"phuong": 3, "p": 3, "xa": 3, "x": 3, "thi tran": 3, "tt": 3, "dac khu": 3,
               "quan": 1, "q": 1, "huyen": 1, "thi xa": 1, "tx": 1}
_PROVINCE_WORDS = {"thanh pho", "tp", "tinh"}
_PARTS = re.compile(r"[,;\n]+")
_NAME_WORDS = 6  # the longest unit name, in words, that an address is searched for


@dataclass(frozen=True)
class NamedArea:
    """The unit an address names; `only_name`: the address is that name and nothing else
    ("Cửa Nam", "phường Cửa Nam"), as a resident answers "which ward?"."""

    area: Area
    only_name: bool


def _named(text: str) -> list[tuple[str, int, tuple[int, int], bool]]:
    """The names an address may give: (name, strength, where it ends, whether it is the whole text).

    An address runs from the house to the province, its parts separated by commas: a part that is
    a name, a name after a kind word ("phường Long Biên", "p. Cửa Nam"), or the last words of any
    part but the first ("ngõ 5, phố Hàng Bông Hoàn Kiếm"). The first part's last words are a street
    as often as not ("25 Trần Hưng Đạo" is no ward Hưng Đạo), so they name nothing.
    Strength: 3 after a ward's kind word, 2 without one, 1 after an old district's."""
    parts = [normalize(part).split() for part in _PARTS.split(text)]
    parts = [words for words in parts if words]
    found: list[tuple[str, int, tuple[int, int], bool]] = []
    for index, words in enumerate(parts):
        for start in range(len(words)):
            for size in (2, 1):
                kind = " ".join(words[start:start + size])
                if len(words) > start + size and (kind in _WARD_WORDS or kind in _PROVINCE_WORDS):
                    rest = words[start + size:start + size + _NAME_WORDS]
                    for length in range(1, len(rest) + 1):
                        whole = start == 0 and length == len(words) - size and len(parts) == 1
                        found.append((" ".join(rest[:length]), _WARD_WORDS.get(kind, 2),
                                      (index, start + size + length), whole))
        found.append((" ".join(words), 2, (index, len(words)), len(parts) == 1))
        if index > 0:
            for length in range(1, min(_NAME_WORDS, len(words))):
                found.append((" ".join(words[-length:]), 2, (index, len(words)), False))
    return found


async def named_in(session: AsyncSession, text: str, *, within: str | None = None) -> NamedArea | None:
    """The ward or commune a typed address names, or None when it names none for sure.

    Accents, case and punctuation do not matter (`normalize`). Among the names the address gives
    (see `_named`), those after a ward's kind word win, then the last one. Names are looked for in
    the province the address names ("…, Hà Nội"), else in `within` (the resident's province), else
    anywhere; a name that several units share there is settled only if one of them has a
    boundary (the city Loa serves has them), else it names nothing.
    """
    found = _named(text)
    if not found:
        return None
    names = {name for name, *_ in found}
    matched = list((await session.execute(select(Area).where(Area.search_name.in_(names)))).scalars())
    by_name: dict[str, list[Area]] = {}
    for area in matched:
        by_name.setdefault(area.search_name, []).append(area)
    provinces = [(end, area) for name, _, end, _ in found for area in by_name.get(name, [])
                 if area.parent_code is None]
    named_province = max(provinces, key=lambda pair: pair[0])[1].code if provinces else None
    chains = {area.code: {unit.code for unit in await path(session, area.code)}
              for area in matched if area.parent_code is not None}
    ranked = sorted(((strength, end, whole, name) for name, strength, end, whole in found
                     if any(area.parent_code is not None for area in by_name.get(name, []))), reverse=True)
    scopes = [named_province] if named_province else [within, None] if within else [None]
    for scope in scopes:
        for _strength, _end, whole, name in ranked:
            units = [a for a in by_name[name] if a.code in chains and (scope is None or scope in chains[a.code])]
            if len(units) > 1:
                units = [a for a in units if a.min_lon is not None]
            if len(units) == 1:
                return NamedArea(units[0], whole)
            if units:  # the best name is several units' there: no guess
                return None
    return None


# ---------------------------------------------------------------- locating a point


def _polygons(geometry: dict) -> list:
    kind = geometry.get("type")
    if kind == "Polygon":
        return [geometry["coordinates"]]
    if kind == "MultiPolygon":
        return list(geometry["coordinates"])
    raise ValueError(f"a {kind} is not an area")


class _Polygon:
    """One polygon (outer ring and holes) with its edges sorted into horizontal bands.

    A point is inside when a ray from it crosses the rings an odd number of times; only the
    edges of the point's band can cross its latitude, so a test looks at a handful of edges.
    """

    __slots__ = ("min_x", "min_y", "max_x", "max_y", "step", "bands")

    def __init__(self, rings: list) -> None:
        edges = []
        xs: list[float] = []
        ys: list[float] = []
        for ring in rings:
            points = [(float(p[0]), float(p[1])) for p in ring]
            if len(points) < 3:
                continue
            if points[0] != points[-1]:
                points.append(points[0])
            xs.extend(x for x, _ in points)
            ys.extend(y for _, y in points)
            for (x1, y1), (x2, y2) in zip(points, points[1:]):
                if y1 != y2:
                    edges.append((y1, y2, x1, (x2 - x1) / (y2 - y1)))
        if not xs:
            raise ValueError("a polygon without a ring")
        self.min_x, self.max_x, self.min_y, self.max_y = min(xs), max(xs), min(ys), max(ys)
        count = max(1, min(4096, len(edges) // 2))
        self.step = (self.max_y - self.min_y) / count or 1.0
        bands: list[list] = [[] for _ in range(count)]
        for edge in edges:
            low, high = sorted(edge[:2])
            for band in range(self._band(low, count), self._band(high, count) + 1):
                bands[band].append(edge)
        self.bands = [tuple(band) for band in bands]

    def _band(self, y: float, count: int) -> int:
        return min(count - 1, max(0, int((y - self.min_y) / self.step)))

    def contains(self, x: float, y: float) -> bool:
        if not (self.min_x <= x <= self.max_x and self.min_y <= y <= self.max_y):
            return False
        bands = self.bands
        index = int((y - self.min_y) / self.step)
        inside = False
        for y1, y2, x1, slope in bands[index if index < len(bands) else -1]:
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * slope:
                inside = not inside
        return inside


class AreaLocator:
    """The areas with a boundary, in memory, indexed to answer "which unit is this point in?".

    A grid over all the boundaries lists, per cell, the areas whose bounding box meets it,
    deepest first; each area's polygons test a point against a few edges (see `_Polygon`).
    """

    def __init__(self, areas: Iterable[tuple[str, int, dict]]) -> None:
        """`areas`: (code, level, GeoJSON Polygon or MultiPolygon geometry) triples."""
        entries = []
        for code, level, geometry in areas:
            polygons = tuple(_Polygon(rings) for rings in _polygons(geometry) if rings)
            if polygons:
                entries.append((level, code, polygons))
        self.size = len(entries)
        self._cells: list[tuple] = []
        if not entries:
            self.min_x = self.min_y = self.max_x = self.max_y = 0.0
            self.nx = self.ny = 1
            self.cell_w = self.cell_h = 1.0
            self._cells = [()]
            return
        self.min_x = min(p.min_x for _, _, ps in entries for p in ps)
        self.min_y = min(p.min_y for _, _, ps in entries for p in ps)
        self.max_x = max(p.max_x for _, _, ps in entries for p in ps)
        self.max_y = max(p.max_y for _, _, ps in entries for p in ps)
        side = max(8, min(256, round(4 * math.sqrt(len(entries)))))
        self.nx = self.ny = side
        self.cell_w = (self.max_x - self.min_x) / side or 1.0
        self.cell_h = (self.max_y - self.min_y) / side or 1.0
        cells: list[list] = [[] for _ in range(side * side)]
        entries.sort(key=lambda entry: (-entry[0], entry[1]))  # deepest first
        for _level, code, polygons in entries:
            for polygon in polygons:
                x0, x1 = self._column(polygon.min_x), self._column(polygon.max_x)
                y0, y1 = self._row(polygon.min_y), self._row(polygon.max_y)
                for row in range(y0, y1 + 1):
                    for column in range(x0, x1 + 1):
                        cell = cells[row * side + column]
                        if not cell or cell[-1][0] != code:
                            cell.append((code, [polygon]))
                        else:
                            cell[-1][1].append(polygon)
        self._cells = [tuple((code, tuple(polygons)) for code, polygons in cell) for cell in cells]

    def _column(self, x: float) -> int:
        return min(self.nx - 1, max(0, int((x - self.min_x) / self.cell_w)))

    def _row(self, y: float) -> int:
        return min(self.ny - 1, max(0, int((y - self.min_y) / self.cell_h)))

    @classmethod
    async def load(cls, session: AsyncSession) -> AreaLocator:
        rows = await session.execute(
            select(Area.code, Area.level, Area.boundary).where(Area.boundary.is_not(None)))
        return cls((code, level, json.loads(boundary)) for code, level, boundary in rows)

    def locate(self, lat: float, lon: float) -> str | None:
        """The code of the deepest area whose boundary contains the point, or None."""
        if not (self.min_x <= lon <= self.max_x and self.min_y <= lat <= self.max_y):
            return None
        column = int((lon - self.min_x) / self.cell_w)
        row = int((lat - self.min_y) / self.cell_h)
        cell = self._cells[min(row, self.ny - 1) * self.nx + min(column, self.nx - 1)]
        for code, polygons in cell:
            for polygon in polygons:
                if polygon.contains(lon, lat):
                    return code
        return None
