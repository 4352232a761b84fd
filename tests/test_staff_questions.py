"""The questions the bot asks staff in their groups ("reply with what was done…"), end to end through
the emulator: /cancel drops them with a confirmation, plain or as a reply to one; someone who writes
in the group instead of replying is told how to answer, once per question; the rest of the group's
conversation is left alone."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import StaffPrompt
from tests.fixtures.broadcasts import eventually
from tests.fixtures.city import TRANSPORT
from tests.fixtures.reports import report_rows
from tests.fixtures.residents import onboarded
from tests.fixtures.triage import file_report, settings, staff  # noqa: F401 (fixtures)


async def two_questions(emulator, db, staff):
    """Two reports at the transport department, and Hùng asked what was done about each: the
    agency's two cards and the two questions."""
    lan = await onboarded(emulator, "en")
    cards, questions = [], []
    for _ in range(2):
        await file_report(lan, photos=0)
    for card in [await staff.mods.next_message(), await staff.mods.next_message()]:
        await (await staff.mods.tap(staff.mai, f"🏢 Assign: {TRANSPORT}", message=card)).answer()
        cards.append(await staff.transport.next_message())
    for work in cards:
        await (await staff.transport.tap(staff.hung, "✅ Resolve…", message=work)).answer()
        questions.append(await staff.transport.next_message())
        assert questions[-1].text.startswith("Hùng, Reply to this message with what was done about")
    await eventually(lambda: _count_is(db, 2))  # written just after the question was sent
    return cards, questions


async def _count_is(db, count: int) -> bool:
    return len(await open_prompts(db)) == count


async def open_prompts(db) -> list[StaffPrompt]:
    async with db.read() as session:
        return list((await session.execute(select(StaffPrompt).order_by(StaffPrompt.id))).scalars())


async def states(db) -> list[str]:
    return [report.state for report in sorted(await report_rows(db), key=lambda r: r.id)]


def code_of(question) -> str:
    return question.text.split("what was done about ", 1)[1].split(".", 1)[0]


async def test_cancel_in_the_group_drops_every_open_question_and_says_so(bot, emulator, db, staff):
    cards, questions = await two_questions(emulator, db, staff)
    codes = [code_of(q) for q in questions]

    await staff.transport.send(staff.hung, "/cancel")
    told = await staff.transport.next_message()
    assert told.text == f"Cancelled: I no longer wait for your answer about {codes[0]}, {codes[1]}. " \
                        "Nothing was changed."
    assert await open_prompts(db) == []
    assert await states(db) == ["assigned", "assigned"]
    for question in questions:  # the questions themselves say so, for whoever scrolls back
        await staff.transport.wait_for(lambda q=question: q.text.endswith("✖ Cancelled."))

    # A reply to a cancelled question changes nothing; a second /cancel has nothing left to drop.
    await staff.transport.send(staff.hung, "Filled it", reply_to=questions[0])
    await staff.transport.send(staff.hung, "/cancel")
    assert (await staff.transport.next_message()).text == \
        "You have no open question in this group: there is nothing to cancel."
    assert await states(db) == ["assigned", "assigned"]


async def test_cancel_as_a_reply_drops_that_question_only(bot, emulator, db, staff):
    cards, questions = await two_questions(emulator, db, staff)
    codes = [code_of(q) for q in questions]

    # Someone else cannot cancel Hùng's question.
    await staff.transport.send(staff.thu, "/cancel", reply_to=questions[0])
    assert (await staff.transport.next_message()).text == \
        "This question was for someone else: only they can cancel it."
    assert len(await open_prompts(db)) == 2

    await staff.transport.send(staff.hung, "/cancel", reply_to=questions[1])
    assert (await staff.transport.next_message()).text == \
        f"Cancelled: I no longer wait for your answer about {codes[1]}. Nothing was changed."
    [left] = await open_prompts(db)
    assert left.message_id == questions[0].message.message_id
    assert not questions[0].text.endswith("Cancelled.")

    # The other question still works.
    await staff.transport.send(staff.hung, "Filled the pothole", reply_to=questions[0])
    assert (await staff.transport.next_message()).text == f"Done: {codes[0]} is now “Resolved”."
    assert sorted(await states(db)) == ["assigned", "resolved"]


async def test_writing_in_the_group_instead_of_replying_gets_one_hint(bot, emulator, db, staff):
    staff.transport.set_bot_status("administrator")  # the bot now reads every message of the group
    cards, questions = await two_questions(emulator, db, staff)
    codes = [code_of(q) for q in questions]

    # Someone without an open question talks in the group: the bot stays out of it.
    await staff.transport.send(staff.thu, "Who is on the Hàng Bông site today?")
    # Hùng types his answer without replying: told how to answer, with both his questions.
    await staff.transport.send(staff.hung, "Filled the pothole this morning")
    hint = await staff.transport.next_message()
    assert hint.text == (f"To answer my question about {codes[0]}, {codes[1]}, reply to that message of mine "
                         "(Reply on it); a message that is not a reply does nothing. To drop the question, "
                         "send /cancel.")
    assert hint.message.reply_to.sender.id == staff.hung.id, "the hint answers Hùng's own message"
    assert await states(db) == ["assigned", "assigned"]

    # Once per question: his next chat message is left alone (the /cancel answer comes next), and a
    # reply to the card rather than the question neither.
    await staff.transport.send(staff.hung, "I will do it after lunch")
    await staff.transport.send(staff.hung, "on my way", reply_to=cards[0])
    await staff.transport.send(staff.hung, "/cancel", reply_to=questions[1])
    assert (await staff.transport.next_message()).text.startswith(f"Cancelled: I no longer wait for your answer "
                                                                   f"about {codes[1]}.")

    # Addressed to the bot by name: it says what it does here.
    await staff.transport.send(staff.thu, f"@{emulator.bot_user.username} what do I do?")
    assert (await staff.transport.next_message()).text == (
        "In this group I post the report cards: use their buttons. When I ask you a question, reply to my "
        "message; /cancel drops your open questions.")

    await staff.transport.send(staff.hung, "Done, filled", reply_to=questions[0])
    assert (await staff.transport.next_message()).text == f"Done: {codes[0]} is now “Resolved”."

