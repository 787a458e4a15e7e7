import pytest

from tests.support.deployment import collect_static_as_the_image_does
from tests.support.processes import migrate, project_env
from tests.support.stack import web_server


@pytest.fixture
def sqlite_env(tmp_path) -> dict[str, str]:
    """The quick start's settings on a fresh, migrated SQLite file of its own."""
    env = project_env(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_BROKER_FOLDER=str(tmp_path / "broker"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    migrate(env)
    return env


@pytest.fixture
def server(sqlite_env, tmp_path):
    """gunicorn with the project's config, on a free port; stopped afterwards."""
    with web_server(sqlite_env, tmp_path / "logs") as base:
        yield base


@pytest.fixture(scope="session")
def image_static_root(tmp_path_factory):
    """Static files as the image holds them: collected by the Dockerfile's step."""
    static_root = tmp_path_factory.mktemp("image") / "staticfiles"
    result = collect_static_as_the_image_does(static_root)
    assert result.returncode == 0, result.stderr
    return static_root


HOSTILE_TIMES: list[tuple[str, float]] = []


@pytest.fixture
def hostile_times() -> list[tuple[str, float]]:
    """Times measured against hostile clients; printed at the end of the run."""
    return HOSTILE_TIMES


def pytest_terminal_summary(terminalreporter) -> None:
    if HOSTILE_TIMES:
        terminalreporter.section("times measured against hostile clients")
        for what, seconds in HOSTILE_TIMES:
            terminalreporter.line(f"{seconds:8.2f} s  {what}")
