"""Task results in the database (django-db): django-celery-results' rows, each
written by one statement (calendars/results.py)."""

import pytest
from celery import current_app, states
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_results.models import TaskResult

from calendars.results import UpsertingDatabaseBackend

pytestmark = pytest.mark.django_db


class Request:
    """What the worker hands a backend about the task that ran."""

    id = "result-1"
    task = "ical"
    argsrepr = "['result-1']"
    kwargsrepr = "{'completed': None, 'window': None}"
    hostname = "worker@here"
    periodic_task_name = None
    children = []
    group = None
    chord = None
    errbacks = None
    ignore_result = False


def test_django_db_means_the_upserting_backend():
    assert isinstance(current_app.backend, UpsertingDatabaseBackend)


def test_a_result_is_stored_by_one_statement_with_the_task_s_details():
    backend = current_app.backend
    value = {"export_id": "result-1", "status": "SUCCESS", "events": 10}

    with CaptureQueriesContext(connection) as queries:
        backend.mark_as_done("result-1", value, request=Request())

    assert len(queries) == 1
    row = TaskResult.objects.get(task_id="result-1")
    assert row.status == states.SUCCESS
    assert (row.task_name, row.worker) == ("ical", "worker@here")
    assert "result-1" in row.task_args and "window" in row.task_kwargs
    # Read back through the library's own reading, as anyone reads it.
    assert backend.get_task_meta("result-1")["result"] == value
    assert current_app.AsyncResult("result-1").state == states.SUCCESS


def test_a_later_result_of_the_same_task_writes_into_its_row():
    backend = current_app.backend
    backend.store_result("result-1", None, states.STARTED, request=Request())
    started = TaskResult.objects.get(task_id="result-1").date_started
    backend.mark_as_retry("result-1", ValueError("once"), request=Request())
    backend.mark_as_failure("result-1", ValueError("for good"), request=Request())

    (row,) = TaskResult.objects.filter(task_id="result-1")
    assert row.status == states.FAILURE
    assert "for good" in row.result
    # The time it started, written when it started, is kept by what followed.
    assert started is not None and row.date_started == started
