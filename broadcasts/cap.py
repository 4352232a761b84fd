"""CAP 1.2 (Common Alerting Protocol): reading an alert message safely, checking it, and turning
it into one of Loa's alerts.

Reading. The bytes are refused above a size cap before any parsing, then parsed with defusedxml
with every dangerous feature off: a DOCTYPE is refused outright (so no DTD, no entity of any
kind, hence no "billion laughs" and no external entity reaching for `file:///etc/passwd` or the
network), and so is a tree deeper than MAX_DEPTH. The tree is then validated against the OASIS
schema CAP-v1.2.xsd (embedded below, loaded once) and against the rules the schema does not
express (`check`). A CAP 1.1 message is read as 1.2: the two differ in their namespace and in a
few values 1.2 added, so its elements are renamed into the 1.2 namespace (and 1.1's deprecated
certainty "Very Likely" becomes "Likely") before the same checks. A refusal is a `CapError`
naming the element at fault by its path (`/alert/info[2]/area[1]/polygon[1]`).

Mapping (`take`). One CAP message becomes one row of `alerts`, source "cap" and identifier
"sender,identifier" (unique), so a message is taken once: a repeat finds the row it made.
- `texts`: one text per language of the info blocks ("en-US" → "en", "vi-VN" → "vi", any other
  language kept under its primary subtag, no <language> meaning en-US as CAP says), made of
  the headline, the description and the instruction; blocks in the same language are joined.
- `topic_code`: CATEGORY_TOPICS, the first category (of the first info block) whose topic the
  installation has; else "general"; else the first topic.
- `severity`, `urgency`: CAP's values in lower case (Loa's enumerations are CAP's), the most
  serious over all info blocks.
- `expires_at`: the latest <expires>; `link`: the first <web>; `sender_name`: <senderName>.
- `area_codes`: the areas the <area> blocks name (see `match_areas`).
- msgType Update / Cancel: a correction / cancellation of the alert its <references> name, made
  by `broadcasts.lifecycle.follow_up` exactly as the bot's Correct / Cancel alert buttons do (a
  correction reaches those who received the original and replaces it for those still waiting;
  a cancellation reaches those who received it; the original's unsent messages are dropped).
  Only alerts of the same sender are referenced; along a chain of updates, the latest one is
  corrected. An Update that names areas reaches their residents too. An Update whose
  references are unknown here is taken as a new alert; a Cancel of an unknown (or already
  cancelled) alert is recorded and changes nothing.

Held messages: a message whose status is not Actual (Exercise, System, Test, Draft), whose scope
is not Public (Restricted, Private), that matches no area of this installation, or that expired
before it arrived is accepted and recorded (status done, no deliveries) but sent to nobody; a
held Update or Cancel leaves the alerts it references alone. `Taken.warnings` says why.
msgType Ack and Error are not alerts: `CapUnsupported`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import multiprocessing
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import defusedxml
import defusedxml.ElementTree as SafeET
import xmlschema
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import cap_areas as cap_areas_index
from broadcasts import lifecycle
from broadcasts.alerts import Kind, Severity, Urgency
from kernel.effects import NOTHING, Effects
from kernel.logs import fields
from storage import areas as area_store
from storage.models import Alert, Area, Delivery, Topic
from storage.types import utcnow

log = logging.getLogger("loa.cap")

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP10 = "http://www.incident.com/cap/1.0"
SOURCE = "cap"
MAX_DEPTH = 32  # CAP itself nests five deep; an XML signature a few more
MAX_ERRORS = 10  # schema errors reported at most
# Refused before the schema sees the tree (its validator spends time on every element and,
# per error, on every attribute): CAP's elements carry no attribute at all, an XML signature a
# few; a message naming each of Vietnam's 3,321 wards by geocode has about 10,000 elements.
MAX_ELEMENTS = 12_000
MAX_ATTRIBUTES = 64  # in the whole document, namespace declarations aside
# Shapes: a detailed warning polygon has a few thousand points; matching costs about linear in them.
MAX_POLYGON_POINTS = 5_000
MAX_SHAPES = 100  # polygons and circles in one message
WORK_SECONDS = 10.0  # the time budget of parsing and checking, and of matching the shapes
WORKERS = 2  # processes for parsing, threads for geometry (the event loop keeps answering meanwhile)
IDENTIFIER_LENGTH = 255  # alerts.identifier
SENDER_NAME_LENGTH = 128
LINK_LENGTH = 512
DEFAULT_LANGUAGE = "en-US"  # CAP: an info block without <language> is in en-US

# CAP <category> → the seeded topic closest to it (storage/migrations/versions/0002): weather
# is "weather and disasters", where Vietnam's law on natural disasters puts earthquakes,
# landslides and wildfires; pollution (Env) is a matter of health; law enforcement, rescue and
# attacks (CBRNE) of public security; utilities and telecommunications (Infra) of "power and water".
CATEGORY_TOPICS = {
    "Met": "weather",
    "Geo": "weather",
    "Fire": "weather",
    "Env": "health",
    "Health": "health",
    "Transport": "traffic",
    "Safety": "security",
    "Security": "security",
    "Rescue": "security",
    "CBRNE": "security",
    "Infra": "utilities",
    "Other": "general",
}
FALLBACK_TOPIC = "general"

# CAP's severities and urgencies are Loa's (broadcasts.alerts), in lower case.
SEVERITIES = {value.value.capitalize(): value for value in Severity}
URGENCIES = {value.value.capitalize(): value for value in Urgency}
KINDS = {"Alert": Kind.ALERT, "Update": Kind.CORRECTION, "Cancel": Kind.CANCELLATION}

_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")
_BREAKS = re.compile(r"(?i)<\s*br\s*/?\s*>|<\s*/?\s*p\s*/?\s*>")
_HTML_TAGS = re.compile(r"(?i)<\s*/?\s*(?:a|b|i|u|em|strong|span|div|font|ul|ol|li|small|big|sup|sub)\b[^<>]*>")
_SPACES = re.compile(r"[ \t]+")
_BLANKS = re.compile(r"\n{3,}")


# ---------------------------------------------------------------------------- errors


class CapError(ValueError):
    """A message refused: `message` says what is wrong, `path` where (an XPath-like path)."""

    code = "invalid_cap"
    status = 400

    def __init__(self, message: str, path: str | None = None, details: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details or ([(path, message)] if path else [])

    def __reduce__(self):  # from a worker process, with its path and details
        return type(self), (self.message, self.path, self.details)

    def __str__(self) -> str:
        """The message with the path of the element at fault in front."""
        if not self.path or self.path == "/" or self.message.startswith("/"):
            return self.message
        return f"{self.path}: {self.message}"


class CapTooLarge(CapError):
    code = "too_large"
    status = 413


class CapTooComplex(CapError):
    """A message whose parsing or area matching would take more than its time budget."""

    code = "too_complex"
    status = 400


class CapUnsupported(CapError):
    """A valid CAP message Loa does not act on (msgType Ack or Error)."""

    code = "unsupported_cap"
    status = 422


# ---------------------------------------------------------------------------- the message


@dataclass(frozen=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime

    @property
    def key(self) -> str:
        return alert_identifier(self.sender, self.identifier)


@dataclass(frozen=True)
class CapArea:
    description: str
    polygons: tuple[tuple[tuple[float, float], ...], ...] = ()  # rings of (lat, lon), closed
    circles: tuple[tuple[float, float, float], ...] = ()  # (lat, lon, radius in km)
    geocodes: tuple[tuple[str, str], ...] = ()  # (valueName, value)


@dataclass(frozen=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    areas: tuple[CapArea, ...] = ()

    @property
    def language_code(self) -> str:
        return language_code(self.language)

    @property
    def text(self) -> str:
        """What residents read: headline, description and instruction (the event if none)."""
        parts = [_plain(part) for part in (self.headline, self.description, self.instruction)]
        parts = [part for part in parts if part]
        if not parts:
            parts = [_plain(self.event) or self.event]
        return "\n\n".join(dict.fromkeys(parts))


@dataclass(frozen=True)
class CapMessage:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    version: str = "1.2"
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: str | None = None
    infos: tuple[CapInfo, ...] = ()

    @property
    def key(self) -> str:
        """The alert's `identifier` column: "sender,identifier"."""
        return alert_identifier(self.sender, self.identifier)


def alert_identifier(sender: str, identifier: str) -> str:
    """"sender,identifier", or its SHA-256 when longer than the column (255 characters)."""
    key = f"{sender},{identifier}"
    if len(key) > IDENTIFIER_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def language_code(tag: str | None) -> str:
    """The primary subtag in lower case: "en-US" → "en", "vi-VN" → "vi", none → "en"."""
    primary = re.split(r"[-_]", (tag or DEFAULT_LANGUAGE).strip(), maxsplit=1)[0].lower()
    return primary if primary.isalpha() and len(primary) <= 8 else "en"


def _plain(text: str | None) -> str:
    """CAP text as plain text: HTML line breaks as new lines, other common HTML tags removed."""
    if not text:
        return ""
    text = _BREAKS.sub("\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _HTML_TAGS.sub("", text)
    text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANKS.sub("\n\n", text).strip()


# ---------------------------------------------------------------------------- reading


# OASIS's CAP-v1.2.xsd, unchanged (tests/fixtures/cap/ holds the same file), shipped in the package.
SCHEMA = Path(__file__).with_name("schemas") / "CAP-v1.2.xsd"


@cache
def schema() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema, loaded once (it imports nothing: no file or network access)."""
    return xmlschema.XMLSchema(str(SCHEMA))


def _tag(element: ET.Element) -> tuple[str | None, str]:
    if element.tag.startswith("{"):
        namespace, _, local = element.tag[1:].partition("}")
        return namespace, local
    return None, element.tag


def _too_deep(root: ET.Element, limit: int = MAX_DEPTH) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']{0,40})""")


def _declared_encoding(data: bytes) -> str:
    found = _ENCODING.match(data[:200])
    return found[1].decode("ascii", "replace") if found else "?"


def _bounded(root: ET.Element) -> None:
    """Refuse a tree with more elements or attributes than a CAP message has, before the schema."""
    elements = attributes = 0
    for element in root.iter():
        elements += 1
        attributes += len(element.attrib)
        if elements > MAX_ELEMENTS:
            raise CapTooComplex(f"the XML has more than {MAX_ELEMENTS:,} elements: more than a CAP message needs", "/")
    if attributes > MAX_ATTRIBUTES:
        raise CapTooComplex(f"the XML has {attributes:,} attributes; CAP elements have none (at most "
                            f"{MAX_ATTRIBUTES} are accepted, for an XML signature)", "/")


def read_xml(data: bytes | str, *, max_bytes: int | None = None, what: str = "CAP message") -> ET.Element:
    """Parse XML safely (no DTD, no entities, no external access, bounded depth and size)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if max_bytes is not None and len(data) > max_bytes:
        raise CapTooLarge(f"the {what} is {len(data):,} bytes, more than the {max_bytes:,} accepted")
    if not data.strip():
        raise CapError(f"the {what} is empty", "/")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise CapError("a DOCTYPE is not allowed: DTDs and the entities they declare are refused", "/") from None
    except defusedxml.EntitiesForbidden:
        raise CapError("entity declarations are not allowed", "/") from None
    except defusedxml.ExternalReferenceForbidden:
        raise CapError("external references are not allowed", "/") from None
    except defusedxml.DefusedXmlException as error:
        raise CapError(f"refused XML: {error}", "/") from None
    except ET.ParseError as error:
        raise CapError(f"malformed XML: {error}", "/") from None
    except (ValueError, LookupError):  # expat: a multi-byte encoding it cannot read, or an unknown one
        raise CapError(f"the XML declares the encoding {_declared_encoding(data)!r}, which is not supported: "
                       "send UTF-8", "/") from None
    if _too_deep(root):
        raise CapError(f"the XML nests deeper than {MAX_DEPTH} elements", "/")
    return root


def _as_cap12(root: ET.Element) -> str:
    """Check the root and rename a CAP 1.1 tree into the 1.2 namespace; returns the version."""
    namespace, local = _tag(root)
    if local != "alert" or namespace not in (CAP12, CAP11):
        if local == "alert" and namespace == CAP10:
            raise CapError("CAP 1.0 is not supported: send CAP 1.2 (or 1.1)", "/alert")
        found = f"<{local}>" + (f" in namespace {namespace}" if namespace else " without a namespace")
        raise CapError(f"the document must be a CAP 1.2 <alert> in namespace {CAP12}; found {found}", "/")
    if namespace == CAP12:
        return "1.2"
    for element in root.iter():
        element_ns, element_local = _tag(element)
        if element_ns == CAP11:
            element.tag = f"{{{CAP12}}}{element_local}"
            if element_local == "certainty" and (element.text or "").strip() == "Very Likely":
                element.text = "Likely"
    return "1.1"


_NS_IN_TEXT = re.compile(r"\{[^{}]*\}|\bcap:")
_TIMES = ("sent", "effective", "onset", "expires")
_UNEXPECTED = re.compile(r"Unexpected child with tag '(?P<found>[^']+)' at position \d+\. "
                         r"Tag '?(?P<expected>[^'.]+?)'? expected")
_INCOMPLETE = re.compile(r"is not complete\. Tag '?(?P<expected>[^'.]+?)'? expected")


def _readable(path: str | None) -> str:
    return _NS_IN_TEXT.sub("", path or "/") or "/"


# Elements CAP allows more than once: their paths always carry a position ("/alert/info[1]").
_REPEATED = {"info", "area", "polygon", "circle", "geocode", "code", "category", "responseType", "eventCode",
             "parameter", "resource"}


def _path(element: ET.Element, parents: dict[ET.Element, ET.Element]) -> str:
    steps = []
    while element is not None:
        name = _tag(element)[1]
        parent = parents.get(element)
        if name in _REPEATED and parent is not None:
            same = [child for child in parent if child.tag == element.tag]
            name = f"{name}[{same.index(element) + 1}]"
        steps.append(name)
        element = parent
    return "/" + "/".join(reversed(steps))


def _schema_problem(error: xmlschema.XMLSchemaValidationError, parents: dict) -> tuple[str, str]:
    element = error.elem if isinstance(error.elem, ET.Element) else None
    path = _path(element, parents) if element is not None else _readable(error.path)
    name = path.rsplit("/", 1)[-1].split("[", 1)[0]
    if name in _TIMES and element is not None and len(element) == 0:
        value = (element.text or "").strip()
        return path, (f"<{name}> must be a date and time with its time zone, such as "
                      f"2026-11-24T08:00:00+07:00 (got {value!r})")
    if name == "language" and element is not None:
        return path, f"<language> must be a language tag such as vi-VN or en-US (got {(element.text or '').strip()!r})"
    reason = (error.reason or error.message).strip()
    found = _UNEXPECTED.search(reason)
    if found:
        expected = found["expected"]
        reason = f"<{expected}> is missing or out of order (found <{found['found']}> where <{expected}> should be)"
    elif (found := _INCOMPLETE.search(reason)) is not None:
        reason = f"<{found['expected']}> is missing"
    elif "doesn't match any pattern" in reason and element is not None:
        reason = f"{(element.text or '').strip()!r} does not have the required form"
    elif reason.startswith("value must be one of") and element is not None:
        reason = f"{reason} (got {(element.text or '').strip()!r})"
    reason = _readable(reason)
    where = f"<{name}>" if name else "the document"
    return path, f"{where}: {reason}"


def validate(root: ET.Element) -> None:
    """Against the schema: the first problems, each with its path, in one CapError."""
    try:
        problems: dict[str, str] = {}
        parents: dict[ET.Element, ET.Element] | None = None
        for error in islice(schema().iter_errors(root), MAX_ERRORS):
            if parents is None:
                parents = {child: parent for parent in root.iter() for child in parent}
            path, reason = _schema_problem(error, parents)
            problems.setdefault(path, reason)
    except RecursionError:
        raise CapError("the XML is too deeply nested", "/") from None
    if problems:
        details = list(problems.items())
        message = "; ".join(f"{path}: {reason}" for path, reason in details[:3])
        if len(details) > 3:
            message += f" (and {len(details) - 3} more)"
        raise CapError(message, details[0][0], details)


# Parsing and the schema are pure Python: in a thread they would still take the interpreter lock
# from the event loop for milliseconds at a time, so they run in worker processes, which can
# also be stopped when a message overruns its budget. Geometry (GEOS) runs in threads.
_threads = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="loa-cap")
_processes: ProcessPoolExecutor | None = None
_processes_lock = threading.Lock()


def _warm_up() -> None:
    schema()


def _process_pool() -> ProcessPoolExecutor:
    global _processes
    with _processes_lock:
        if _processes is None:
            _processes = ProcessPoolExecutor(max_workers=WORKERS, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_warm_up)
        return _processes


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop the workers of `pool` (one of them overran its budget); the next use starts new ones."""
    global _processes
    with _processes_lock:
        if _processes is pool:
            _processes = None
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def _overran(budget: float) -> CapTooComplex:
    return CapTooComplex(f"the message took more than {budget:g} s to read and check: refused", "/")


async def off_the_loop(function, *args, budget: float | None = None):
    """`function(*args)` in a worker thread, refused (CapTooComplex) after `budget` seconds."""
    budget = WORK_SECONDS if budget is None else budget
    future = asyncio.get_running_loop().run_in_executor(_threads, function, *args)
    try:
        return await asyncio.wait_for(future, budget)
    except TimeoutError:
        raise _overran(budget) from None


async def parse_off_the_loop(data: bytes | str, *, max_bytes: int | None = None,
                             budget: float | None = None) -> CapMessage:
    """`parse` in a worker process, stopped after `budget` seconds: what the route and the feeds use."""
    if max_bytes is not None and len(data) > max_bytes:  # refused before any work
        raise CapTooLarge(f"the CAP message is {len(data):,} bytes, more than the {max_bytes:,} accepted")
    budget = WORK_SECONDS if budget is None else budget
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    for _attempt in range(2):
        pool = _process_pool()
        try:
            future = loop.run_in_executor(pool, functools.partial(parse, data, max_bytes=max_bytes))
            return await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
        except TimeoutError:
            _stop_pool(pool)
            raise _overran(budget) from None
        except BrokenProcessPool:  # stopped for another message's overrun, or a worker died: once more
            _stop_pool(pool)
    # Workers that cannot start (a __main__ that cannot be imported again): a thread does it.
    log.warning("cap_workers_broken %s", fields(fallback="thread"))
    return await off_the_loop(functools.partial(parse, data, max_bytes=max_bytes),
                              budget=max(0.0, deadline - loop.time()))


def parse(data: bytes | str, *, max_bytes: int | None = None) -> CapMessage:
    """A CAP message from its XML, refused (CapError) unless safe, schema-valid and sound."""
    root = read_xml(data, max_bytes=max_bytes)
    _bounded(root)
    version = _as_cap12(root)
    validate(root)
    return _message(root, version)


# ---------------------------------------------------------------------------- the rules


def _find_text(element: ET.Element, name: str) -> str | None:
    child = element.find(f"{{{CAP12}}}{name}")
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _find_all_text(element: ET.Element, name: str) -> list[str]:
    return [(child.text or "").strip() for child in element.findall(f"{{{CAP12}}}{name}")]


def _time(value: str | None, path: str) -> datetime | None:
    if value is None:
        return None
    if not _DATETIME.match(value):
        raise CapError(f"must be a date and time with its time zone, such as 2026-11-24T08:00:00+07:00 "
                       f"(got {value!r})", path)
    try:
        return datetime.fromisoformat(value).astimezone(timezone.utc)
    except ValueError:
        raise CapError(f"{value!r} is not a valid date and time", path) from None


def _id_part(value: str | None, path: str, what: str) -> str:
    if not value:
        raise CapError(f"{what} is empty", path)
    if _FORBIDDEN_IN_ID.search(value):
        raise CapError(f"{what} must not contain spaces, commas, '<' or '&' (got {value!r})", path)
    return value


def _references(value: str | None) -> tuple[Reference, ...]:
    path = "/alert/references"
    if value is None:
        return ()
    found = []
    for token in value.split():
        parts = token.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapError(f"each reference must be sender,identifier,sent (got {token!r})", path)
        sent = _time(parts[2], path)
        found.append(Reference(parts[0], parts[1], sent))
    return tuple(found)


def _pairs(text: str, path: str) -> list[tuple[float, float]]:
    pairs = []
    for token in text.split():
        lat_lon = token.split(",")
        try:
            lat, lon = (float(value) for value in lat_lon)
        except ValueError:
            raise CapError(f"{token!r} is not a latitude,longitude pair", path) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not (math.isfinite(lat) and math.isfinite(lon)):
            raise CapError(f"{token!r} is outside WGS 84 latitudes and longitudes", path)
        pairs.append((lat, lon))
    return pairs


def _polygon(text: str, path: str) -> tuple[tuple[float, float], ...]:
    points = _pairs(text, path)
    if len(points) < 4:
        raise CapError(f"a polygon needs at least 4 coordinate pairs (got {len(points)})", path)
    if len(points) > MAX_POLYGON_POINTS:
        raise CapTooComplex(f"a polygon may have at most {MAX_POLYGON_POINTS:,} coordinate pairs (got {len(points):,})",
                            path)
    if points[0] != points[-1]:
        raise CapError("a polygon's first and last coordinate pairs must be equal", path)
    return tuple(points)


def _circle(text: str, path: str) -> tuple[float, float, float]:
    centre, _, radius = text.strip().partition(" ")
    points = _pairs(centre, path) if centre else []
    try:
        radius_km = float(radius.strip())
    except ValueError:
        radius_km = -1.0
    if len(points) != 1 or not (0 <= radius_km < 40_000):
        raise CapError(f"a circle is 'latitude,longitude radius' with the radius in km (got {text.strip()!r})", path)
    return points[0][0], points[0][1], radius_km


def _area(element: ET.Element, path: str) -> CapArea:
    polygons = tuple(_polygon(text, f"{path}/polygon[{n}]")
                     for n, text in enumerate(_find_all_text(element, "polygon"), 1) if text)
    circles = tuple(_circle(text, f"{path}/circle[{n}]")
                    for n, text in enumerate(_find_all_text(element, "circle"), 1) if text)
    geocodes = tuple(
        ((_find_text(code, "valueName") or ""), (_find_text(code, "value") or ""))
        for code in element.findall(f"{{{CAP12}}}geocode"))
    return CapArea(_find_text(element, "areaDesc") or "", polygons, circles, geocodes)


def _info(element: ET.Element, path: str) -> CapInfo:
    return CapInfo(
        language=_find_text(element, "language") or DEFAULT_LANGUAGE,
        categories=tuple(_find_all_text(element, "category")),
        event=_find_text(element, "event") or "",
        urgency=_find_text(element, "urgency") or "Unknown",
        severity=_find_text(element, "severity") or "Unknown",
        certainty=_find_text(element, "certainty") or "Unknown",
        effective=_time(_find_text(element, "effective"), f"{path}/effective"),
        onset=_time(_find_text(element, "onset"), f"{path}/onset"),
        expires=_time(_find_text(element, "expires"), f"{path}/expires"),
        sender_name=_find_text(element, "senderName"),
        headline=_find_text(element, "headline"),
        description=_find_text(element, "description"),
        instruction=_find_text(element, "instruction"),
        web=_find_text(element, "web"),
        contact=_find_text(element, "contact"),
        areas=tuple(_area(area, f"{path}/area[{n}]")
                    for n, area in enumerate(element.findall(f"{{{CAP12}}}area"), 1)),
    )


def _message(root: ET.Element, version: str) -> CapMessage:
    """The message of a schema-valid tree, checked against what the schema cannot express."""
    msg_type = _find_text(root, "msgType") or ""
    scope = _find_text(root, "scope") or ""
    message = CapMessage(
        identifier=_id_part(_find_text(root, "identifier"), "/alert/identifier", "<identifier>"),
        sender=_id_part(_find_text(root, "sender"), "/alert/sender", "<sender>"),
        sent=_time(_find_text(root, "sent"), "/alert/sent"),
        status=_find_text(root, "status") or "",
        msg_type=msg_type,
        scope=scope,
        version=version,
        source=_find_text(root, "source"),
        restriction=_find_text(root, "restriction"),
        addresses=_find_text(root, "addresses"),
        codes=tuple(code for code in _find_all_text(root, "code") if code),
        note=_find_text(root, "note"),
        references=_references(_find_text(root, "references")),
        incidents=_find_text(root, "incidents"),
        infos=tuple(_info(info, f"/alert/info[{n}]")
                    for n, info in enumerate(root.findall(f"{{{CAP12}}}info"), 1)),
    )
    if msg_type in ("Update", "Cancel", "Ack", "Error") and not message.references:
        raise CapError(f"a message of msgType {msg_type} must name earlier messages in <references> "
                       "(sender,identifier,sent ...)", "/alert/references")
    if msg_type in ("Alert", "Update") and not message.infos:
        raise CapError(f"an {msg_type} message needs at least one <info> block (it has none)", "/alert/info")
    shapes = sum(len(area.polygons) + len(area.circles) for info in message.infos for area in info.areas)
    if shapes > MAX_SHAPES:
        raise CapTooComplex(f"a message may have at most {MAX_SHAPES} polygons and circles (it has {shapes})",
                            "/alert/info")
    if scope == "Restricted" and not message.restriction:
        raise CapError("a message of scope Restricted needs a <restriction>", "/alert/restriction")
    if scope == "Private" and not message.addresses:
        raise CapError("a message of scope Private needs <addresses>", "/alert/addresses")
    return message


# ---------------------------------------------------------------------------- mapping


def topic_for(message: CapMessage, available: list[str]) -> str:
    """The topic of the first category whose topic exists; else "general"; else the first one."""
    for info in message.infos:
        for category in info.categories:
            topic = CATEGORY_TOPICS.get(category)
            if topic in available:
                return topic
    if FALLBACK_TOPIC in available:
        return FALLBACK_TOPIC
    if not available:
        raise RuntimeError("there are no topics: an alert needs one")
    return available[0]


def severity_of(message: CapMessage) -> Severity:
    found = [SEVERITIES.get(info.severity, Severity.UNKNOWN) for info in message.infos]
    return min(found, key=list(Severity).index, default=Severity.UNKNOWN)


def urgency_of(message: CapMessage) -> Urgency:
    found = [URGENCIES.get(info.urgency, Urgency.UNKNOWN) for info in message.infos]
    return min(found, key=list(Urgency).index, default=Urgency.UNKNOWN)


def expiry_of(message: CapMessage) -> datetime | None:
    return max((info.expires for info in message.infos if info.expires), default=None)


def texts_of(message: CapMessage) -> dict[str, str]:
    """One text per language; info blocks in the same language are joined (once each)."""
    texts: dict[str, list[str]] = {}
    for info in message.infos:
        parts = texts.setdefault(info.language_code, [])
        if info.text not in parts:
            parts.append(info.text)
    return {language: "\n\n".join(parts) for language, parts in texts.items()}


def _first(values: Iterable[str | None]) -> str | None:
    return next((value for value in values if value), None)


def sender_name_of(message: CapMessage) -> str:
    return (_first(info.sender_name for info in message.infos) or message.sender)[:SENDER_NAME_LENGTH]


def link_of(message: CapMessage) -> str | None:
    link = _first(info.web for info in message.infos)
    return link if link and len(link) <= LINK_LENGTH else None


def held_reason(message: CapMessage) -> str | None:
    """Why the message is recorded but not sent to residents, or None."""
    if message.status != "Actual":
        return f"status {message.status}: recorded, not sent to residents"
    if message.scope != "Public":
        return f"scope {message.scope}: recorded, not sent to residents"
    return None


# ---------------------------------------------------------------------------- areas


def _shapes(cap_areas: list[CapArea]) -> list:
    """The polygons and circles of the <area> blocks as shapely geometries (CPU work)."""
    shapes = [cap_areas_index.polygon_shape(ring) for cap_area in cap_areas for ring in cap_area.polygons]
    shapes += [cap_areas_index.circle_shape(*circle) for cap_area in cap_areas for circle in cap_area.circles]
    return shapes


def _meeting(index: cap_areas_index.AreaIndex, cap_areas: list[CapArea]) -> set[str]:
    return index.meeting(_shapes(cap_areas))


async def _shape_matches(db, cap_areas: list[CapArea], offload) -> set[str]:
    """The areas whose boundary meets a polygon or circle, at the most detailed level: an area
    whose children have boundaries of their own is left to them (they decide)."""
    if not any(cap_area.polygons or cap_area.circles for cap_area in cap_areas):
        return set()
    index = await cap_areas_index.area_index(db, offload)
    return await offload(_meeting, index, cap_areas)


async def _geocode_matches(session: AsyncSession, cap_areas: list[CapArea]) -> set[str]:
    values = {value.strip() for cap_area in cap_areas for _, value in cap_area.geocodes if value.strip()}
    values = {value for value in values if len(value) <= 16}
    if not values:
        return set()
    return set((await session.execute(select(Area.code).where(Area.code.in_(values)))).scalars())


async def match_areas(db, message: CapMessage, *, budget: float | None = None) -> list[str]:
    """The area codes the message's <area> blocks name, with no unit listed under another.

    A geocode names an area when its value is an area's code, whatever its valueName ("01" is
    Hà Nội). A polygon or circle names the areas whose boundary it meets (`broadcasts.cap_areas`;
    areas without a boundary are found by geocode only), at the most detailed level that has
    boundaries. A unit under another listed unit is dropped: the alert reaches it anyway.
    The geometry runs in a worker thread, within `budget` seconds (WORK_SECONDS by default);
    no transaction is open meanwhile.
    """
    cap_areas = [cap_area for info in message.infos for cap_area in info.areas]

    async def offload(function, *args):
        return await off_the_loop(function, *args, budget=budget)

    async with db.read() as session:
        codes = await _geocode_matches(session, cap_areas)
    codes |= await _shape_matches(db, cap_areas, offload)
    kept = []
    async with db.read() as session:
        for code in sorted(codes):
            chain = await area_store.path(session, code)
            if not any(ancestor.code in codes for ancestor in chain[:-1]):
                kept.append(code)
    return kept


# ---------------------------------------------------------------------------- taking a message


@dataclass
class Taken:
    """What became of a message: its alert, whether it was new, how many residents it reaches."""

    alert: Alert
    created: bool
    queued: bool  # its messages to residents are in the outbox
    recipients: int
    warnings: list[str] = field(default_factory=list)
    effects: Effects = NOTHING  # what is left to do once it is stored and composed (the sender to wake)

    def as_dict(self) -> dict:
        alert = self.alert
        return {
            "alert": {
                "id": alert.id,
                "source": alert.source,
                "identifier": alert.identifier,
                "kind": alert.kind,
                "status": alert.status,
                "replaces_id": alert.replaces_id,
                "topic": alert.topic_code,
                "severity": alert.severity,
                "urgency": alert.urgency,
                "areas": list(alert.area_codes),
                "languages": sorted(alert.texts),
                "expires_at": alert.expires_at.isoformat() if alert.expires_at else None,
                "created_at": alert.created_at.isoformat() if alert.created_at else None,
            },
            "duplicate": not self.created,
            "queued": self.queued,
            "recipients": self.recipients,
            "warnings": list(self.warnings),
        }


def owner_of(agency_code: str | None) -> str:
    """Who a message's identifier belongs to: the agency whose token sent it, "" for the city's feeds."""
    return agency_code or ""


async def _existing(session: AsyncSession, key: str, owner: str) -> Alert | None:
    """The alert this owner's message made before (another agency's never counts)."""
    return (await session.execute(select(Alert).where(
        Alert.source == SOURCE, Alert.owner == owner, Alert.identifier == key))).scalar_one_or_none()


async def _duplicate(session: AsyncSession, existing: Alert) -> Taken:
    recipients = await _recipients(session, existing.id)
    return Taken(existing, False, recipients > 0, recipients, ["already taken: nothing new"])


async def _recipients(session: AsyncSession, alert_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(Delivery)
                                  .where(Delivery.alert_id == alert_id))).scalar_one()


async def _latest_follow_up(session: AsyncSession, alert: Alert) -> Alert:
    """The end of the chain of corrections that replaced `alert` (itself when none did)."""
    seen = {alert.id}
    while True:
        newer = (await session.execute(select(Alert).where(Alert.replaces_id == alert.id)
                                       .order_by(Alert.id.desc()).limit(1))).scalar_one_or_none()
        if newer is None or newer.id in seen:
            return alert
        seen.add(newer.id)
        alert = newer


async def _target(session: AsyncSession, message: CapMessage, agency_code: str | None) -> Alert | None:
    """The alert an Update or Cancel acts on: of those its references name (from its own
    sender, and taken for the same agency: a token cannot touch another agency's alerts by
    naming their sender), the latest end of their chains of corrections."""
    keys = [reference.key for reference in message.references if reference.sender == message.sender]
    if not keys:
        return None
    found = (await session.execute(select(Alert).where(Alert.source == SOURCE, Alert.identifier.in_(keys),
                                                       Alert.owner == owner_of(agency_code)))).scalars()
    ends = [await _latest_follow_up(session, alert) for alert in found]
    return max(ends, key=lambda alert: alert.id, default=None)


async def take(db, message: CapMessage, *, tz: ZoneInfo, now: datetime | None = None,
               on_slice: Callable[[], None] | None = None, agency_code: str | None = None,
               budget: float | None = None) -> Taken:
    """Store the message as an alert (once per owner) and queue it for the residents it reaches;
    an agency's token sends it for that agency (`agency_code`), a configured feed for the city.

    The areas are matched first (geometry in a worker thread, within `budget`), with no
    transaction open; the alert is then written in one short transaction."""
    if message.msg_type not in KINDS:
        raise CapUnsupported(f"msgType {message.msg_type} is not an alert: Loa takes Alert, Update and Cancel",
                             "/alert/msgType")
    key, owner = message.key, owner_of(agency_code)
    async with db.read() as session:
        existing = await _existing(session, key, owner)
        if existing is not None:
            return await _duplicate(session, existing)
    codes = await match_areas(db, message, budget=budget)
    try:
        taken, effects = await _store(db, message, key, now or utcnow(), agency_code, codes)
    except IntegrityError:  # the same message, taken by another request at the same moment
        async with db.read() as session:
            existing = await _existing(session, key, owner)
            if existing is None:
                raise
            return await _duplicate(session, existing)
    if effects.compose:
        _added, effects = await lifecycle.compose_now(db, effects, tz=tz, on_slice=on_slice)
    taken.effects = effects
    if taken.created:
        async with db.read() as session:
            taken.alert = await session.get(Alert, taken.alert.id)
            taken.recipients = await _recipients(session, taken.alert.id)
        alert = taken.alert
        log.info("cap_alert %s", fields(alert=alert.id, kind=alert.kind, replaces=alert.replaces_id,
                                         identifier=alert.identifier, areas=len(alert.area_codes),
                                         recipients=taken.recipients, held="; ".join(taken.warnings) or None))
    return taken


async def _store(db, message: CapMessage, key: str, now: datetime, agency_code: str | None,
                 codes: list[str]) -> tuple[Taken, Effects]:
    """One transaction: the alert row (or follow-up) through the life cycle (broadcasts/lifecycle.py);
    returns it and what is left to do (the alert to compose)."""
    async with db.transaction() as session:
        existing = await _existing(session, key, owner_of(agency_code))
        if existing is not None:
            return await _duplicate(session, existing), NOTHING
        available = list((await session.execute(select(Topic.code).order_by(Topic.position, Topic.code))).scalars())
        kind = KINDS[message.msg_type]
        expires_at = expiry_of(message)
        texts = texts_of(message)
        by = lifecycle.By(SOURCE, name=sender_name_of(message), agency_code=agency_code)
        origin = dict(identifier=key, link=link_of(message), owner=owner_of(agency_code))
        warnings: list[str] = []
        held = held_reason(message)
        if held:
            warnings.append(held)
        target = None
        if kind != Kind.ALERT and not held:
            target = await _target(session, message, agency_code)
            if target is None:
                if kind == Kind.CORRECTION:
                    kind = Kind.ALERT
                    warnings.append("the alerts it updates were not taken here: taken as a new alert")
                else:
                    held = "the alerts it cancels were not taken here: recorded, nothing to cancel"
                    warnings.append(held)
            elif target.kind == Kind.CANCELLATION:
                held = f"alert {target.replaces_id} is already cancelled: recorded, nothing to do"
                target = None
                warnings.append(held)
        expired = lifecycle.check_times(now=now, expires_at=expires_at) is not None
        if target is not None:
            # With CAP's rules (above), not those of a person's Correct / Cancel: the chain's end
            # is followed up whatever its status.
            changes = {}
            recompose = False
            if kind == Kind.CORRECTION:
                changes = dict(severity=severity_of(message).value, urgency=urgency_of(message).value,
                               expires_at=expires_at or target.expires_at)
                if codes and not expired:
                    changes["area_codes"] = codes
                    recompose = True  # composed once this commits; resumed after a crash
            follow = await lifecycle.follow_up(session, target, kind, texts if message.infos else {},
                                               recompose=recompose, **by.fields(), **origin, **changes)
            await session.flush()
            effects = Effects(compose=frozenset({follow.id})) if recompose else Effects(wake_sender=True)
            return Taken(follow, True, True, 0, warnings), effects
        if not held and kind == Kind.ALERT:
            if not codes:
                held = "no area of this installation matches its <area> blocks: recorded, sent to nobody"
                warnings.append(held)
            elif expired:
                held = "it expired before it arrived: recorded, not sent"
                warnings.append(held)
        fields = dict(topic_code=topic_for(message, available), severity=severity_of(message),
                      urgency=urgency_of(message), area_codes=codes, texts=texts, kind=kind, expires_at=expires_at,
                      **origin)
        if held:
            alert = await lifecycle.record(session, by, now=now, **fields)
            return Taken(alert, True, False, 0, warnings), NOTHING
        sent = await lifecycle.send(session, by, tz=None, **fields)
        return Taken(sent.alert, True, True, 0, warnings), sent.effects


async def ingest(db, data: bytes | str, *, tz: ZoneInfo, max_bytes: int | None = None,
                 now: datetime | None = None, on_slice: Callable[[], None] | None = None,
                 agency_code: str | None = None) -> Taken:
    """`parse` then `take`, the work off the event loop: what POST /api/v1/cap does with a CAP document."""
    message = await parse_off_the_loop(data, max_bytes=max_bytes)
    return await take(db, message, tz=tz, now=now, on_slice=on_slice, agency_code=agency_code)
