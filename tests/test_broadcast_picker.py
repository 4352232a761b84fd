"""The /broadcast wizard's area picker, end to end through the emulator: it opens on the
broadcaster's own area or on the city the residents live in, offers the areas alerts went to most
often first, says plainly that nothing is chosen yet, and only one picker is live at a time."""

from __future__ import annotations

from sqlalchemy import select

from storage import roles
from storage.models import Alert
from tests.fixtures.broadcasts import HOAN_KIEM, LONG_BIEN, broadcaster, eventually, resident_in
from tests.fixtures.residents import tap

THANH_HOA_BA_DINH = "16171"  # a ward of province 38 with the name of one of Hà Nội's


async def open_picker(boss):
    await boss.send("/broadcast")
    await boss.next_message()
    await tap(boss, "Weather and disasters")
    picker = await boss.next_message()
    assert picker.text.startswith("Step 2: which areas?")
    return picker


async def sent_alerts(db, *area_lists) -> None:
    async with db.transaction() as session:
        for codes in area_lists:
            session.add(Alert(topic_code="weather", severity="severe", area_codes=codes, texts={"vi": "Mưa lớn"},
                              status="done"))


async def test_the_picker_opens_on_the_city_with_the_most_used_areas_first(bot, emulator, db):
    for n in range(3):
        await resident_in(db, emulator, LONG_BIEN, name=f"LB{n}")
    await resident_in(db, emulator, THANH_HOA_BA_DINH, name="TH")
    await sent_alerts(db, [LONG_BIEN], [LONG_BIEN, HOAN_KIEM], [LONG_BIEN], ["01"])
    async with db.transaction() as session:  # a draft is not counted
        session.add(Alert(topic_code="weather", severity="severe", area_codes=[THANH_HOA_BA_DINH], status="draft"))
    boss = await broadcaster(db, emulator)  # not a resident: the city most residents live in

    picker = await open_picker(boss)
    lines = picker.text.splitlines()
    assert "No area chosen yet." in lines and not any(line.startswith("Chosen:") for line in lines)
    assert "⭐ The areas alerts were sent to most often." in lines
    assert lines[-1].startswith("Wards and communes of Hanoi City:"), lines
    # Most used first: Long Biên three times, then Hoàn Kiếm and Hà Nội once each (by code).
    assert picker.buttons[:3] == [["⭐ Long Bien", "⭐ Hoan Kiem"], ["⭐ Hanoi"], ["➕ All of Hanoi"]]

    await tap(boss, "⭐ Long Bien", message=picker)
    await boss.wait_for(lambda: picker.buttons[0][0] == "✅ Long Bien")
    assert "Chosen: Long Bien Ward" in picker.text and "No area chosen yet." not in picker.text


async def test_the_picker_opens_on_the_broadcasters_own_area(bot, emulator, db):
    for n in range(3):
        await resident_in(db, emulator, LONG_BIEN, name=f"LB{n}")
    boss = await resident_in(db, emulator, THANH_HOA_BA_DINH, language="en", name="Boss")
    async with db.transaction() as session:
        await roles.grant(session, boss.id, "broadcaster")
    picker = await open_picker(boss)
    last = picker.text.splitlines()[-1]
    assert last.startswith("Wards and communes of ") and "Hanoi" not in last, last
    assert ["Ba Dinh"] in [[label for label in row if label == "Ba Dinh"] for row in picker.buttons], picker.buttons


async def test_only_one_picker_is_live_after_a_same_name_choice(bot, emulator, db):
    await resident_in(db, emulator, LONG_BIEN, name="LB")
    boss = await broadcaster(db, emulator)
    first = await open_picker(boss)
    old_done = first.button("Done ✓")["callback_data"]

    await boss.send("Ba Đình")  # Hà Nội's and Thanh Hóa's
    matches = await boss.next_message()
    assert matches.text == "Several areas match. Which one do you mean?"
    await boss.wait_for(lambda: first.buttons == [])  # the first picker is no longer live

    await tap(boss, next(label for [label] in matches.buttons if "Hanoi" in label), message=matches)
    await boss.wait_for(lambda: matches.text.startswith("Step 2: which areas?"))
    assert "Chosen: Ba Dinh Ward" in matches.text
    assert first.buttons == []

    # A tap that still reaches the old picker (an old client) is refused and changes nothing.
    answer = await (await boss.tap_data(old_done, first)).answer()
    assert answer.show_alert and answer.text == "This list is out of date: use the newest one below."

    # Typing a name again: a new picker, and the one before it loses its buttons.
    await boss.send("Long Biên")
    added = await boss.next_message()
    assert added.text.startswith("Added: ")
    await boss.wait_for(lambda: matches.buttons == [])
    await tap(boss, "Done ✓", message=added)
    assert (await boss.next_message()).text.startswith("Step 3")

    async def chosen():
        async with db.read() as session:
            alert = (await session.execute(select(Alert))).scalars().one()
            return alert.area_codes if alert.wizard_step == "severity" else None

    assert await eventually(chosen) == ["00004", LONG_BIEN]
