"""Migrations form one line, build exactly the schema the models declare, and unwind."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from backend.dev.database import ROOT, ensure_database, migrate, with_database
from backend.settings import Settings
from tests.conftest import NAMESPACE, WORKER


def _config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def test_revisions_form_a_single_line() -> None:
    script = ScriptDirectory.from_config(_config("postgresql+asyncpg://unused/none"))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        assert revision.down_revision is None or isinstance(revision.down_revision, str)
        assert not revision.dependencies


def test_models_match_the_migrated_schema_and_downgrade_unwinds_it(settings: Settings) -> None:
    url = with_database(settings.database_url, f"qpeapay_migrations{NAMESPACE}_{WORKER}")
    ensure_database(url, drop=True)
    migrate(url)
    command.check(_config(url))  # raises if the models declare anything not migrated
    command.downgrade(_config(url), "base")
    migrate(url)
    command.check(_config(url))
