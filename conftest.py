"""Fixtures every app's tests share. Services a test needs are required
through tests.support.services: missing ones skip, or fail under REQUIRED_SERVICES."""

import os
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from taskoverflow.celery import app as celery_app


@pytest.fixture(autouse=True, scope="session")
def in_memory_broker():
    """Nothing this process publishes may reach a developer's real queue."""
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {}


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Throttle counts live in the cache; each test starts with none."""
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def make_todo(db):
    """Create a todo straight in the database, bypassing the API."""
    from todos.models import Todo

    def make(**fields) -> Todo:
        fields.setdefault("title", "A todo")
        return Todo.objects.create(**fields)

    return make


@pytest.fixture
def database_url(tmp_path):
    """A fresh database of the kind the suite runs on (PostgreSQL in CI), for
    processes of the test's own; dropped afterwards."""
    from tests.support.services import fresh_database

    with fresh_database(os.environ.get("DATABASE_URL"), tmp_path) as url:
        yield url


@pytest.fixture
def postgres_database(tmp_path):
    """A new, empty PostgreSQL database, whatever database the suite runs on."""
    from tests.support.services import (
        POSTGRES_URL,
        fresh_database,
        postgres_reachable,
        require,
    )

    require("postgresql", postgres_reachable(), POSTGRES_URL)
    with fresh_database(POSTGRES_URL, tmp_path) as url:
        yield url


@pytest.fixture
def shared_redis() -> str:
    """The machine's Redis (TEST_REDIS_URL), with no database number."""
    from tests.support.services import REDIS_URL, redis_reachable, require

    require("redis", redis_reachable(), REDIS_URL)
    return REDIS_URL


@pytest.fixture
def redis_broker(shared_redis) -> dict[str, str]:
    """The environment of a Redis broker with a queue of this test's own:
    nothing else on this Redis takes its jobs."""
    return {
        "CELERY_BROKER_URL": f"{shared_redis}/0",
        "CELERY_DEFAULT_QUEUE": f"ical-test-{uuid.uuid4().hex[:8]}",
    }


@pytest.fixture
def aws(tmp_path):
    """moto's server (SQS, S3, ...) on a local endpoint of the test's own; yields
    the AWS environment that reaches it."""
    from tests.support.services import moto_sqs

    with moto_sqs(tmp_path / "moto") as aws_env:
        yield aws_env
