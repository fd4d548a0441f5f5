"""The scale-out cluster: two application replicas, one action server, PostgreSQL and Redis, on loopback.

    patients / staff (the tests) ──> replica A ─┐                    ┌─> PostgreSQL 127.0.0.1:5432
                                 ──> replica B ─┼─> TcpProxy (cut) ──┘   (fresh clinic_scale_<hex>)
                                                ├─> redis-server (ours, killable)
                                                ├─> action server ──> PostgreSQL (direct)
                                                └─> PlatformStub (Twilio Messages API, Graph API)

The cluster starts once per session (both replicas load the trained model concurrently, ~1 minute)
and is stopped at the end, even on failure. The `cluster` fixture hands it to a test with both
replicas healthy, Redis up and the database reachable again: a test that kills a replica leaves it
to this fixture to restart. When a test fails, the tail of every process's log is added to the report.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from bot.db.session import create_db_engine, make_session_factory
from tests.scale import clients
from tests.scale.harness import RedisServer, Replica, TcpProxy, run_cli
from tests.support.database import admin_execute
from tests.support.platforms import PlatformStub, graph_base
from tests.support.ports import free_port
from tests.support.processes import ManagedProcess, action_server, action_url, health_url, stop_all

READY_SECONDS = 240
STAFF_EMAIL = "scale.staff@clinic.example"
STAFF_PASSWORD = "scale tests staff password"
_CLUSTER = pytest.StashKey["Cluster"]()


def pytest_collection_modifyitems(config: pytest.Config, items: List[pytest.Item]) -> None:
    """Every test here gets the `scale`, `model` and `postgres` markers."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            for marker in (pytest.mark.scale, pytest.mark.model, pytest.mark.postgres):
                item.add_marker(marker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """On a failed test here, show the end of every process's log."""
    outcome = yield
    report = outcome.get_result()
    cluster = item.config.stash.get(_CLUSTER, None)
    if report.failed and cluster is not None and Path(__file__).parent in Path(str(item.fspath)).parents:
        for process in cluster.processes():
            report.sections.append((f"log tail: {process.name} ({process.log})", process.tail()))


@dataclass
class Cluster:
    """Everything the tests reach: replicas, stores, the proxy, the stub platform, the database."""

    a: Replica
    b: Replica
    actions: ManagedProcess
    redis: RedisServer
    proxy: TcpProxy
    platform: PlatformStub
    sessions: object  # SQLAlchemy sessionmaker on the database itself (not through the proxy)

    @property
    def replicas(self) -> List[Replica]:
        """Both replicas."""
        return [self.a, self.b]

    def processes(self) -> List[ManagedProcess]:
        """Every child process."""
        return [self.a, self.b, self.actions, self.redis]

    def heal(self) -> None:
        """Database reachable, Redis up, both replicas healthy (restarting what was killed)."""
        self.proxy.restore()
        if not self.redis.alive:
            self.redis.start_and_wait()
        for replica in self.replicas:
            if not replica.alive:
                replica.start()
        for replica in self.replicas:
            replica.wait_ready(READY_SECONDS)


def _environment(database_url: str, redis_url: str, action_url: str,
                 platform: PlatformStub) -> Dict[str, str]:
    """The replicas' environment: one secret set, outbound calls to the stub platform."""
    return dict(
        os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, ACTION_ENDPOINT_URL=action_url,
        SESSION_SECRET=Fernet.generate_key().decode(), IDENTITY_SIGNING_KEY=uuid.uuid4().hex * 2,
        TWILIO_ACCOUNT_SID=clients.TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN=clients.TWILIO_AUTH_TOKEN,
        TWILIO_API_BASE=platform.base, PUBLIC_BASE_URL=clients.PUBLIC_BASE_URL,
        TWILIO_SMS_FROM="+447700900999",
        WHATSAPP_APP_SECRET=clients.WHATSAPP_APP_SECRET, WHATSAPP_API_BASE=graph_base(platform.base),
        WHATSAPP_PHONE_NUMBER_ID="1234567890", WHATSAPP_ACCESS_TOKEN="graph-token-for-scale-tests",
        WHATSAPP_VERIFY_TOKEN=uuid.uuid4().hex, RATE_LIMIT_MESSAGES="1000", PURGE_INTERVAL_HOURS="0",
        LOG_LEVEL="INFO", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1",
    )


def _prepare_database(env: Dict[str, str]) -> None:
    """Schema, demo clinic and one staff login, through the project's own commands."""
    run_cli(["db-upgrade"], env)
    run_cli(["seed-demo"], env)
    run_cli(["staff", "add", STAFF_EMAIL, "--role", "staff"], env, stdin=f"{STAFF_PASSWORD}\n")


@pytest.fixture(scope="session")
def scale_cluster(request, tmp_path_factory, postgres_admin_dsn, trained_model) -> Iterator[Cluster]:
    """Start the whole cluster once; stop every process and drop the database at the end."""
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        pytest.skip("redis-server is not installed")
    folder = tmp_path_factory.mktemp("scale")
    name = f"clinic_scale_{uuid.uuid4().hex[:12]}"
    admin = make_url(postgres_admin_dsn)
    direct_url = _url(admin.set(drivername="postgresql+psycopg2", database=name))
    admin_execute(postgres_admin_dsn, f'CREATE DATABASE "{name}"')
    platform, proxy = PlatformStub().serve_in_thread(), TcpProxy((admin.host or "127.0.0.1", admin.port or 5432))
    redis = RedisServer(folder, redis_server)
    action_port = free_port()
    proxied_url = _url(make_url(direct_url).set(host="127.0.0.1", port=proxy.port))
    env = _environment(proxied_url, redis.url, action_url(action_port), platform)
    actions = action_server(direct_url, action_port, folder / "actions.log", env, REDIS_URL="")
    replicas = [Replica("replica-a", env, folder), Replica("replica-b", env, folder)]
    engine = create_db_engine(direct_url)
    cluster = Cluster(*replicas, actions=actions, redis=redis, proxy=proxy, platform=platform,
                      sessions=make_session_factory(engine))
    request.config.stash[_CLUSTER] = cluster
    try:
        _prepare_database(dict(env, DATABASE_URL=direct_url))
        redis.start_and_wait()
        actions.start()
        for replica in replicas:
            replica.start()
        actions.wait_until_answering(health_url(action_port), 60)
        cluster.heal()
        yield cluster
    finally:
        stop_all(cluster.processes())
        proxy.close()
        platform.close()
        engine.dispose()
        admin_execute(postgres_admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url(url) -> str:
    """A SQLAlchemy URL as a string, password included."""
    return url.render_as_string(hide_password=False)


@pytest.fixture
def cluster(scale_cluster: Cluster) -> Cluster:
    """The cluster, healthy: whatever the previous test cut or killed is back."""
    scale_cluster.heal()
    return scale_cluster


@pytest.fixture
async def tabs() -> Iterator[clients.Tabs]:
    """Web chat tabs, all closed after the test."""
    opened = clients.Tabs()
    yield opened
    await opened.close_all()


@pytest.fixture
async def console() -> Iterator[clients.ConsoleBrowser]:
    """A staff member's browser (not signed in yet)."""
    browser = clients.ConsoleBrowser()
    yield browser
    await browser.close()


@pytest.fixture
async def http():
    """A plain HTTP client for webhooks."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=clients.REPLY_SECONDS)) as session:
        yield session
