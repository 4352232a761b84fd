"""The alert life cycle (broadcasts/lifecycle.py): its checks, its writes and what they leave to do,
and the rule that an alert's status is set there and nowhere else."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from broadcasts import alerts, drafts, lifecycle
from broadcasts.alerts import Kind, Status
from broadcasts.lifecycle import By, No, Refused, Way
from kernel.effects import NOTHING, Effects
from storage.models import Alert, BroadcastSchedule, Delivery, Resident, Subscription
from storage.types import utcnow

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "broadcasts", "complaints", "handlers", "kernel", "storage", "web", "sandbox", "bench")
HOME = Path("broadcasts/lifecycle.py")
FIELDS = dict(topic_code="weather", severity="severe", area_codes=["01"], texts={"vi": "Mưa lớn"})


# ---------------------------------------------------------------- the rule


def _names_status(node: ast.AST) -> bool:
    """Whether the expression names a member of Status (Status.DONE, alerts.Status.DONE) or a
    status's literal value ("done")."""
    values = {s.value for s in Status}
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute) and (
                (isinstance(inner.value, ast.Name) and inner.value.id == "Status")
                or (isinstance(inner.value, ast.Attribute) and inner.value.attr == "Status")):
            return True
        if isinstance(inner, ast.Constant) and inner.value in values:
            return True
    return False


def _targets_status(target: ast.AST) -> bool:
    if isinstance(target, ast.Attribute):
        return target.attr == "status"
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_targets_status(t) for t in target.elts)
    return False


def status_writes(source: str) -> list[int]:
    """Lines that set an alert's status: `x.status = Status.X` (alone or in a tuple) and
    `status=Status.X` given to a call (`.values(...)`, `alerts.create(...)`)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(_targets_status(t) for t in node.targets) and _names_status(node.value):
            lines.append(node.lineno)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None \
                and _targets_status(node.target) and _names_status(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "status" and _names_status(keyword.value):
                    lines.append(node.lineno)
    return sorted(lines)


def test_the_check_finds_each_way_of_setting_a_status():
    source = """
alert.status = Status.DONE
alert.status, alert.finished_at = alerts.Status.CANCELLED, now
update(Alert).values(status=Status.DONE)
alerts.create(session, status=Status.SENDING)
alert.status = "sending"
feed.status = status
info.alert.status = alert.status
if alert.status == Status.DONE: pass
"""
    assert status_writes(source) == [2, 3, 4, 5, 6]


def test_an_alerts_status_is_set_only_by_the_life_cycle():
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative == HOME:
                continue
            found += [f"{relative}:{line}" for line in status_writes(path.read_text(encoding="utf-8"))]
    assert found == [], "an alert's status is set outside broadcasts/lifecycle.py: " + ", ".join(found)
    assert status_writes((ROOT / HOME).read_text(encoding="utf-8"))  # and the check does see it there


# ---------------------------------------------------------------- checks


def test_the_times_of_an_alert():
    now = utcnow()
    hour = timedelta(hours=1)
    assert lifecycle.check_times(now=now) is None
    assert lifecycle.check_times(now=now, at=now + hour, expires_at=now + 2 * hour) is None
    cases = [
        (dict(expires_at=now), No.EXPIRES_PAST, "expires_at"),
        (dict(at=now), No.SEND_AT_PAST, "send_at"),
        (dict(at=now + lifecycle.MAX_AHEAD + hour), No.SEND_AT_TOO_FAR, "send_at"),
        (dict(at=now + 2 * hour, expires_at=now + hour), No.EXPIRES_BEFORE_SEND, "expires_at"),
        (dict(at=now - hour, expires_at=now - hour), No.EXPIRES_PAST, "expires_at"),  # the expiry first
    ]
    for given, code, field in cases:
        refusal = lifecycle.check_times(now=now, **given)
        assert (refusal.code, refusal.field) == (code, field), given


def test_the_wizard_and_the_dashboard_read_a_time_with_the_same_rule():
    now = utcnow().replace(second=0, microsecond=0)
    local = now.astimezone(TZ)
    past = (local - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    far = (local + lifecycle.MAX_AHEAD + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    soon = (local + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    assert drafts.parse_send_time(past, now=now, tz=TZ) == (None, drafts.Problem.PAST)
    assert drafts.parse_send_time(far, now=now, tz=TZ) == (None, drafts.Problem.TOO_FAR)
    at, problem = drafts.parse_send_time(soon, now=now, tz=TZ)
    assert problem is None and lifecycle.check_send_at(at, now) is None


def test_who_may_act_on_an_alert():
    alert = Alert(sender_telegram_id=7, agency_code="a1", **FIELDS)
    assert By("api", agency_code="a1").may_act_on(alert)
    assert not By("api", agency_code="a2").may_act_on(alert)
    assert By("bot", telegram_id=7).may_act_on(alert)
    assert not By("dashboard", telegram_id=8).may_act_on(alert)
    assert By("dashboard", telegram_id=8, admin=True).may_act_on(alert)
    assert By("cli").may_act_on(alert)
    assert By("bot", telegram_id=7, name="x" * 200).fields() == {"source": "bot", "sender_telegram_id": 7,
                                                                 "sender_name": "x" * 128}


# ---------------------------------------------------------------- writes


async def _residents(db, count: int = 2) -> None:
    async with db.transaction() as session:
        for n in range(count):
            resident = Resident(telegram_id=9000 + n, area_code="01", onboarded=True)
            session.add(resident)
            await session.flush()
            session.add(Subscription(resident_id=resident.id, topic_code="weather"))


async def _get(db, alert_id: int) -> Alert:
    async with db.read() as session:
        return await session.get(Alert, alert_id)


async def test_sent_now_it_is_composed_after_the_commit_then_the_sender_is_woken(areas_loaded):
    db = areas_loaded
    await _residents(db)
    async with db.transaction() as session:
        sent = await lifecycle.send(session, By("api", name="dispatch", agency_code=None), tz=TZ, **FIELDS)
    assert sent.schedule is None and sent.effects == Effects(compose=frozenset({sent.alert.id}))
    assert (await _get(db, sent.alert.id)).status == Status.SENDING
    added, left = await lifecycle.compose_now(db, sent.effects, tz=TZ)
    assert (added, left) == (2, Effects(wake_sender=True))
    stored = await _get(db, sent.alert.id)
    assert stored.composed_at is not None and (stored.source, stored.sender_name) == ("api", "dispatch")


async def test_sent_later_it_is_a_template_until_stopped(areas_loaded):
    db = areas_loaded
    at = utcnow() + timedelta(hours=3)
    async with db.transaction() as session:
        sent = await lifecycle.send(session, By("dashboard", telegram_id=5), tz=TZ, at=at, cron="0 7 * * *",
                                    **FIELDS)
    assert sent.effects == NOTHING
    assert (sent.schedule.created_by, sent.schedule.cron, sent.schedule.next_run_at) == (5, "0 7 * * *", at)
    async with db.transaction() as session:
        alert = await session.get(Alert, sent.alert.id)
        assert alert.status == Status.TEMPLATE and alert.send_at == at
        assert await lifecycle.offered_way(session, alert, By("dashboard", telegram_id=6), sent=0) is None
        assert await lifecycle.offered_way(session, alert, By("dashboard", telegram_id=5), sent=0) == Way.SCHEDULE
        assert lifecycle.command_way(alert) == Way.SCHEDULE
        with pytest.raises(Refused) as refused:
            await lifecycle.stop(session, alert, Way.SCHEDULE, By("dashboard", telegram_id=6))
        assert refused.value.code == No.NOT_YOURS
        with pytest.raises(Refused) as refused:
            await lifecycle.correct(session, alert, By("cli"), {"vi": "Sửa"})
        assert refused.value.code == No.NOT_SENT
        stopped = await lifecycle.stop(session, alert, Way.SCHEDULE, By("dashboard", telegram_id=5))
    assert (stopped.way, stopped.dropped, stopped.follow, stopped.effects) == (Way.SCHEDULE, 0, None, NOTHING)
    assert (await _get(db, sent.alert.id)).status == Status.CANCELLED
    async with db.read() as session:
        plan = (await session.execute(select(BroadcastSchedule))).scalar_one()
    assert (plan.active, plan.next_run_at) == (False, None)


async def test_a_schedule_stopped_from_the_bot_cancels_its_template_too(areas_loaded):
    db = areas_loaded
    async with db.transaction() as session:
        sent = await lifecycle.send(session, By("bot", telegram_id=5), tz=TZ, at=utcnow() + timedelta(hours=1),
                                    **FIELDS)
    async with db.transaction() as session:
        assert await lifecycle.stop_schedule(session, sent.schedule.id, By("bot", telegram_id=6)) is None
        assert await lifecycle.stop_schedule(session, sent.schedule.id, By("bot", telegram_id=5)) is not None
    assert (await _get(db, sent.alert.id)).status == Status.CANCELLED
    async with db.transaction() as session:
        alert = await session.get(Alert, sent.alert.id)
        with pytest.raises(Refused) as refused:
            await lifecycle.stop(session, alert, Way.SCHEDULE, By("cli"))
        assert refused.value.code == No.ALREADY_SENT


async def test_stopping_while_sending_drops_the_rest_and_a_cancellation_reaches_who_got_it(areas_loaded):
    db = areas_loaded
    await _residents(db, 3)
    async with db.transaction() as session:
        sent = await lifecycle.send(session, By("cli"), tz=TZ, **FIELDS)
    await lifecycle.compose_now(db, sent.effects, tz=TZ)
    async with db.transaction() as session:
        alert = await session.get(Alert, sent.alert.id)
        assert await lifecycle.agency_way(session, alert) == Way.SENDING  # nobody received it yet
        assert lifecycle.command_way(alert) == Way.SENDING
        stopped = await lifecycle.stop(session, alert, Way.SENDING, By("cli"))
    assert (stopped.dropped, stopped.effects) == (3, NOTHING)
    async with db.transaction() as session:
        alert = await session.get(Alert, sent.alert.id)
        assert alert.status == Status.CANCELLED
        with pytest.raises(Refused) as refused:
            lifecycle.command_way(alert)
        assert refused.value.code == No.FINISHED
        with pytest.raises(Refused) as refused:
            await lifecycle.agency_way(session, alert)
        assert refused.value.code == No.CANCELLED

    async with db.transaction() as session:
        other = await lifecycle.send(session, By("api", agency_code=None), tz=TZ, **FIELDS)
    await lifecycle.compose_now(db, other.effects, tz=TZ)
    async with db.transaction() as session:
        first = (await session.execute(select(Delivery).where(Delivery.alert_id == other.alert.id)
                                       .order_by(Delivery.id).limit(1))).scalar_one()
        first.state = alerts.SENT
    async with db.transaction() as session:
        alert = await session.get(Alert, other.alert.id)
        assert await lifecycle.agency_way(session, alert) == Way.NOTICE
        assert await lifecycle.offered_way(session, alert, By("cli"), sent=1) == Way.SENDING  # still sending
        stopped = await lifecycle.stop(session, alert, Way.NOTICE, By("api", name="dispatch"), identifier="x/1")
    assert stopped.effects == Effects(wake_sender=True)
    follow = await _get(db, stopped.follow.id)
    assert (follow.kind, follow.status, follow.replaces_id, follow.identifier) == (
        Kind.CANCELLATION, Status.SENDING, other.alert.id, "x/1")
    async with db.transaction() as session:
        alert = await session.get(Alert, other.alert.id)
        assert alert.status == Status.CANCELLED
        with pytest.raises(Refused) as refused:
            await lifecycle.correct(session, alert, By("cli"), {"vi": "Sửa"})
        assert (refused.value.code, refused.value.replaced_by) == (No.ALREADY_REPLACED, follow.id)


async def test_a_correction_reaches_who_got_it_and_who_waits_for_it(areas_loaded):
    db = areas_loaded
    await _residents(db, 2)
    async with db.transaction() as session:
        sent = await lifecycle.send(session, By("bot", telegram_id=5), tz=TZ, **FIELDS)
    await lifecycle.compose_now(db, sent.effects, tz=TZ)
    async with db.transaction() as session:
        alert = await session.get(Alert, sent.alert.id)
        with pytest.raises(Refused) as refused:
            await lifecycle.correct(session, alert, By("bot", telegram_id=6), {"vi": "Sửa"})
        assert refused.value.code == No.NOT_YOURS
        followed = await lifecycle.correct(session, alert, By("bot", telegram_id=5), {"vi": "Sửa"},
                                           wizard_step=drafts.FOLLOW)
    assert followed.effects == Effects(wake_sender=True)
    async with db.read() as session:
        follow = await session.get(Alert, followed.alert.id)
        assert (follow.kind, follow.status, follow.wizard_step, follow.sender_telegram_id) == (
            Kind.CORRECTION, Status.SENDING, drafts.FOLLOW, 5)
        assert (await alerts.progress(session, follow.id)).total == 2
        assert (await alerts.progress(session, sent.alert.id)).cancelled == 2


async def test_a_held_message_is_done_at_once_and_the_sender_finishes_what_is_sent(areas_loaded):
    db = areas_loaded
    now = utcnow()
    async with db.transaction() as session:
        held = await lifecycle.record(session, By("cap", name="NCHMF"), now=now, **FIELDS)
        draft = await lifecycle.new_draft(session, By("bot", telegram_id=5), **FIELDS)
    assert (held.status, held.finished_at, draft.status) == (Status.DONE, now, Status.DRAFT)
    async with db.transaction() as session:
        draft = await session.get(Alert, draft.id)
        effects = await lifecycle.send_draft(session, draft, now=now, wizard_step=drafts.FOLLOW)
    assert effects == Effects(compose=frozenset({draft.id}))
    assert await lifecycle.compose_now(db, effects, tz=TZ) == (0, Effects(wake_sender=True))
    assert (await _get(db, draft.id)).status == Status.DONE  # nobody to send it to
    async with db.transaction() as session:
        assert await lifecycle.finish_sent(session) == []
