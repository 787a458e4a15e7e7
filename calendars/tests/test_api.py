"""Calendar jobs under /api/v1/todos/ical: queue, poll, download."""

import hashlib
import uuid
from datetime import UTC, datetime
from unittest import mock

import icalendar
import pytest
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient

from api.throttling import ClientRateThrottle
from calendars.jobs import QUEUE_UNAVAILABLE
from calendars.models import CalendarExport
from calendars.tasks import ical_task
from taskoverflow.celery import app as celery_app
from todos.models import Todo

API = "/api/v1/todos/ical"
pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def assert_json_error(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if error is not None:
        assert body["error"] == error
    return body


# --- POST /todos/ical ---------------------------------------------------------


@pytest.mark.parametrize("path", [API, f"{API}/"])
def test_create_answers_202_with_the_job_and_where_to_poll(api, path):
    response = api.post(path)

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"task_id", "task_url"}
    export = CalendarExport.objects.get()
    assert body["task_id"] == str(export.id)
    assert body["task_url"] == f"http://testserver{API}/{export.id}/status"
    assert response["Location"] == body["task_url"]
    assert export.status == "PENDING"


def test_urls_are_built_from_the_request_host(api, settings):
    settings.ALLOWED_HOSTS = ["todos.example.com"]
    response = api.post(API, HTTP_HOST="todos.example.com:6400")
    assert response.json()["task_url"].startswith("http://todos.example.com:6400/")


@pytest.mark.parametrize(
    "query, body, completed, window",
    [
        ("", None, None, None),
        ("?completed=true&window=7", None, True, 7),
        ("", {"completed": False, "window": 3}, False, 3),
        ("", {"completed": "true", "window": "2"}, True, 2),
        ("?completed=true", {"window": 5}, True, 5),
    ],
)
def test_create_takes_filters_from_query_or_json_body(
    api, query, body, completed, window
):
    response = api.post(f"{API}{query}", body, format="json" if body else None)
    assert response.status_code == 202, response.content
    export = CalendarExport.objects.get()
    assert (export.completed, export.window) == (completed, window)


@pytest.mark.parametrize(
    "query, body, field",
    [
        ("?completed=yes", None, "completed"),
        ("?window=-2", None, "window"),
        ("", {"window": "soon"}, "window"),
        ("", {"completed": 1}, "completed"),
        ("", {"owner": "me"}, "owner"),
    ],
)
def test_create_refuses_bad_filters_and_queues_nothing(api, query, body, field):
    response = api.post(f"{API}{query}", body, format="json" if body else None)
    assert field in assert_json_error(response, 400)["error"]
    assert not CalendarExport.objects.exists()


def test_create_refuses_a_body_that_is_not_a_json_object(api):
    response = api.generic("POST", API, "[1]", content_type="application/json")
    assert_json_error(response, 400)
    response = api.generic("POST", API, "window=1", content_type="text/plain")
    assert_json_error(response, 415)
    assert not CalendarExport.objects.exists()


def test_the_message_is_sent_once_the_job_row_is_committed(
    api, django_capture_on_commit_callbacks
):
    with mock.patch.object(celery_app, "send_task") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = api.post(f"{API}?window=4")
        assert response.status_code == 202
        assert send.call_count == 0, "nothing is sent before the commit"
        assert len(callbacks) == 1

        callbacks[0]()

    export_id = response.json()["task_id"]
    send.assert_called_once_with(
        "ical",
        args=[export_id],
        kwargs={"completed": None, "window": 4},
        task_id=export_id,
    )


@pytest.mark.django_db(transaction=True)
def test_a_job_the_queue_refuses_answers_503_and_ends_failure(api):
    with mock.patch.object(celery_app, "send_task", side_effect=BrokerError("down")):
        response = api.post(API)

    body = assert_json_error(response, 503, QUEUE_UNAVAILABLE)
    export = CalendarExport.objects.get(pk=body["task_id"])
    assert export.status == "FAILURE" and export.error == QUEUE_UNAVAILABLE


def test_fifo_queues_get_a_group_and_deduplication_id_of_the_job(
    api, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_DEFAULT_QUEUE = "ical.fifo"
    with mock.patch.object(celery_app, "send_task") as send:
        with django_capture_on_commit_callbacks(execute=True):
            export_id = api.post(API).json()["task_id"]
    options = send.call_args.kwargs
    assert options["MessageGroupId"] == export_id
    assert options["MessageDeduplicationId"] == f"{export_id}-1"  # the first send


def test_job_creation_is_throttled_per_client_with_retry_after(api, settings):
    settings.ICAL_RATE_LIMIT = "2/min"
    accepted = [api.post(API).status_code for _ in range(2)]
    refused = api.post(API)
    other_client = api.post(API, REMOTE_ADDR="10.9.8.7")

    assert accepted == [202, 202]
    body = assert_json_error(refused, 429)
    assert "throttled" in body["error"].lower()
    assert 0 < int(refused["Retry-After"]) <= 60
    assert other_client.status_code == 202
    assert CalendarExport.objects.count() == 3


@pytest.fixture
def one_window(monkeypatch) -> None:
    """Every request falls in the same throttle window: the counts never reset
    mid-test at a minute's turn."""
    monkeypatch.setattr(ClientRateThrottle, "timer", staticmethod(lambda: 1e9 + 5))


def test_the_job_throttle_is_the_settings_default_of_30_a_minute(
    api, settings, one_window
):
    """The rate is read from the real setting (no override): 30/min."""
    settings.ICAL_MAX_QUEUED_PER_CLIENT = 0  # the queue cap would refuse first

    accepted = [api.post(API).status_code for _ in range(30)]
    refused = api.post(API)

    assert accepted == [202] * 30
    assert_json_error(refused, 429)


@pytest.mark.parametrize(
    "proxies, statuses", [(None, [202, 429]), (1, [202, 202])], ids=["0", "1"]
)
def test_clients_behind_num_proxies_are_told_apart_by_x_forwarded_for(
    api, settings, one_window, proxies, statuses
):
    """With no proxy (the default) X-Forwarded-For is the client's to forge and
    is ignored; behind one, it names the client."""
    settings.ICAL_RATE_LIMIT = "1/min"
    if proxies is not None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    proxy = "10.0.0.1"

    answers = [
        api.post(API, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=client).status_code
        for client in ("203.0.113.7", "203.0.113.8")
    ]

    assert answers == statuses


def test_get_is_not_offered_on_the_collection(api):
    assert_json_error(api.get(API), 405)


# --- status -------------------------------------------------------------------


@pytest.mark.parametrize("state", ["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"])
@pytest.mark.parametrize("slash", ["", "/"])
def test_status_answers_the_job_state_and_result_url(api, state, slash):
    export = CalendarExport.objects.create(status=state)

    response = api.get(f"{API}/{export.id}/status{slash}")

    assert response.status_code == 200
    assert response.json() == {
        "task_id": str(export.id),
        "task_status": state,
        "result_url": f"http://testserver{API}/{export.id}/result",
    }


@pytest.mark.parametrize("endpoint", ["status", "result"])
@pytest.mark.parametrize(
    "task_id", [str(uuid.uuid4()), "not-a-uuid", "1234", "%20", "x" * 300]
)
def test_ids_never_issued_or_malformed_are_404_json(api, endpoint, task_id):
    assert_json_error(api.get(f"{API}/{task_id}/{endpoint}"), 404)


# --- result -------------------------------------------------------------------


@pytest.mark.parametrize("state", ["PENDING", "STARTED", "RETRY"])
def test_result_of_an_unfinished_job_is_404_task_not_finished(api, state):
    export = CalendarExport.objects.create(status=state)
    response = api.get(f"{API}/{export.id}/result")
    assert response.status_code == 404
    assert response.json() == {"error": "Task not finished"}


def test_result_of_a_failed_job_is_404_with_the_reason(api):
    export = CalendarExport.objects.create(status="FAILURE", error="ValueError: bad")
    response = api.get(f"{API}/{export.id}/result")
    assert response.status_code == 404
    assert response.json() == {"error": "Task failed", "detail": "ValueError: bad"}


@pytest.mark.parametrize("slash", ["", "/"])
def test_result_of_a_finished_job_is_the_calendar_as_an_attachment(api, slash):
    Todo.objects.create(title="Dated", deadline_at=datetime(2030, 1, 1, tzinfo=UTC))
    Todo.objects.create(title="Undated")
    export_id = api.post(API).json()["task_id"]
    ical_task(export_id)

    response = api.get(f"{API}/{export_id}/result{slash}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="todos.ics"'
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    assert [str(event["SUMMARY"]) for event in events] == ["Dated"]


def test_result_whose_file_is_gone_is_404_json(api):
    export_id = api.post(API).json()["task_id"]
    ical_task(export_id)
    export = CalendarExport.objects.get(pk=export_id)
    export.file.delete(save=False)

    assert_json_error(api.get(f"{API}/{export_id}/result"), 404)


def finished_job(api) -> str:
    Todo.objects.create(title="Dated", deadline_at=datetime(2030, 1, 1, tzinfo=UTC))
    export_id = api.post(API).json()["task_id"]
    ical_task(export_id)
    return export_id


def test_result_is_streamed_with_its_length_and_a_strong_etag_of_its_content(api):
    export_id = finished_job(api)

    response = api.get(f"{API}/{export_id}/result")

    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert int(response["Content-Length"]) == len(body)
    assert response["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
    assert response["Cache-Control"] == "no-cache"


@pytest.mark.parametrize(
    "if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"]
)
def test_result_answers_304_when_if_none_match_names_its_etag(api, if_none_match):
    export_id = finished_job(api)
    etag = api.get(f"{API}/{export_id}/result")["ETag"]

    response = api.get(
        f"{API}/{export_id}/result",
        HTTP_IF_NONE_MATCH=if_none_match.format(etag=etag),
    )

    assert response.status_code == 304
    assert response["ETag"] == etag
    assert response.content == b""


@pytest.mark.parametrize("if_none_match", ['"other"', "W/{short}", "{short}", ""])
def test_result_answers_200_when_if_none_match_names_another_etag(api, if_none_match):
    export_id = finished_job(api)
    etag = api.get(f"{API}/{export_id}/result")["ETag"]
    short = etag[:-2] + '"'

    response = api.get(
        f"{API}/{export_id}/result",
        HTTP_IF_NONE_MATCH=if_none_match.format(short=short),
    )

    assert response.status_code == 200
    assert b"BEGIN:VEVENT" in b"".join(response.streaming_content)


def test_head_of_the_result_has_the_headers_and_no_body(api):
    export_id = finished_job(api)
    response = api.head(f"{API}/{export_id}/result")
    assert response.status_code == 200
    assert response["ETag"] and int(response["Content-Length"]) > 0


# --- queries: the job table may grow without the endpoints slowing ------------


def test_job_endpoints_make_a_fixed_few_queries_however_many_jobs_there_are(
    api, django_assert_num_queries, django_assert_max_num_queries
):
    CalendarExport.objects.bulk_create(
        CalendarExport(status="SUCCESS", event_count=1) for _ in range(2000)
    )
    export_id = finished_job(api)

    # A savepoint, the client's lock (PostgreSQL), its unfinished jobs counted
    # (an index), the row, the release.
    with django_assert_max_num_queries(5):
        assert api.post(API).status_code == 202
    with django_assert_num_queries(1):
        assert api.get(f"{API}/{export_id}/status").status_code == 200
    with django_assert_num_queries(1):
        assert api.get(f"{API}/{export_id}/result").status_code == 200


# --- a client's share of the queue --------------------------------------------


def test_a_client_may_have_only_so_many_jobs_waiting(api, settings):
    settings.ICAL_MAX_QUEUED_PER_CLIENT = 2
    accepted = [api.post(API) for _ in range(2)]
    refused = api.post(API)
    other_client = api.post(API, REMOTE_ADDR="10.9.8.7")
    CalendarExport.objects.filter(pk=accepted[0].json()["task_id"]).update(
        status="SUCCESS"
    )
    after_one_finished = api.post(API)

    assert [response.status_code for response in accepted] == [202, 202]
    assert_json_error(
        refused,
        429,
        "You have 2 calendar jobs waiting, as many as one client may; ask again "
        "once one has finished.",
    )
    assert other_client.status_code == 202
    assert after_one_finished.status_code == 202
