"""The sandbox's demo data: a small Hà Nội as the real flows would have left it.

`seed` fills a freshly migrated database that has the shipped areas with:

- the agencies and routing rules of `storage/seed/agencies-hanoi.toml`, with the Telegram groups
  of the cast (sandbox/cast.py): one for each agency a report of the central wards can go to;
- the staff's roles: Hùng moderator, Mai at URENCO, Dũng at the Department of Transport, Thảo at
  the other agencies of those groups, An admin;
- residents as /start leaves them (language, ward, topics, quiet hours): Lan (Ba Đình) and Tom
  (Hoàn Kiếm, English), and 40 others in ten central wards; Hoa is not there, she plays a
  newcomer;
- 30 reports of the last 60 days, filed and moved through the life cycle by the cast: waiting
  for the moderators, assigned, in progress, resolved and waiting for a rating, closed with each
  rating and automatically, rejected, one duplicate, one urgent, one reopened, one overdue (as the
  deadline job would have flagged and escalated it). Lan has four (one to rate, one in progress,
  one closed, one just assigned), Tom two;
- in the thread of Lan's report in progress (the blocked drain), Hùng's question and her answer
  (complaints/thread.py), the question delivered back then;
- a severe weather alert for Hà Nội sent two days ago, its deliveries recorded as sent.

What the residents and groups were told back then is history: it is not in the outbox, so
nothing old is sent when the sandbox starts. The staff's cards of the open and resolved reports are
left for the bot to post (handlers/staff_cards.py); the reports that are over are marked as shown.

The choices are drawn from `random.Random(2026)` and the times are counted back from `now`, so
two runs at the same moment give the same data (but the reference codes, drawn at random). The
demo goes only into a fresh database: `seed` raises `NotFresh` on one that has people or reports.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts import alerts, outbox
from broadcasts import lifecycle as alert_lifecycle
from complaints import actions, agencies, deadlines, lifecycle, public, reports, thread
from complaints.lifecycle import FINAL, Action, Actor, ActorKind, Policy, State
from handlers.rating import rating_markup
from kernel.i18n import pick_language, translator
from kernel.settings import Settings
from sandbox import cast
from storage import areas, residents, roles, topics
from storage.db import Database
from storage.models import Agency, Alert, Area, Delivery, Report, Resident, RoutingRule, StaffRole
from storage.types import utcnow

AGENCIES_FILE = areas.SHIPPED.parent / "agencies-hanoi.toml"
RANDOM_SEED = 2026

BA_DINH, HOAN_KIEM, NGOC_HA, CAU_GIAY, DONG_DA = "00004", "00070", "00008", "00166", "00235"
HAI_BA_TRUNG, O_CHO_DUA, TAY_HO, THANH_XUAN, LONG_BIEN = "00256", "00190", "00103", "00367", "00145"
WARDS = (BA_DINH, HOAN_KIEM, NGOC_HA, CAU_GIAY, DONG_DA, HAI_BA_TRUNG, O_CHO_DUA, TAY_HO, THANH_XUAN, LONG_BIEN)

# The other residents: the n-th lives in WARDS[n % 10]; those at ENGLISH speak English.
EXTRA_NAMES = ("Minh", "Hương", "Tuấn", "Linh", "Hải", "Thảo", "Nam", "Trang", "Đức", "Ngọc",
               "Quang", "Phương", "Long", "Yến", "Sơn", "Hạnh", "Khoa", "Vy", "Bình", "Thu",
               "Dương", "Nhung", "Việt", "Loan", "Huy", "My", "Tùng", "Chi", "Kiên", "Giang",
               "Phúc", "Oanh", "Thắng", "Quyên", "Hiếu", "Nga", "Cường", "Diệp", "Toàn", "Xuân")
ENGLISH = frozenset({2, 13, 21, 27, 36})


class NotFresh(RuntimeError):
    """The database already has residents, reports, agencies, roles or alerts."""


@dataclass(frozen=True)
class Demo:
    """What `seed` made."""

    residents: int
    reports: int
    states: tuple[tuple[str, int], ...]  # (state, number of reports), in the life cycle's order
    agencies: int
    routes: int
    staff_roles: int
    alert_id: int
    alert_recipients: int
    lan: tuple[str, ...]  # Lan's report codes, oldest first
    tom: tuple[str, ...]
    to_rate: str  # Lan's resolved report, waiting for her rating
    urgent: str
    overdue: str
    reopened: str
    asked: str  # Lan's report in progress, with Hùng's question and her answer in its thread

    @property
    def by_state(self) -> dict[str, int]:
        return dict(self.states)

    def summary(self) -> str:
        states = ", ".join(f"{count} {state.replace('_', ' ')}" for state, count in self.states if count)
        return (f"{self.residents} residents, {self.reports} reports ({states}), {self.agencies} agencies, "
                f"{self.staff_roles} staff roles, alert #{self.alert_id} sent to {self.alert_recipients}; "
                f"Lan's report to rate {self.to_rate}, urgent {self.urgent}, overdue {self.overdue}")


async def seed(db: Database, settings: Settings, *, now: datetime | None = None) -> Demo:
    """Fill a fresh database (migrated, with the areas) with the demo, in one transaction."""
    clock = Clock(now or utcnow(), settings.tz)
    rng = random.Random(RANDOM_SEED)
    async with db.transaction() as session:
        await check_fresh(session)
        await load_agencies(session)
        await grant_roles(session)
        people = await create_residents(session, settings, clock, rng)
        filed = await create_reports(session, settings, clock, rng, people)
        await ask_and_answer(session, settings, clock, filed["lan-drain"], people["lan"])
        await forget_old_messages(session, keep=filed["lan-pothole"])
        alert = await send_weather_alert(session, settings, clock)
        await mark_final_cards_shown(session)
        return await summarise(session, filed, alert)


# ---------------------------------------------------------------- the steps


async def check_fresh(session: AsyncSession) -> None:
    for model in (Resident, Report, Agency, StaffRole, Alert):
        if (await session.execute(select(func.count()).select_from(model))).scalar_one():
            raise NotFresh(f"the database already has {model.__tablename__}: the sandbox's demo data "
                           "goes only into a freshly migrated database (with the areas imported)")


async def load_agencies(session: AsyncSession) -> None:
    await agencies.load(session, agencies.read_config(AGENCIES_FILE))
    for group in cast.GROUPS:
        if group.agency is not None:
            await agencies.set_chat(session, group.agency, group.chat_id)


async def grant_roles(session: AsyncSession) -> None:
    for person in cast.STAFF:
        for agency in person.agencies or (None,):
            await roles.grant(session, person.telegram_id, person.role, agency_code=agency)


@dataclass(frozen=True)
class Person:
    """A resident of the demo: who reports and rates."""

    telegram_id: int
    resident_id: int
    name: str
    language: str
    ward: str


async def create_residents(session: AsyncSession, settings: Settings, clock: Clock,
                           rng: random.Random) -> dict[str, Person | list[Person]]:
    """Lan, Tom and the others, as /start leaves them: {"lan": …, "tom": …, "others": [...]}."""
    lan = await onboard(session, settings, cast.LAN.telegram_id, cast.LAN.first_name, cast.LAN.language,
                        cast.LAN.ward, joined=clock.at(70, "20:15"))
    tom = await onboard(session, settings, cast.TOM.telegram_id, cast.TOM.first_name, cast.TOM.language,
                        cast.TOM.ward, joined=clock.at(45, "09:30"), topics_off=("health", "food_safety", "general"),
                        quiet=(23, 7))
    others = []
    optional = [t.code for t in await topics.all_topics(session) if t.code != "weather"]
    for n, name in enumerate(EXTRA_NAMES):
        off = tuple(code for code in optional if rng.random() < 0.3)
        if rng.random() < 0.1:
            off += ("weather",)
        quiet = rng.choice(("keep", "keep", "keep", "off", (21, 6), (23, 7)))
        joined = clock.at(rng.randint(62, 120), f"{rng.randint(6, 22):02d}:{rng.randint(0, 59):02d}")
        others.append(await onboard(session, settings, cast.EXTRA_RESIDENTS_FROM + n, name,
                                    "en" if n in ENGLISH else "vi", WARDS[n % len(WARDS)], joined=joined,
                                    topics_off=off, quiet=quiet))
    return {"lan": lan, "tom": tom, "others": others}


async def onboard(session: AsyncSession, settings: Settings, telegram_id: int, first_name: str, language: str,
                  ward: str, *, joined: datetime, topics_off: tuple[str, ...] = (),
                  quiet: str | tuple[int, int] = "keep") -> Person:
    """What /start, then the language, area, topics and quiet-hours steps write (handlers/onboarding.py,
    area.py, preferences.py)."""
    resident, _ = await residents.upsert_on_start(session, telegram_id, first_name=first_name, username=None,
                                                  language=pick_language(language, settings.default_language))
    await topics.subscribe_defaults(session, resident.id)
    resident.language = language
    resident.area_code = (await areas.get(session, ward)).code
    for code in topics_off:
        await topics.toggle(session, resident.id, code)
    if quiet == "off":
        resident.quiet_start_minute = resident.quiet_end_minute = None
    elif quiet != "keep":
        resident.quiet_start_minute, resident.quiet_end_minute = quiet[0] * 60, quiet[1] * 60
    resident.onboarded, resident.awaiting = True, None
    resident.created_at = resident.updated_at = joined  # they started the bot back then
    await session.flush()
    return Person(telegram_id, resident.id, first_name, language, ward)


async def create_reports(session: AsyncSession, settings: Settings, clock: Clock, rng: random.Random,
                         people: dict) -> dict[str, Report]:
    """The stories of `stories`, each filed and then moved step by step at its past moments."""
    policy = bot_policy(settings)
    places = await WardPlaces.load(session)
    staff = {p.key: await lifecycle.actor_for(session, p.telegram_id, settings.admin_ids, name=p.name)
             for p in cast.STAFF if not p.agencies}
    by_agency = {agency: await lifecycle.actor_for(session, p.telegram_id, name=p.name, agency_code=agency)
                 for p in cast.STAFF for agency in p.agencies}
    filed: dict[str, Report] = {}
    for story in stories(clock, settings.autoclose_days):
        reporter = pick_reporter(story, people, rng)
        if story.near is not None:
            original = filed[story.near]
            latitude, longitude = places.near(story.ward, original.latitude, original.longitude, rng)
        else:
            latitude, longitude = places.inside(story.ward, rng)
        report = await reports.file(session, category_code=story.category, description=story.description,
                                    latitude=latitude, longitude=longitude, area_code=story.ward,
                                    address_text=story.address, resident_id=reporter.resident_id,
                                    reporter_name=reporter.name, tz=settings.tz, now=story.filed,
                                    rules=policy.rules,
                                    # each answer to "may the portal show it?" in turn, for the portal's map
                                    publicity=public.CHOICES[len(filed) % len(public.CHOICES)])
        for step in story.steps:
            await take(session, report, step, policy, staff, by_agency, reporter, filed,
                       default_language=settings.default_language)
        filed[story.key] = report
    return filed


def bot_policy(settings: Settings) -> Policy:
    """As the bot's own (bot/app.py, policy_of): notices in each resident's language, and the
    rating buttons on the resolution message."""
    return Policy.from_settings(settings, translator=translator, rating_markup=rating_markup)


async def ask_and_answer(session: AsyncSession, settings: Settings, clock: Clock, report: Report,
                         reporter: Person) -> None:
    """Hùng asks the reporter about the report, which the agency has taken up; the sender delivered
    the question a minute later (its outbox row, history like the others, goes with
    `forget_old_messages`, so its delivery is settled now), and the resident answered by replying."""
    policy = bot_policy(settings)
    hung = await lifecycle.actor_for(session, cast.HUNG.telegram_id, settings.admin_ids, name=cast.HUNG.name)
    asked_at = clock.at(4, "10:30")
    asked = await thread.ask(session, report.id, hung, QUESTION, policy=policy, now=asked_at)
    delivery = (await session.execute(select(Delivery.id).where(
        Delivery.key == thread.question_key(asked.message.id)))).scalar_one()
    await outbox.record(session, [outbox.Outcome(delivery, outbox.SENT)], now=alerts.epoch(asked_at) + 60)
    await thread.settle_deliveries(session, now=asked_at + timedelta(minutes=1))
    await thread.add(session, report.id, Actor(ActorKind.RESIDENT, reporter.telegram_id, reporter.name),
                     text=ANSWER, question_id=asked.message.id, policy=policy, secret=settings.pseudonym_secret,
                     now=clock.at(4, "11:05"))


async def take(session: AsyncSession, report: Report, step: Step, policy: Policy, staff: dict[str, Actor],
               by_agency: dict[str, Actor], reporter: Person, filed: dict[str, Report], *,
               default_language: str) -> None:
    """One step of a story, by whoever does it in the bot: a moderator, the staff of the agency
    holding the report, its reporter, or Loa itself."""
    if step.action == "flag_overdue":
        await flag_overdue(session, report)
        return
    action = Action(step.action)
    args = dict(step.args)
    if lifecycle.WHO[action] == ActorKind.MODERATOR:
        actor = staff[step.by or "hung"]
    elif lifecycle.WHO[action] == ActorKind.AGENCY_STAFF:
        actor = by_agency[report.agency_code]
    elif lifecycle.WHO[action] == ActorKind.RESIDENT:
        actor = Actor(ActorKind.RESIDENT, reporter.telegram_id, reporter.name)
    else:
        actor = lifecycle.SYSTEM
    if action == Action.ASSIGN and "agency_code" not in args:
        args["agency_code"] = (await agencies.route(session, report.category_code, report.area_code)).code
    if action == Action.DUPLICATE:
        args["original_id"] = filed[args.pop("original")].id
    if action == Action.REJECT and "template" in args:
        # As the "Reject…" menu does: the template in the reporter's language.
        args["reason"] = await actions.template_reason(session, report.id, args.pop("template"),
                                                       default_language=default_language)
    await lifecycle.apply(session, report.id, action, actor, policy=policy, now=step.at, **args)


async def flag_overdue(session: AsyncSession, report: Report) -> None:
    """What the deadline job did when the report's resolution deadline neared and passed: the
    reminder, the overdue flag and the escalation to the moderators, each at its moment."""
    await deadlines.mark_reminded(session, [report.id], report.due_at - timedelta(hours=2))
    flagged = report.due_at + timedelta(seconds=45)
    await deadlines.mark_overdue(session, [report.id], flagged)
    await deadlines.mark_escalated(session, [report.id], flagged)


async def send_weather_alert(session: AsyncSession, settings: Settings, clock: Clock) -> Alert:
    """An administrator's severe weather alert for the whole city, two days ago."""
    sent = clock.at(2, "05:40")
    alert = await alerts.create(
        session, topic_code="weather", severity="severe", urgency="expected", area_codes=[cast.PROVINCE],
        texts={"vi": WEATHER_VI, "en": WEATHER_EN}, source="bot", sender_telegram_id=cast.AN.telegram_id,
        sender_name=cast.AN.name, sender_language="vi", send_at=sent, created_at=sent)
    count = await alert_lifecycle.compose(session, alert, tz=settings.tz, now=sent)
    # The sending happened two days ago: the sender's own claim and record, at that moment, so
    # that the running sender finds nothing to send and the history shows the alert sent to all.
    # (A severe alert waits for no quiet hours: every delivery was due at once.)
    claimed = await outbox.claim(session, count, lease_seconds=60, now=alerts.epoch(sent))
    await outbox.record(session, [outbox.Outcome(c.id, alerts.SENT) for c in claimed], now=alerts.epoch(sent) + 6)
    # What the sender does once an alert has nothing left to send (lifecycle.finish_sent, called by
    # broadcasts/sender.py).
    alert_lifecycle.finished(alert, sent + timedelta(seconds=6))
    await session.flush()
    return alert


async def forget_old_messages(session: AsyncSession, keep: Report) -> None:
    """The messages the reports' steps queued for the residents were delivered back then: they
    are history, and the emulator's chats start empty, so they leave the outbox rather than
    reach everyone at once when the sandbox starts. All but the news of `keep`'s last step (Lan's
    resolved report): she gets it, with its rating buttons, when the sandbox starts, the one way
    to rate a report. (The database was fresh: every message in the outbox is the seeding's;
    the alert, whose deliveries stay as sent, comes after.)"""
    news = await lifecycle.last_event(session, keep.id)
    await session.execute(delete(Delivery).where(
        Delivery.alert_id.is_(None), or_(Delivery.key.is_(None), Delivery.key.not_like(f"report-event:{news.id}:%"))))


async def mark_final_cards_shown(session: AsyncSession) -> None:
    """The card job posts a card for every report changed since its cards were last shown, new
    ones included: closed, rejected and duplicate reports too, a dozen cards of old news in the
    groups. Those are marked as shown; the open and resolved reports get their cards when the
    sandbox starts, and a report marked here gets one if it ever changes again."""
    await session.execute(update(Report).where(Report.state.in_([s.value for s in FINAL]))
                          .values(cards_synced_at=Report.updated_at))


async def summarise(session: AsyncSession, filed: dict[str, Report], alert: Alert) -> Demo:
    async def count(model) -> int:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()

    states = Counter(dict((await session.execute(select(Report.state, func.count()).group_by(Report.state))).all()))
    recipients = (await session.execute(
        select(func.count()).where(Delivery.alert_id == alert.id, Delivery.state == alerts.SENT))).scalar_one()
    return Demo(residents=await count(Resident), reports=await count(Report),
                states=tuple((s.value, states[s.value]) for s in State), agencies=await count(Agency),
                routes=await count(RoutingRule), staff_roles=await count(StaffRole), alert_id=alert.id,
                alert_recipients=recipients,
                lan=tuple(filed[k].code for k in filed if k.startswith("lan-")),
                tom=tuple(filed[k].code for k in filed if k.startswith("tom-")),
                to_rate=filed["lan-pothole"].code, urgent=filed["manhole"].code,
                overdue=filed["subsidence"].code, reopened=filed["dumping"].code, asked=filed["lan-drain"].code)


# ---------------------------------------------------------------- times and places


@dataclass(frozen=True)
class Clock:
    now: datetime
    tz: ZoneInfo

    def at(self, days: int, hhmm: str) -> datetime:
        """HH:MM in the city, `days` (at least 1) days before today."""
        day = self.now.astimezone(self.tz).date() - timedelta(days=days)
        hour, minute = map(int, hhmm.split(":"))
        return datetime.combine(day, time(hour, minute), self.tz).astimezone(timezone.utc)

    def ago(self, minutes: float) -> datetime:
        return self.now - timedelta(minutes=minutes)


class WardPlaces:
    """Random points inside the demo's wards, by their boundaries."""

    def __init__(self, shapes: dict[str, tuple[Area, areas.AreaLocator]]) -> None:
        self.shapes = shapes

    @classmethod
    async def load(cls, session: AsyncSession) -> WardPlaces:
        rows = (await session.execute(select(Area).where(Area.code.in_(WARDS)))).scalars()
        return cls({a.code: (a, areas.AreaLocator([(a.code, a.level, json.loads(a.boundary))])) for a in rows})

    def inside(self, ward: str, rng: random.Random) -> tuple[float, float]:
        area, shape = self.shapes[ward]
        while True:
            lat, lon = rng.uniform(area.min_lat, area.max_lat), rng.uniform(area.min_lon, area.max_lon)
            if shape.locate(lat, lon) == ward:
                return round(lat, 6), round(lon, 6)

    def near(self, ward: str, lat: float, lon: float, rng: random.Random) -> tuple[float, float]:
        """A point within about 60 m of (lat, lon), in the same ward."""
        _, shape = self.shapes[ward]
        while True:
            there = round(lat + rng.uniform(-0.0004, 0.0004), 6), round(lon + rng.uniform(-0.0004, 0.0004), 6)
            if shape.locate(*there) == ward:
                return there


# ---------------------------------------------------------------- the stories


@dataclass(frozen=True)
class Step:
    action: str  # a lifecycle.Action, or "flag_overdue" (the deadline job's marks)
    at: datetime | None
    by: str | None = None  # a moderator's cast key (default Hùng); others act by their role
    args: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Story:
    key: str  # "lan-…" and "tom-…" are theirs; the others are filed by a resident of the ward
    category: str
    ward: str
    language: str  # of the description: the reporter speaks it
    description: str
    address: str | None
    filed: datetime
    steps: tuple[Step, ...] = ()
    near: str | None = None  # the key of a report this one is next to (the same problem)


def pick_reporter(story: Story, people: dict, rng: random.Random) -> Person:
    owner = story.key.split("-", 1)[0]
    if owner in ("lan", "tom"):
        return people[owner]
    return rng.choice([p for p in people["others"] if p.ward == story.ward and p.language == story.language])


def assign(at, by=None, agency=None) -> Step:
    return Step("assign", at, by, (("agency_code", agency),) if agency else ())


def start(at) -> Step:
    return Step("start", at)


def resolve(at, note: str) -> Step:
    return Step("resolve", at, args=(("note", note),))


def rate(at, rating: str, comment: str | None = None) -> Step:
    return Step("rate", at, args=(("rating", rating), ("comment", comment)))


def reject(at, *, template: int | None = None, reason: str | None = None, by=None) -> Step:
    return Step("reject", at, by, (("template", template),) if template is not None else (("reason", reason),))


def stories(t: Clock, autoclose_days: int) -> list[Story]:
    """The reports, oldest story first where one refers to another. The open ones are recent
    enough that no deadline has passed (but the overdue one's) and the resolved ones are not
    yet due to be closed, so the deadline job has nothing to say when the sandbox starts."""
    a = autoclose_days
    return [
        # Lan's, in Ba Đình.
        Story("lan-rubbish", "sanitation", BA_DINH, "vi",
              "Rác thải sinh hoạt bị đổ thành đống ở đầu ngõ 12 Đội Cấn đã ba ngày chưa ai thu gom, "
              "bốc mùi rất khó chịu, chó mèo bới tung ra lòng đường.", "Đầu ngõ 12 Đội Cấn",
              t.at(38, "07:40"), (
                  assign(t.at(38, "08:35")), start(t.at(37, "09:10")),
                  resolve(t.at(36, "15:20"), "Đã thu gom toàn bộ rác tồn đọng; xe thu gom sẽ qua điểm này "
                                             "lúc 18h hằng ngày."),
                  rate(t.at(36, "19:05"), "satisfied", "Cảm ơn các anh chị, đầu ngõ đã sạch sẽ."))),
        Story("lan-pothole", "roads", BA_DINH, "vi",
              "Ổ gà lớn khoảng nửa mét giữa làn xe máy trên phố Phan Đình Phùng, gần cổng trường. "
              "Buổi tối rất khó nhìn, tuần này đã có hai người ngã xe.", "Phố Phan Đình Phùng",
              t.at(6, "17:45"), (
                  assign(t.at(5, "08:05"), by="an"), start(t.at(4, "09:30")),
                  resolve(t.ago(20 * 60), "Đã vá ổ gà bằng bê tông nhựa nóng và cắm biển cảnh báo đến khi "
                                          "mặt đường khô."))),
        Story("lan-drain", "sanitation", BA_DINH, "vi",
              "Cống thoát nước trước số 35 phố Quán Thánh bị tắc, mỗi khi mưa nước thải tràn lên vỉa hè, "
              "người đi bộ phải lội qua, mùi hôi bốc lên cả ngày.", "Trước số 35 Quán Thánh",
              t.at(5, "07:15"), (assign(t.at(5, "08:20")), start(t.at(4, "08:45")))),
        Story("lan-sidewalk", "urban_order", BA_DINH, "vi",
              "Quán trà đá và xe máy chiếm hết vỉa hè trước số 80 Đội Cấn, người đi bộ phải xuống lòng "
              "đường, nhất là giờ tan học.", "Số 80 Đội Cấn",
              t.ago(150), (assign(t.ago(130)),)),
        # Tom's, in Hoàn Kiếm.
        Story("tom-lights", "roads", HOAN_KIEM, "en",
              "The pedestrian lights at the crossing of Dinh Tien Hoang and Le Thai To have been dark "
              "for a week. People cross between the motorbikes without any signal; it is dangerous at night.",
              "Đinh Tiên Hoàng × Lê Thái Tổ", t.at(20, "21:10"), (
                  assign(t.at(19, "08:40")), start(t.at(18, "10:00")),
                  resolve(t.at(16, "16:30"), "Đã thay bộ điều khiển đèn tín hiệu cho người đi bộ; đèn hoạt "
                                             "động bình thường."),
                  rate(t.at(15, "09:12"), "acceptable", "Fixed, thanks, but it took a week and a half."))),
        Story("tom-bins", "sanitation", HOAN_KIEM, "en",
              "The rubbish bins along the east shore of Hoan Kiem Lake, near the Post Office, overflow every "
              "weekend evening. Bags pile up on the pavement and the wind blows litter into the lake.",
              "Đinh Tiên Hoàng, near the Post Office", t.ago(40)),
        # Waiting for the moderators.
        Story("food-stall", "food_safety", DONG_DA, "vi",
              "Quán bún chả trong ngõ 4 Chùa Bộc để thịt sống ngoài trời không che đậy, ruồi bâu kín, "
              "nước rửa bát đổ thẳng ra cống. Rất nhiều sinh viên ăn ở đây.", "Ngõ 4 Chùa Bộc", t.ago(25)),
        Story("racing", "security", TAY_HO, "vi",
              "Đêm nào cũng có nhóm thanh niên tụ tập đua xe, nẹt pô trên đường Lạc Long Quân đoạn gần chợ "
              "Bưởi từ 23h đến 2h sáng, người dân không ngủ được.", "Lạc Long Quân, gần chợ Bưởi", t.ago(95)),
        Story("street-lights", "infrastructure", LONG_BIEN, "vi",
              "Cả dãy đèn chiếu sáng trên phố Ngọc Lâm, đoạn từ số 100 đến số 180, tắt từ ba hôm nay. "
              "Buổi tối đường rất tối, chị em đi làm về thấy không an toàn.", "Phố Ngọc Lâm, số 100–180",
              t.ago(170)),
        # Assigned, not yet taken up; one urgent.
        Story("manhole", "roads", CAU_GIAY, "vi",
              "Nắp hố ga giữa đường Xuân Thủy, trước cổng Đại học Quốc gia, bị mất. Hố sâu, không có rào "
              "chắn, xe máy đi qua rất nguy hiểm, nhất là khi trời tối.", "Xuân Thủy, trước cổng ĐHQG",
              t.ago(50), (Step("priority", t.ago(45), args=(("priority", "urgent"),)), assign(t.ago(40)))),
        Story("terraces", "urban_order", HOAN_KIEM, "vi",
              "Một số nhà hàng trên phố Hàng Buồm kê bàn ghế chiếm toàn bộ vỉa hè và một phần lòng đường "
              "từ 18h, ô tô không đi qua được, người đi bộ phải len giữa các bàn.", "Phố Hàng Buồm",
              t.ago(210), (assign(t.ago(190)),)),
        Story("dengue", "health", O_CHO_DUA, "vi",
              "Trong ngõ 165 Xã Đàn tuần này có ba người bị sốt xuất huyết. Nhiều chum vại, lốp xe cũ đọng "
              "nước, muỗi rất nhiều, đề nghị phun thuốc diệt muỗi.", "Ngõ 165 Xã Đàn",
              t.ago(160), (assign(t.ago(140), by="an"),)),
        # Being handled; one of them past its deadline.
        Story("subsidence", "roads", THANH_XUAN, "vi",
              "Mặt đường Nguyễn Trãi đoạn trước số 275 bị sụt lún thành rãnh sâu dọc theo làn xe buýt, "
              "nước đọng sau mưa, xe máy đi qua rất dễ trượt ngã.", "Trước số 275 Nguyễn Trãi",
              t.at(26, "09:05"), (assign(t.at(26, "10:30")), start(t.at(25, "08:40")), Step("flag_overdue", None))),
        Story("sign", "roads", NGOC_HA, "vi",
              "Biển báo cấm rẽ trái ở ngã tư Đội Cấn – Liễu Giai bị xe tải va đổ, nằm dưới vỉa hè từ hôm "
              "qua. Xe vẫn rẽ trái gây ùn tắc giờ cao điểm.", "Ngã tư Đội Cấn – Liễu Giai",
              t.at(3, "07:50"), (assign(t.at(3, "08:30")), start(t.at(3, "14:00")))),
        Story("canal", "sanitation", LONG_BIEN, "vi",
              "Mương thoát nước dọc phố Nguyễn Văn Cừ có nhiều rác và bèo, bốc mùi hôi nặng vào buổi "
              "chiều, muỗi rất nhiều.", "Phố Nguyễn Văn Cừ",
              t.at(7, "16:40"), (assign(t.at(6, "08:15")), start(t.at(6, "13:30")))),
        Story("drain-again", "sanitation", BA_DINH, "vi",
              "Nước cống tràn ra vỉa hè phố Quán Thánh, đoạn gần số 35, hôi thối lắm, đề nghị thông cống "
              "sớm.", "Quán Thánh, gần số 35",
              t.at(4, "18:30"), (Step("duplicate", t.at(3, "08:10"), args=(("original", "lan-drain"),)),),
              near="lan-drain"),
        # Resolved, waiting for a rating; one reopened by its reporter.
        Story("rubble", "sanitation", CAU_GIAY, "en",
              "Construction waste has been dumped on the pavement of Tran Thai Tong street opposite the park "
              "for two weeks: bricks, sand and broken tiles. Pedestrians have to walk in the road.",
              "Trần Thái Tông, opposite the park", t.at(5, "12:15"), (
                  assign(t.at(5, "13:00")), start(t.at(4, "08:30")),
                  resolve(t.at(2, "11:20"), "Đã thu dọn phế thải xây dựng; chủ công trình đã cam kết không "
                                            "tái phạm."))),
        Story("dumping", "sanitation", HAI_BA_TRUNG, "vi",
              "Bãi rác tự phát cuối phố Lạc Trung ngày càng lớn, có cả phế thải xây dựng. Xe tải đổ trộm "
              "vào ban đêm, bụi và mùi bay vào các nhà xung quanh.", "Cuối phố Lạc Trung",
              t.at(9, "10:20"), (
                  assign(t.at(9, "11:00")), start(t.at(8, "08:30")),
                  resolve(t.at(1, "16:10"), "Đã thu dọn 3 xe phế thải và đặt biển cấm đổ rác."),
                  Step("reopen", t.ago(180), args=(("comment", "Tối qua lại có người đổ phế thải ra đúng chỗ "
                                                                "đó, đề nghị có biện pháp lâu dài như lắp "
                                                                "camera."),)))),
        # Closed: rated, and once closed by Loa for want of a rating.
        Story("collection", "sanitation", DONG_DA, "vi",
              "Điểm tập kết rác ở đầu ngõ 58 Nguyễn Lương Bằng không được thu gom từ thứ Sáu, rác tràn ra "
              "lòng đường, bốc mùi.", "Đầu ngõ 58 Nguyễn Lương Bằng",
              t.at(50, "06:55"), (
                  assign(t.at(50, "08:10")), start(t.at(50, "09:20")),
                  resolve(t.at(49, "10:45"), "Đã thu gom; tăng thêm một chuyến xe buổi tối."),
                  rate(t.at(49, "12:00"), "satisfied"))),
        Story("au-co", "roads", TAY_HO, "vi",
              "Đường Âu Cơ đoạn gần chợ hoa Quảng An có nhiều ổ gà sau đợt mưa lớn, xe máy phải lạng lách "
              "tránh, rất dễ va chạm.", "Âu Cơ, gần chợ hoa Quảng An",
              t.at(44, "08:30"), (
                  assign(t.at(44, "09:00"), by="an"), start(t.at(43, "08:00")),
                  resolve(t.at(41, "16:00"), "Đã vá 6 ổ gà trên đoạn đường."),
                  rate(t.at(41, "20:30"), "satisfied", "Đường đi êm rồi, cảm ơn."))),
        Story("laundry", "sanitation", HAI_BA_TRUNG, "vi",
              "Nước thải từ một xưởng giặt là trong ngõ 20 Lò Đúc chảy thẳng ra rãnh, có màu và mùi hóa "
              "chất, nhất là buổi sáng.", "Ngõ 20 Lò Đúc",
              t.at(33, "10:05"), (
                  assign(t.at(33, "10:40")), start(t.at(32, "08:50")),
                  resolve(t.at(31, "15:30"), "Đã phối hợp với phường kiểm tra, yêu cầu xưởng lắp bể lắng "
                                             "trước khi xả thải."),
                  rate(t.at(30, "08:15"), "satisfied"))),
        Story("bin-lid", "sanitation", THANH_XUAN, "vi",
              "Thùng rác công cộng trước trường tiểu học Nhân Chính bị vỡ nắp, rác rơi vãi ra vỉa hè, trẻ "
              "con đi học phải tránh.", "Trước trường tiểu học Nhân Chính",
              t.at(28, "07:10"), (
                  assign(t.at(28, "08:00")), start(t.at(27, "09:00")),
                  resolve(t.at(25, "14:20"), "Đã thay thùng rác mới."),
                  rate(t.at(25, "17:40"), "acceptable", "Đã có thùng mới nhưng buổi sáng vẫn hay đầy."))),
        Story("resurfacing", "roads", LONG_BIEN, "vi",
              "Đoạn đường Nguyễn Văn Linh gần cầu Chui bị bong tróc mặt đường, mỗi lần xe tải đi qua bụi "
              "mù mịt, nhà hai bên phải đóng cửa cả ngày.", "Nguyễn Văn Linh, gần cầu Chui",
              t.at(55, "09:40"), (
                  assign(t.at(55, "10:15")), start(t.at(53, "08:30")),
                  resolve(t.at(30, "15:00"), "Đã thảm lại mặt đường đoạn 200 m."),
                  rate(t.at(29, "18:20"), "not_satisfied",
                       "Chờ gần một tháng mới sửa, mới được ít hôm đã bong lại."))),
        Story("crossing", "roads", O_CHO_DUA, "vi",
              "Vạch kẻ đường cho người đi bộ ở ngã tư Xã Đàn – Nam Đồng bị mờ hết, xe không nhường đường "
              "cho người đi bộ.", "Ngã tư Xã Đàn – Nam Đồng",
              t.at(a + 14, "08:20"), (
                  assign(t.at(a + 14, "09:10")), start(t.at(a + 13, "08:40")),
                  resolve(t.at(a + 10, "14:30"), "Đã sơn lại vạch kẻ đường cho người đi bộ."),
                  Step("auto_close", t.at(a + 10, "14:30") + timedelta(days=a, seconds=40)))),
        Story("manhole-cover", "roads", DONG_DA, "vi",
              "Nắp cống trên phố Tôn Đức Thắng, trước số 120, bị vỡ một góc và lún thấp hơn mặt đường, ô tô "
              "đi qua kêu rất to, xe máy dễ sụt bánh.", "Trước số 120 Tôn Đức Thắng",
              t.at(17, "07:30"), (
                  assign(t.at(17, "08:40"), by="an", agency="hn-urenco"),
                  Step("send_back", t.at(17, "10:05"), args=(("reason", "Nắp hố ga trên lòng đường thuộc hạ "
                                                                       "tầng giao thông, đề nghị chuyển Sở "
                                                                       "Giao thông vận tải."),)),
                  assign(t.at(17, "10:30")), start(t.at(16, "08:20")),
                  resolve(t.at(15, "15:45"), "Đã thay nắp hố ga mới, cao độ bằng mặt đường."),
                  rate(t.at(15, "19:00"), "satisfied"))),
        Story("mattress", "sanitation", NGOC_HA, "en",
              "Somebody dumped an old mattress and a broken sofa on the pavement of Hoang Hoa Tham street, "
              "next to the bus stop. They have been there for five days.", "Hoàng Hoa Thám, by the bus stop",
              t.at(12, "19:50"), (
                  assign(t.at(11, "08:05")), start(t.at(11, "09:40")),
                  resolve(t.at(10, "10:30"), "Đã thu gom đồ cồng kềnh."),
                  rate(t.at(10, "18:45"), "satisfied", "Gone the next morning. Great job!"))),
        Story("signal", "roads", HAI_BA_TRUNG, "vi",
              "Đèn tín hiệu giao thông ở ngã tư Đại Cồ Việt – Lê Duẩn chỉ nháy vàng từ sáng nay, giờ cao "
              "điểm ùn tắc kéo dài.", "Ngã tư Đại Cồ Việt – Lê Duẩn",
              t.at(58, "07:20"), (
                  assign(t.at(58, "07:45")), start(t.at(58, "08:30")),
                  resolve(t.at(58, "11:10"), "Đã khắc phục sự cố bộ điều khiển đèn."),
                  rate(t.at(58, "12:30"), "satisfied"))),
        # Rejected.
        Story("fridge", "other", CAU_GIAY, "vi",
              "Cửa hàng điện máy trên đường Cầu Giấy bán cho tôi chiếc tủ lạnh bị lỗi nhưng không chịu đổi "
              "trả, đề nghị thành phố can thiệp.", "Đường Cầu Giấy",
              t.at(11, "20:15"), (reject(t.at(10, "08:30"), template=0),)),
        Story("vague", "roads", THANH_XUAN, "vi", "Đường nhà tôi hỏng lâu lắm rồi, đề nghị sửa gấp.", None,
              t.at(8, "22:40"), (reject(t.at(7, "08:05"), template=1, by="an"),)),
        Story("concerts", "other", TAY_HO, "vi",
              "Đề nghị thành phố tổ chức thêm các chương trình ca nhạc miễn phí ở phố đi bộ quanh Hồ Tây "
              "vào cuối tuần.", None,
              t.at(21, "21:00"), (reject(t.at(20, "09:15"), reason="Đây là góp ý chứ không phải phản ánh một "
                                                                   "sự cố; bạn có thể gửi góp ý qua Cổng dịch vụ "
                                                                   "công của thành phố."),)),
    ]


# The thread of Lan's blocked drain: what Hùng asked, and her answer.
QUESTION = ("Đội thoát nước chưa tìm thấy chỗ tắc: cống bị tắc nằm sát cửa số 35 hay ở góc giao với phố "
            "Phan Đình Phùng?")
ANSWER = "Sát cửa số 35, nắp cống bằng gang màu đen ngay dưới gốc cây bàng, nước tràn lên từ đó."

WEATHER_VI = ("Cảnh báo mưa dông: từ chiều tối nay đến sáng mai, Hà Nội có mưa to đến rất to, lượng mưa "
              "phổ biến 50–100 mm, có nơi trên 150 mm, kèm dông, lốc, sét và gió giật mạnh. Các tuyến phố "
              "trũng có nguy cơ ngập. Hạn chế ra đường khi mưa lớn, không trú dưới cây to, cột điện; "
              "chằng chống nhà cửa, biển quảng cáo.")
WEATHER_EN = ("Thunderstorm warning: from this evening until tomorrow morning Hanoi expects heavy to very "
              "heavy rain, generally 50–100 mm and over 150 mm in places, with thunderstorms, lightning and "
              "strong gusts. Low-lying streets may flood. Stay indoors during heavy rain, keep away from large "
              "trees and power poles, and secure roofs and signboards.")
