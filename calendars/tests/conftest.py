import pytest

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
