import pytest


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Generated calendars go to a folder of each test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


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
