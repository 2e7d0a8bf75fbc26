"""Database URL, engine and migrations (Alembic, run at start so a new file or an
older schema is brought to the current one before the portal answers)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class BadDatabaseUrl(ValueError):
    pass


def default_url(registry: str | Path) -> str:
    """A SQLite file beside the registry folder: `optout_registry` -> `optout_registry-portal.sqlite3`."""
    folder = Path(registry).resolve()
    return f"sqlite:///{folder.parent / (folder.name + '-portal.sqlite3')}"


def engine_for(url: str) -> Engine:
    if url.startswith(("postgresql://", "postgres://")):
        # psycopg 3 is the driver we ship; SQLAlchemy's bare postgresql:// means psycopg2.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    elif not url.startswith(("sqlite:", "postgresql+")):
        raise BadDatabaseUrl(f"--db must be sqlite:///FILE or postgresql://..., got {url!r}")
    if url.startswith("sqlite:"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for a writer
    cursor.close()


def migrate(engine: Engine) -> None:
    """Upgrade the schema to the newest migration (a no-op when it is current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def open_database(url: str) -> sessionmaker[Session]:
    engine = engine_for(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
