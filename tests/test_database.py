import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_suite_runs_on_the_database_it_was_asked_for():
    """CI sets EXPECT_DATABASE_VENDOR, so a run that fell back to SQLite fails."""
    expected = os.environ.get("EXPECT_DATABASE_VENDOR", connection.vendor)
    assert connection.vendor == expected
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
