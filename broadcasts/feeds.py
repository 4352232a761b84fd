"""Polling CAP feeds: the URLs of LOA_CAP_FEEDS, every LOA_CAP_FEED_SECONDS (the bot's job,
handlers/feed_job.py), with aiohttp.

A feed is an Atom feed (or RSS 2.0) whose entries link to CAP documents, or carry one in their
content, or a single CAP document. Each poll is a conditional GET: the ETag and Last-Modified the
server gave last time are kept in `cap_feeds` (one row per URL) and sent back, so an unchanged
feed costs a 304 and nothing else. On a 200 the entries not handled yet are fetched (at most
MAX_ENTRIES a poll: the oldest first by the entries' dates when every one has a date, so that a
feed listed newest first, as most are and Loa's own is, gives the alerts before their updates),
parsed and taken oldest first (by their <sent>), so an Update comes after the Alert it updates;
`broadcasts.cap.take` takes each message once for the city (source "cap", identifier
"sender,identifier", owner ""), whatever feed it came by. The city's feeds are one owner among
the agencies: an agency posting the same message with its token makes an alert of its own
(deduplication is per owner, so no agency's message ever answers for another's). Reading,
checking and matching a document runs in a worker thread within its time budget, as for POST
/api/v1/cap.

What a poll handled is remembered in memory (entry id and updated time per feed); after a
restart the stored ETag usually answers 304, and when it does not, the entries are fetched
again and found already taken. An entry that could not be fetched (network, 5xx) leaves the
feed's ETag as it was, so the next poll fetches the feed and tries it again; a refused document
is not tried again. Every problem is logged and recorded in `cap_feeds.last_error` (the latest
poll's, empty when it went well) and never stops the job. Responses are read up to a cap
(FEED_MAX_BYTES for a feed, LOA_MAX_BODY_BYTES for a CAP document) and parsed as safely as a
POSTed message (no DTD, no entities). Entry links may point anywhere over http(s), as feeds'
do; only the configured feeds are trusted to choose them.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import aiohttp

from broadcasts import cap
from kernel.logs import fields
from kernel.settings import Settings
from storage.db import Database
from storage.models import CapFeed
from storage.types import utcnow

log = logging.getLogger("loa.cap_feeds")

ATOM = "http://www.w3.org/2005/Atom"
CAP_TAGS = {f"{{{cap.CAP12}}}alert", f"{{{cap.CAP11}}}alert"}
FEED_MAX_BYTES = 16 * 1024 * 1024
MAX_ENTRIES = 50  # CAP documents fetched in one poll of one feed; the rest wait for the next
TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
MAX_REDIRECTS = 5
USER_AGENT = "Loa CAP poller"
ACCEPT = "application/atom+xml, application/cap+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.1"
ERROR_LENGTH = 500  # cap_feeds.last_error


def feed_urls(settings: Settings) -> list[str]:
    """LOA_CAP_FEEDS as a list: http(s) URLs separated by commas, each once."""
    urls = []
    for url in (part.strip() for part in settings.cap_feeds.replace("\n", ",").split(",")):
        if not url:
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            log.warning("cap_feed_ignored %s", fields(url=url, reason="not an http(s) URL"))
            continue
        if url not in urls:
            urls.append(url)
    return urls


class _Transient(Exception):
    """Worth trying again at the next poll (network, timeout, 5xx, 429)."""


class _Refused(Exception):
    """Not worth trying again (4xx, too large, not XML, not CAP)."""


@dataclass
class Entry:
    key: str  # what the poller remembers: the entry's id (or link) and updated time
    url: str | None = None
    embedded: ET.Element | None = None
    updated: datetime | None = None  # Atom's <updated>, RSS's <pubDate>, when readable


def _date(text: str, rss: bool) -> datetime | None:
    """An entry's date (RFC 3339 in Atom, RFC 822 in RSS), aware; None when unreadable."""
    try:
        found = parsedate_to_datetime(text) if rss else datetime.fromisoformat(text)
    except (TypeError, ValueError, IndexError):
        return None
    return found if found.tzinfo is not None else None


def oldest_first(found: list[Entry]) -> list[Entry]:
    """The entries by date, oldest first, when every one has a date; else in the feed's order.
    Entries of the same second are taken as listed newest first, the feeds' custom."""
    if any(entry.updated is None for entry in found):
        return found
    ordered = sorted(enumerate(found), key=lambda pair: (pair[1].updated, -pair[0]))
    return [entry for _, entry in ordered]


@dataclass
class FeedResult:
    url: str
    status: int | None = None  # the feed's HTTP status (304: unchanged)
    taken: list[int] = field(default_factory=list)  # ids of the alerts made by this poll
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None  # the feed itself failed

    @property
    def summary(self) -> str | None:
        parts = ([self.error] if self.error else []) + self.problems
        return "; ".join(parts)[:ERROR_LENGTH] if parts else None


async def _get(http: aiohttp.ClientSession, url: str, limit: int,
               headers: dict[str, str] | None = None) -> tuple[int, Mapping[str, str], bytes]:
    """(status, headers, body) of a GET, the body read up to `limit` bytes (after decoding)."""
    try:
        async with http.get(url, headers=headers or {}, max_redirects=MAX_REDIRECTS) as response:
            if response.status != 200:
                return response.status, response.headers.copy(), b""
            if response.content_length is not None and response.content_length > limit:
                raise _Refused(f"{url}: {response.content_length:,} bytes, more than the {limit:,} accepted")
            chunks, size = [], 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise _Refused(f"{url}: more than the {limit:,} bytes accepted")
                chunks.append(chunk)
            return 200, response.headers.copy(), b"".join(chunks)
    except (TimeoutError, aiohttp.ClientError, OSError) as error:
        raise _Transient(f"{url}: {type(error).__name__}: {error}".rstrip(": ")) from None


def _entry_link(element: ET.Element, base: str) -> str | None:
    links = element.findall(f"{{{ATOM}}}link")
    ordered = ([link for link in links if "cap" in (link.get("type") or "").lower()]
               + [link for link in links if link.get("rel") in (None, "alternate")] + links)
    for link in ordered:
        href = (link.get("href") or "").strip()
        if href:
            return urljoin(base, href)
    return None


def _embedded(element: ET.Element) -> ET.Element | None:
    return next((child for child in element.iter() if child.tag in CAP_TAGS), None)


def entries(root: ET.Element, base: str) -> list[Entry] | None:
    """The entries of an Atom or RSS feed; None when the document is neither."""
    found = []
    if root.tag == f"{{{ATOM}}}feed":
        for element in root.findall(f"{{{ATOM}}}entry"):
            entry_id = (element.findtext(f"{{{ATOM}}}id") or "").strip()
            updated = (element.findtext(f"{{{ATOM}}}updated") or "").strip()
            url = _entry_link(element, base)
            if url is None and urlsplit(entry_id).scheme in ("http", "https"):
                url = entry_id
            found.append(Entry(f"{entry_id or url}|{updated}", url, _embedded(element), _date(updated, False)))
        return found
    if root.tag == "rss":
        for element in root.iter("item"):
            link = (element.findtext("link") or "").strip()
            guid = (element.findtext("guid") or "").strip()
            updated = (element.findtext("pubDate") or "").strip()
            url = urljoin(base, link) if link else (guid if urlsplit(guid).scheme in ("http", "https") else None)
            found.append(Entry(f"{guid or url}|{updated}", url, _embedded(element), _date(updated, True)))
        return found
    return None


class FeedPoller:
    """Polls the configured feeds; one per running bot (handlers/feed_job.py runs it)."""

    def __init__(self, db: Database, settings: Settings, *, on_queued=None,
                 timeout: aiohttp.ClientTimeout = TIMEOUT) -> None:
        self.db = db
        self.settings = settings
        self.on_queued = on_queued
        self.timeout = timeout
        self.seen: dict[str, set[str]] = {}

    async def poll_all(self, urls: list[str] | None = None) -> list[FeedResult]:
        """Poll every feed once; never raises."""
        results = []
        try:
            async with aiohttp.ClientSession(timeout=self.timeout,
                                             headers={"User-Agent": USER_AGENT, "Accept": ACCEPT}) as http:
                for url in urls if urls is not None else feed_urls(self.settings):
                    results.append(await self.poll(http, url))
        except Exception:
            log.exception("cap_feeds_failed")
        return results

    async def poll(self, http: aiohttp.ClientSession, url: str) -> FeedResult:
        """Poll one feed; every problem ends up in the result and in `cap_feeds`, never raised."""
        result = FeedResult(url)
        validators: dict[str, str | None] | None = None
        try:
            validators = await self._poll(http, url, result)
        except _Transient as error:
            result.error = str(error)
        except _Refused as error:
            result.error = str(error)
        except Exception as error:  # a bug or the database: recorded, the job carries on
            log.exception("cap_feed_failed %s", fields(url=url))
            result.error = f"{type(error).__name__}: {error}"
        try:
            await self._record(url, result, validators)
        except Exception:
            log.exception("cap_feed_not_recorded %s", fields(url=url))
        log.log(logging.WARNING if result.summary else logging.INFO, "cap_feed_polled %s", fields(
            url=url, status=result.status, taken=len(result.taken), duplicates=result.duplicates,
            problem=result.summary))
        return result

    async def _stored(self, url: str) -> CapFeed | None:
        async with self.db.read() as session:
            return await session.get(CapFeed, url)

    async def _record(self, url: str, result: FeedResult, validators: dict[str, str | None] | None) -> None:
        async with self.db.transaction() as session:
            row = await session.get(CapFeed, url)
            if row is None:
                row = CapFeed(url=url)
                session.add(row)
            row.checked_at = utcnow()
            row.last_status = result.status
            row.last_error = result.summary
            if validators is not None:
                etag, last_modified = validators.get("etag"), validators.get("last_modified")
                # One cut short would never match again: better none.
                row.etag = etag if etag and len(etag) <= 255 else None
                row.last_modified = last_modified if last_modified and len(last_modified) <= 64 else None

    async def _poll(self, http: aiohttp.ClientSession, url: str, result: FeedResult) -> dict[str, str | None] | None:
        """Returns the validators to store (None: keep the stored ones)."""
        stored = await self._stored(url)
        headers = {}
        if stored is not None and stored.etag:
            headers["If-None-Match"] = stored.etag
        if stored is not None and stored.last_modified:
            headers["If-Modified-Since"] = stored.last_modified
        status, response_headers, body = await _get(http, url, FEED_MAX_BYTES, headers)
        result.status = status
        if status == 304:
            return None
        if status != 200:
            raise (_Transient if status >= 500 or status == 429 else _Refused)(f"{url}: HTTP {status}")
        validators = {"etag": response_headers.get("ETag"), "last_modified": response_headers.get("Last-Modified")}
        try:
            root = await cap.off_the_loop(lambda: cap.read_xml(body, max_bytes=FEED_MAX_BYTES, what="feed"))
        except cap.CapError as error:
            raise _Refused(f"{url}: {error}") from None
        if root.tag in CAP_TAGS:  # the feed is one CAP document (taken once: see cap.take)
            message = await self._parse(body, url, result)
            await self._take([message] if message is not None else [], result)
            return validators
        found = entries(root, url)
        if found is None:
            raise _Refused(f"{url}: neither an Atom or RSS feed nor a CAP alert (root <{root.tag}>)")
        return validators if await self._entries(http, url, found, result) else None

    async def _parse(self, data: bytes, where: str, result: FeedResult) -> cap.CapMessage | None:
        try:
            return await cap.parse_off_the_loop(data, max_bytes=self.settings.max_body_bytes)
        except cap.CapError as error:
            result.problems.append(f"{where}: {error}")
            return None

    async def _entries(self, http: aiohttp.ClientSession, url: str, found: list[Entry], result: FeedResult) -> bool:
        """Fetch and take the new entries; True when every entry was handled."""
        seen = self.seen.setdefault(url, set())
        new = oldest_first([entry for entry in found if entry.key not in seen])
        complete = len(new) <= MAX_ENTRIES
        handled: list[str] = []
        messages: list[cap.CapMessage] = []
        for entry in new[:MAX_ENTRIES]:
            where = entry.url or entry.key
            try:
                if entry.embedded is not None:
                    data = await cap.off_the_loop(ET.tostring, entry.embedded, "utf-8")
                elif entry.url is not None and urlsplit(entry.url).scheme in ("http", "https"):
                    status, _, data = await _get(http, entry.url, self.settings.max_body_bytes)
                    if status != 200:
                        failure = _Transient if status >= 500 or status == 429 else _Refused
                        raise failure(f"{entry.url}: HTTP {status}")
                else:
                    raise _Refused(f"entry {entry.key}: no http(s) link to a CAP document")
            except _Transient as error:
                result.problems.append(str(error))
                complete = False
                continue
            except _Refused as error:
                result.problems.append(str(error))
                handled.append(entry.key)
                continue
            message = await self._parse(data, where, result)
            if message is not None:
                messages.append(message)
            handled.append(entry.key)
        await self._take(messages, result)
        # What the feed still lists and was handled; what it dropped is forgotten.
        current = {entry.key for entry in found}
        self.seen[url] = (seen & current) | set(handled)
        return complete

    async def _take(self, messages: list[cap.CapMessage], result: FeedResult) -> None:
        for message in sorted(messages, key=lambda m: m.sent):
            try:
                taken = await cap.take(self.db, message, tz=self.settings.tz, on_slice=self.on_queued)
            except cap.CapError as error:
                result.problems.append(f"{message.key}: {error}")
                continue
            if taken.created:
                result.taken.append(taken.alert.id)
                if taken.queued and self.on_queued is not None:
                    self.on_queued()
            else:
                result.duplicates += 1
