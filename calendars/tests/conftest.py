import pytest
from django.core.cache import cache

from taskoverflow.celery import app as celery_app


@pytest.fixture(autouse=True, scope="session")
def in_memory_broker():
    """Nothing this process publishes may reach a developer's real queue."""
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_transport_options = {}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Generated calendars go to a folder of each test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_throttle_counts():
    """Throttle counts live in the cache; each test starts with none."""
    cache.clear()


FAULT_TIMES: list[tuple[str, float]] = []


@pytest.fixture
def fault_times() -> list[tuple[str, float]]:
    """Times a fault test measured; printed at the end of the run."""
    return FAULT_TIMES


def pytest_terminal_summary(terminalreporter) -> None:
    if FAULT_TIMES:
        terminalreporter.section("times measured under faults")
        for what, seconds in FAULT_TIMES:
            terminalreporter.line(f"{seconds:8.2f} s  {what}")
