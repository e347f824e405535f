"""Fixtures for the real parts: PostgreSQL and SQLite databases, a real model server, the app.

``--db sqlite`` or ``--db postgresql`` narrows the ``dialect`` parametrisation; by default (and
always in CI) both run. PostgreSQL comes from ``TEST_DATABASE_URL`` (default: the local server,
database ``test``); each test session creates its own database on it and drops it at the end.
A PostgreSQL or model server that cannot be reached fails the run: nothing is skipped.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import SQLModel

import db
from graph.app import create_app
from graph.settings import Settings
from scripts.modelserver import ModelServer, start_mlserver, start_seldon
from tests.utils.migrations import migrate
from tests.utils.pgbouncer import PgBouncer, start_pgbouncer
from tests.utils.postgres import autocommit

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DIALECTS = ("sqlite", "postgresql")

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=("all", *DIALECTS),
        default="all",
        help="which databases the dialect-parametrised tests run on (default: all)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--db")
    dialects = [d for d in DIALECTS if chosen in ("all", d)]
    if metafunc.definition.get_closest_marker("postgres_only"):
        dialects = [d for d in dialects if d == "postgresql"]
    if metafunc.definition.get_closest_marker("sqlite_only"):
        dialects = [d for d in dialects if d == "sqlite"]
    metafunc.parametrize("dialect", dialects)


# --- databases -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[], str]]:
    """Makes empty PostgreSQL databases on the test server; drops them all at the end."""
    made: list[str] = []

    def make() -> str:
        name = f"mlgraph_test_{uuid.uuid4().hex[:12]}"
        try:
            asyncio.run(autocommit(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
        except (OSError, ConnectionError) as exc:
            pytest.fail(
                f"PostgreSQL is not reachable at {POSTGRES_URL} ({exc!r}). Start it "
                "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start), "
                "set TEST_DATABASE_URL, or run only SQLite with --db sqlite."
            )
        made.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield make
    for name in made:
        asyncio.run(autocommit(POSTGRES_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_postgres(postgres_databases: Callable[[], str]) -> str:
    url = postgres_databases()
    migrate(url, "head")
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate(f"sqlite+aiosqlite:///{path}", "head")
    return path


@pytest.fixture
def empty_database_url(dialect: str, tmp_path: Path, postgres_databases: Callable[[], str]) -> str:
    """A database with no schema at all, for migration tests."""
    if dialect == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return postgres_databases()


@pytest.fixture
def database_url(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database of ``dialect``."""
    if dialect == "sqlite":
        path = tmp_path / "mlgraph.db"
        shutil.copy(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url: str = request.getfixturevalue("migrated_postgres")
    yield url
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    asyncio.run(autocommit(url, f"TRUNCATE {tables}"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with db.make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
def pgbouncer() -> Iterator[PgBouncer]:
    """A PgBouncer of this test's own, in transaction mode, in front of the test server."""
    with start_pgbouncer(POSTGRES_URL) as bouncer:
        yield bouncer


# --- model server ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The real seldon-core microservice serving the iris model, trained here at start."""
    server = start_seldon(tmp_path_factory.mktemp("seldon"), version="iris-test-1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """A real MLServer (Open Inference Protocol) serving the iris model as ``iris`` and the
    churn pipeline (named numerical and categorical features) as ``churn``."""
    server = start_mlserver(tmp_path_factory.mktemp("mlserver"), version="iris-v2-test-1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def churn_seldon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The real seldon-core microservice serving ``ChurnClassifier`` (deploy/model/), a
    scikit-learn Pipeline over two numerical and two categorical features."""
    server = start_seldon(
        tmp_path_factory.mktemp("churn"), version="churn-test-1", model_class="ChurnClassifier"
    )
    yield server
    server.stop()


# --- the app ---------------------------------------------------------------------------------


@pytest.fixture
def app_client(database_url: str) -> AppClient:
    """Opens mlgraph (lifespan included) on the test database and returns an HTTP client.

    Keyword arguments become settings; ``transport`` is the model client's httpx transport.
    """

    @asynccontextmanager
    async def open_client(
        *, transport: httpx.AsyncBaseTransport | None = None, **settings: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        options: dict[str, object] = {"database_url": database_url, **settings}
        app = create_app(Settings(**options), model_transport=transport)  # type: ignore[arg-type]
        async with LifespanManager(app) as manager:
            transport_in = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport_in, base_url="http://mlgraph") as c:
                yield c

    return open_client
