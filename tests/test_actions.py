"""What staff give, as `apply`'s arguments (complaints.actions), and what a report's writes leave
to do after the commit (kernel.effects.Effects): one rule for the bot, the dashboard and the API."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from complaints import actions, bans, lifecycle, reports
from complaints.lifecycle import Action, Actor, Policy, Refused
from complaints.rejections import REJECT_REASONS
from kernel.effects import NOTHING, Effects
from kernel.i18n import translator
from storage.models import Agency, Delivery, Report, ReportEvent, Resident, StaffRole

MODERATOR, STAFF, REPORTER = 500, 601, 1001
POLICY = Policy(translator=translator)
MOD = Actor("moderator", MODERATOR, "Mai")
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


def gettext(language: str):
    return translator(language).gettext


async def a_report(db, *, language: str | None = "en") -> int:
    """A submitted report, of a resident speaking `language` (None: one that leads to nobody)."""
    async with db.transaction() as session:
        if await session.get(Agency, "a1") is None:
            session.add(Agency(code="a1", name_vi="Sở Giao thông", name_en="Transport Department"))
            session.add(StaffRole(telegram_id=MODERATOR, role="moderator"))
            session.add(StaffRole(telegram_id=STAFF, role="agency_staff", agency_code="a1"))
        resident = None
        if language is not None:
            resident = Resident(telegram_id=REPORTER + (language == "en"), language=language)
            session.add(resident)
            await session.flush()
        report = Report(code=f"PA-{language or 'NONE'}"[:8].upper(), resident_id=resident and resident.id,
                        category_code="roads", description="Ổ gà", created_at=T0, updated_at=T0)
        session.add(report)
        await session.flush()
        session.add(ReportEvent(report_id=report.id, at=T0, state="submitted", action="submit", actor="resident"))
        return report.id


async def test_a_template_is_in_the_reporters_language_else_the_default_one(db):
    english, vietnamese, nobodys = await a_report(db, language="en"), await a_report(db, language="vi"), \
        await a_report(db, language=None)
    async with db.read() as session:
        assert await actions.template_reason(session, english, "1", default_language="vi") == REJECT_REASONS[1]
        assert await actions.template_reason(session, vietnamese, 1, default_language="en") == \
            gettext("vi")(REJECT_REASONS[1]) != REJECT_REASONS[1]
        assert await actions.template_reason(session, nobodys, "0", default_language="en") == REJECT_REASONS[0]
        assert await actions.template_reason(session, nobodys, "0", default_language="vi") == \
            gettext("vi")(REJECT_REASONS[0])


@pytest.mark.parametrize("index", [str(len(REJECT_REASONS)), "-1", "x", "", " ", "١", "9" * 40, None, True, [0], 99])
async def test_a_template_that_is_not_one_is_refused(db, index):
    report_id = await a_report(db)
    async with db.read() as session:
        with pytest.raises(Refused) as refused:
            await actions.template_reason(session, report_id, index, default_language="vi")
    assert refused.value.code == "unknown_reason"
    assert refused.value.render(gettext("en"), "en", None) == "Unknown reason."


async def test_a_forms_reason_wins_over_its_template(db):
    report_id = await a_report(db)
    async with db.read() as session:
        assert await actions.reject(session, report_id, reason=" Spam ", template="1", default_language="vi") == \
            {"reason": " Spam "}
        assert await actions.reject(session, report_id, reason="", template="2", default_language="vi") == \
            {"reason": REJECT_REASONS[2]}
        assert await actions.reject(session, report_id, reason="", template="", default_language="vi") == \
            {"reason": ""}  # apply asks for a reason
        with pytest.raises(Refused):
            await actions.reject(session, report_id, reason="", template="7", default_language="vi")


def test_typed_text_goes_to_the_actions_argument():
    assert actions.typed(Action.REJECT, "no") == {"reason": "no"}
    assert actions.typed("send_back", "not ours") == {"reason": "not ours"}
    assert actions.typed(Action.RESOLVE, "Patched", "photo-1") == {"note": "Patched", "photo_file_id": "photo-1"}
    assert actions.typed(Action.DUPLICATE, "PA-7K3Q9") == {"original_code": "PA-7K3Q9"}
    assert actions.typed(Action.START, None) == {}
    with pytest.raises(Refused) as refused:
        actions.typed(Action.REJECT, "", "photo-1")
    assert refused.value.render(gettext("vi"), "vi", None) == "Vui lòng trả lời bằng chữ."


async def test_a_transition_says_what_is_left_to_do(db):
    report_id = await a_report(db)
    async with db.transaction() as session:
        urgent = await lifecycle.apply(session, report_id, Action.PRIORITY, MOD, policy=POLICY, priority="urgent")
        assigned = await lifecycle.apply(session, report_id, Action.ASSIGN, MOD, policy=POLICY, agency_code="a1")
    assert urgent.effects == Effects(cards=True)  # the resident is not told of a priority
    assert assigned.notified == 1 and assigned.effects == Effects(wake_sender=True, cards=True)
    assert lifecycle.effects_of([urgent, assigned]) == assigned.effects and lifecycle.effects_of([]) == NOTHING
    assert reports.FILED == Effects(cards=True)


async def test_a_ban_tells_the_resident_and_redraws_their_cards_once(db):
    report_id = await a_report(db)
    async with db.transaction() as session:
        report = await session.get(Report, report_id)
        resident = await session.get(Resident, report.resident_id)
        done = await bans.ban(session, None, resident.telegram_id, gettext=gettext)
        again = await bans.ban(session, None, resident.telegram_id, gettext=gettext)
    assert done == Effects(wake_sender=True, cards=True) and again is NOTHING and not again
    async with db.read() as session:
        report = await session.get(Report, report_id)
        changed = report.updated_at if report.updated_at.tzinfo else report.updated_at.replace(tzinfo=timezone.utc)
        assert changed > T0  # its cards are drawn again
        assert len((await session.execute(select(Delivery))).scalars().all()) == 1
    async with db.transaction() as session:
        assert await bans.unban(session, None, resident.telegram_id, gettext=gettext) == done
        assert not await bans.unban(session, None, resident.telegram_id, gettext=gettext)
    async with db.transaction() as session:  # someone Loa never met: nobody to tell, nothing to redraw
        assert await bans.ban(session, None, 77, gettext=gettext) == Effects(cards=True)
