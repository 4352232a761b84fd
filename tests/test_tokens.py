"""API tokens: `loa tokens` through click's runner, and what a token may speak for."""

from __future__ import annotations

import shutil

import pytest
from sqlmodel import select

from storage import tokens
from storage.models import Agency, ApiToken
from tests.fixtures.cli import invoke


def test_create_list_and_revoke(sqlite_template, tmp_path, monkeypatch):
    shutil.copyfile(sqlite_template, tmp_path / "loa.db")
    monkeypatch.chdir(tmp_path)
    assert "no tokens" in invoke(tmp_path, "tokens", "list").output
    created = invoke(tmp_path, "tokens", "create", "--name", "FixMyHanoi app", "--scopes", "open311")
    assert created.exit_code == 0, created.output
    first, token = created.stdout.splitlines()[:2]
    assert first == "token 1 (FixMyHanoi app; scopes open311)"
    assert token.startswith("loa_") and len(token) > 40
    assert "not shown again" in created.stderr
    listing = invoke(tmp_path, "tokens", "list").output
    assert listing.startswith(f"1  {token[:12]}…  FixMyHanoi app  agency -  scopes open311  never used  active")
    assert token not in listing

    refused = invoke(tmp_path, "tokens", "create", "--name", "x", "--scopes", "alerts")
    assert refused.exit_code == 1 and "give --agency CODE" in refused.output
    unknown = invoke(tmp_path, "tokens", "create", "--name", "x", "--scopes", "open311,admin")
    assert unknown.exit_code == 1 and "unknown scope admin" in unknown.output
    no_agency = invoke(tmp_path, "tokens", "create", "--name", "x", "--agency", "nope", "--scopes", "alerts")
    assert no_agency.exit_code == 1 and "no agency with code nope" in no_agency.output

    assert invoke(tmp_path, "tokens", "revoke", "1").output == "token 1 revoked\n"
    again = invoke(tmp_path, "tokens", "revoke", "1")
    assert again.exit_code == 1 and "no active token 1" in again.output
    assert "  revoked " in invoke(tmp_path, "tokens", "list").output


async def test_only_the_hash_is_kept_and_a_revoked_token_speaks_for_nobody(db):
    async with db.transaction() as session:
        session.add(Agency(code="urenco", name_vi="URENCO", name_en="URENCO"))
        await session.flush()
        row, token = await tokens.create(session, name="URENCO dispatch", agency_code="urenco",
                                         scopes=["reports", "alerts", "reports"])
    async with db.transaction() as session:
        stored = (await session.execute(select(ApiToken))).scalar_one()
        assert stored.token_hash == tokens.digest(token) and token not in (stored.token_hash, stored.prefix)
        assert stored.scopes == ["alerts", "reports"]
        caller = await tokens.verify(session, token)
        assert caller == tokens.Caller(row.id, "URENCO dispatch", "urenco", frozenset({"alerts", "reports"}))
        assert await tokens.verify(session, token + "x") is None
        assert await tokens.verify(session, "Bearer " + token) is None
        assert await tokens.verify(session, "") is None
    async with db.transaction() as session:
        assert (await session.get(ApiToken, row.id)).last_used_at is not None
        assert await tokens.revoke(session, row.id)
    async with db.transaction() as session:
        assert await tokens.verify(session, token) is None
        with pytest.raises(tokens.TokenError):
            await tokens.create(session, name=" ", scopes=["open311"])
