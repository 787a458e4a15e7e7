"""The whole path for real: gunicorn, a Celery worker process, a real broker and
database. POST a job, poll it to SUCCESS, download and parse the calendar.

Redis and PostgreSQL are the machine's; a test that needs one fails when the
service is listed in REQUIRED_SERVICES (CI lists both) and is skipped, saying
why, elsewhere. moto's SQS server is started by the tests themselves.
"""

import hashlib
import time
import uuid

import boto3
import icalendar
import pytest
import requests
import vobject
from ical.calendar_stream import IcsCalendarStream

from calendars.ical import todo_uid
from tests.support.processes import django_run
from tests.support.services import (
    POSTGRES_URL,
    REDIS_URL,
    fresh_database,
    postgres_reachable,
    require,
)
from tests.support.stack import stack_env, wait_for_job, web_server, worker


@pytest.fixture(params=["filesystem", "redis", "sqs-standard", "sqs-fifo"])
def broker(request, tmp_path) -> dict[str, str]:
    """The environment that selects each broker."""
    if request.param == "filesystem":
        return {}  # the default: a folder of the test's own, set by stack_env
    if request.param == "redis":
        return request.getfixturevalue("redis_broker")
    queue = "ical.fifo" if request.param == "sqs-fifo" else "ical"
    aws_env = request.getfixturevalue("aws")
    return {"CELERY_BROKER_URL": "sqs://", "CELERY_DEFAULT_QUEUE": queue, **aws_env}


def add_todos(base: str) -> list[dict]:
    todos = [
        {
            "title": "Launch 🚀, review; ship \\ " + "a long title " * 10,
            "description": "line one\nline two, with; punctuation",
            "deadline_at": "2030-01-02T03:04:05",
        },
        {"title": "Done", "completed": True, "deadline_at": "2030-02-01 09:00:00.000"},
        {"title": "No deadline"},
    ]
    created = []
    for todo in todos:
        response = requests.post(f"{base}/api/v1/todos", json=todo, timeout=5)
        assert response.status_code == 201, response.text
        created.append(response.json())
    return created


def export_calendar(base: str, *, timeout: float = 60) -> tuple[str, bytes]:
    """POST a job, poll it to SUCCESS, download the calendar. `timeout` is a
    bound on a loaded machine, not a speed: the figures are bench/'s."""
    response = requests.post(f"{base}/api/v1/todos/ical", timeout=5)
    assert response.status_code == 202, response.text
    job = response.json()
    status, elapsed = wait_for_job(base, job["task_url"], timeout=timeout)
    assert status == "SUCCESS", f"{status} after {elapsed:.2f} s"
    result_url = requests.get(job["task_url"], timeout=5).json()["result_url"]
    result = requests.get(result_url, timeout=5)
    assert result.status_code == 200
    assert result.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert result.headers["Content-Disposition"] == 'attachment; filename="todos.ics"'
    assert int(result.headers["Content-Length"]) == len(result.content)
    etag = result.headers["ETag"]
    assert etag == f'"{hashlib.sha256(result.content).hexdigest()}"'
    again = requests.get(result_url, headers={"If-None-Match": etag}, timeout=5)
    assert (again.status_code, again.content) == (304, b"")
    return job["task_id"], result.content


def assert_calendar_of(ics: bytes, todos: list[dict]) -> list[str]:
    dated = [todo for todo in todos if todo["deadline_at"]]
    events = icalendar.Calendar.from_ical(ics).walk("VEVENT")
    assert [str(event["SUMMARY"]) for event in events] == [t["title"] for t in dated]
    uids = [str(event["UID"]) for event in events]
    assert uids == [todo_uid(todo["id"]) for todo in dated]
    strict = IcsCalendarStream.calendar_from_ics(ics.decode("utf-8"))
    assert [event.uid for event in strict.events] == uids
    assert vobject.readOne(ics.decode("utf-8")).validate(raiseException=True)
    return uids


def test_a_job_runs_end_to_end_on_each_broker(tmp_path, broker, database_url):
    env = stack_env(tmp_path, database_url, **broker)
    logs = tmp_path / "logs"
    with web_server(env, logs) as base, worker(env, logs):
        todos = add_todos(base)

        task_id, first = export_calendar(base)
        _, second = export_calendar(base)

        assert assert_calendar_of(first, todos) == assert_calendar_of(second, todos)
        for endpoint in ("status", "result"):
            unknown = requests.get(
                f"{base}/api/v1/todos/ical/{uuid.uuid4()}/{endpoint}", timeout=5
            )
            malformed = requests.get(
                f"{base}/api/v1/todos/ical/not-an-id/{endpoint}", timeout=5
            )
            assert unknown.status_code == malformed.status_code == 404
            assert "error" in unknown.json() and "error" in malformed.json()

    # The worker also recorded the task in django-celery-results (the admin).
    recorded = django_run(
        "from django_celery_results.models import TaskResult\n"
        f"print(TaskResult.objects.get(task_id='{task_id}').status)",
        env,
    )
    assert recorded.stdout.strip() == "SUCCESS", recorded.stderr


def test_fifo_queue_is_created_as_fifo_on_sqs(tmp_path, aws, database_url):
    env = stack_env(
        tmp_path,
        database_url,
        CELERY_BROKER_URL="sqs://",
        CELERY_DEFAULT_QUEUE="ical.fifo",
        **aws,
    )
    with web_server(env, tmp_path / "logs") as base, worker(env, tmp_path / "logs"):
        export_calendar(base)
    client = boto3.client("sqs", endpoint_url=aws["AWS_ENDPOINT_URL"], **_keys(aws))
    url = client.get_queue_url(QueueName="ical.fifo")["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    assert attributes["Attributes"]["FifoQueue"] == "true"


def test_on_the_fifo_wire_each_job_is_its_group_and_each_send_its_dedup_id(
    tmp_path, aws, database_url
):
    """As SQS received them: the job's messages (its first send, then the
    sweep's) carry the job id as MessageGroupId and `<id>-<send>` as
    MessageDeduplicationId, so the resend is not dropped as a duplicate."""
    env = stack_env(
        tmp_path,
        database_url,
        CELERY_BROKER_URL="sqs://",
        CELERY_DEFAULT_QUEUE="ical.fifo",
        **aws,
    )
    with web_server(env, tmp_path / "logs") as base:  # no worker: nothing consumes
        job_id = requests.post(f"{base}/api/v1/todos/ical", timeout=5).json()["task_id"]
    # Both sends before any receive: moto forgets a deduplication id once its
    # message is deleted (AWS keeps it 5 minutes).
    resent = django_run(
        "import datetime\n"
        "from calendars.jobs import calendar_exports_resend_stale\n"
        "from django.utils import timezone\n"
        "later = timezone.now() + datetime.timedelta(hours=1)\n"
        "print(calendar_exports_resend_stale(now=later))",
        env,
    )
    assert resent.stdout.strip() == "1", resent.stderr

    client = boto3.client("sqs", endpoint_url=aws["AWS_ENDPOINT_URL"], **_keys(aws))
    url = client.get_queue_url(QueueName="ical.fifo")["QueueUrl"]
    received = []
    for _ in range(2):  # one group: the second is visible once the first is gone
        (message,) = client.receive_message(
            QueueUrl=url,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            WaitTimeSeconds=5,
        )["Messages"]
        client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        attributes = message["Attributes"]
        received.append(
            (attributes["MessageGroupId"], attributes["MessageDeduplicationId"])
        )
    assert received == [(job_id, f"{job_id}-1"), (job_id, f"{job_id}-2")]


def _keys(aws_env: dict[str, str]) -> dict[str, str]:
    return {
        "region_name": aws_env["AWS_DEFAULT_REGION"],
        "aws_access_key_id": aws_env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": aws_env["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_other_result_backends_work_with_the_status_and_result_endpoints(
    tmp_path, redis_broker, database_url, backend
):
    if backend == "redis":
        result_backend = f"{REDIS_URL}/1"
        database = None
    else:
        require("postgresql", postgres_reachable(), POSTGRES_URL)
        database = fresh_database(POSTGRES_URL, tmp_path)
        url = database.__enter__()
        result_backend = "db+postgresql+psycopg" + url[len("postgres") :]
    try:
        env = stack_env(
            tmp_path, database_url, CELERY_RESULT_BACKEND=result_backend, **redis_broker
        )
        logs = tmp_path / "logs"
        with web_server(env, logs) as base, worker(env, logs):
            todos = add_todos(base)
            task_id, ics = export_calendar(base)
            assert_calendar_of(ics, todos)
        recorded = django_run(
            "from taskoverflow.celery import app\n"
            f"print(app.AsyncResult('{task_id}').state)",
            env,
        )
        assert recorded.stdout.strip() == "SUCCESS", recorded.stderr
    finally:
        if database is not None:
            database.__exit__(None, None, None)


def test_a_slow_job_is_not_finished_until_it_is(tmp_path, redis_broker, database_url):
    env = stack_env(tmp_path, database_url, ICAL_SIMULATED_DELAY="3", **redis_broker)
    logs = tmp_path / "logs"
    with web_server(env, logs) as base, worker(env, logs):
        add_todos(base)
        job = requests.post(f"{base}/api/v1/todos/ical", timeout=5).json()
        result_url = job["task_url"].replace("/status", "/result")
        time.sleep(1)

        waiting = requests.get(result_url, timeout=5)
        assert waiting.status_code == 404
        assert waiting.json() == {"error": "Task not finished"}
        assert requests.get(job["task_url"], timeout=5).json()["task_status"] in (
            "PENDING",
            "STARTED",
        )

        status, elapsed = wait_for_job(base, job["task_url"], timeout=15)
        assert status == "SUCCESS" and elapsed >= 1.5
        finished = requests.get(result_url, timeout=5)
        assert finished.status_code == 200
        assert b"BEGIN:VEVENT" in finished.content
