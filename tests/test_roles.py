"""`loa roles` on a migrated SQLite file, through click's runner, and the role queries."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from cli.main import main
from storage import roles


def invoke(tmp_path, *args: str, **env: str):
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'loa.db'}",
                                                    "LOA_ADMIN_IDS": "", **env})


def test_grant_list_and_revoke(sqlite_template, tmp_path, monkeypatch):
    shutil.copyfile(sqlite_template, tmp_path / "loa.db")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    result = invoke(tmp_path, "roles", "list")
    assert result.exit_code == 0 and "no roles granted" in result.output

    assert invoke(tmp_path, "roles", "grant", "1001", "broadcaster").output == "1001: broadcaster granted\n"
    again = invoke(tmp_path, "roles", "grant", "1001", "broadcaster")
    assert again.exit_code == 0 and "already has broadcaster: nothing changed" in again.output
    missing = invoke(tmp_path, "roles", "grant", "1002", "agency_staff")
    assert missing.exit_code == 2 and "needs --agency" in missing.output
    assert invoke(tmp_path, "roles", "grant", "1002", "agency_staff", "--agency", "DOT").exit_code == 0
    bad = invoke(tmp_path, "roles", "grant", "1003", "mayor")
    assert bad.exit_code == 2 and "broadcaster" in bad.output

    listing = invoke(tmp_path, "roles", "list", LOA_ADMIN_IDS="42").output.splitlines()
    assert listing[0] == "42  admin  (LOA_ADMIN_IDS)"
    assert listing[1].startswith("1001  broadcaster  (granted ")
    assert listing[2].startswith("1002  agency_staff  agency DOT  (granted ")
    assert len(listing) == 3

    assert invoke(tmp_path, "roles", "revoke", "1001", "broadcaster").output == "1001: broadcaster revoked\n"
    assert "does not have broadcaster" in invoke(tmp_path, "roles", "revoke", "1001", "broadcaster").output


async def test_has_role(db):
    async with db.transaction() as session:
        assert await roles.grant(session, 7, "moderator")
        assert not await roles.grant(session, 7, "moderator")
    async with db.read() as session:
        assert await roles.has_role(session, 7, "moderator", "admin")
        assert not await roles.has_role(session, 7, "broadcaster")
        assert not await roles.has_role(session, 8)
