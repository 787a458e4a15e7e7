"""The deployment page's walk-through over HTTP, against any running stack:
create a todo, ask for a calendar, follow the job, get it."""

import json
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import boto3
import requests

from tests.support.deployment import doc_page


def aws_client(service: str, aws_env: dict[str, str]):
    return boto3.client(
        service,
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=aws_env["AWS_DEFAULT_REGION"],
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
    )


def readme_todo() -> dict:
    """The todo that the deployment page's Compose walk-through creates."""
    block = doc_page("deployment").split("docker compose up --build", 1)[1]
    match = re.search(r"-d '(\{.*?\})'", block)
    assert match, "the Compose walk-through creates a todo with curl -d '{...}'"
    return json.loads(match.group(1))


# The deployment page's first steps with ACCOUNTS=required, as the commands a
# deployment runs in its web container: a superuser (non-interactively here),
# then `createtoken`, whose last line is the token.
FIRST_USER_COMMANDS = [
    [
        "python",
        "manage.py",
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_superuser('admin', password='x' * 16)",
    ],
    ["python", "manage.py", "createtoken", "admin", "--name", "walk-through"],
]


def first_user_token(run: Callable[[list[str]], str]) -> str:
    """The first user's token, FIRST_USER_COMMANDS run by `run` (which
    returns a command's output, and fails when the command does)."""
    output = ""
    for command in FIRST_USER_COMMANDS:
        output = run(command)
    return output.strip().splitlines()[-1]


def walk_through(
    base: str,
    *,
    token: str | None = None,
    headers=None,
    public: str | None = None,
    follow=None,
) -> str:
    """The deployment page's curl walk-through; returns the job's id. With
    `token` (ACCOUNTS=required), as the first user; the page then asks a
    stranger to sign in. `public` is the base URL the service names in its
    answers (the load balancer's), reached at `base`; `follow(url)` fetches a
    download's redirect to S3 (default: requests.get)."""
    page = requests.get(f"{base}/", headers=headers, timeout=10)
    assert page.status_code == 200
    assert ("Sign in" if token else "Generate calendar") in page.text
    if token:
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
    stylesheet = re.search(r'href="(/static/app\.[0-9a-f]+\.css)"', page.text)
    assert stylesheet, "the page links its stylesheet by its hashed name"
    css = requests.get(base + stylesheet.group(1), headers=headers, timeout=10)
    assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]

    todo = readme_todo()
    created = requests.post(
        f"{base}/api/v1/todos", json=todo, headers=headers, timeout=10
    )
    assert created.status_code == 201, created.text
    listed = requests.get(f"{base}/api/v1/todos", headers=headers, timeout=10)
    assert [t["title"] for t in listed.json()] == [todo["title"]]

    queued = requests.post(f"{base}/api/v1/todos/ical", headers=headers, timeout=10)
    assert queued.status_code == 202, queued.text
    job = queued.json()
    task_url = job["task_url"]
    if public:
        assert task_url.startswith(f"{public}/api/v1/todos/ical/")
        task_url = base + task_url[len(public) :]

    status, elapsed = wait_until_finished(task_url, headers)
    assert status == "SUCCESS", f"{status} after {elapsed:.1f} s"
    result_url = requests.get(task_url, headers=headers, timeout=10).json()
    result_url = result_url["result_url"]
    if public:
        result_url = base + result_url[len(public) :]
    result = requests.get(
        result_url, headers=headers, timeout=10, allow_redirects=False
    )
    if result.status_code == 302:  # calendars in S3: straight from the bucket
        result = (follow or requests.get)(result.headers["Location"])
    assert result.status_code == 200, result.text[:500]
    assert result.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert f"SUMMARY:{todo['title']}" in result.text
    return job["task_id"]


def wait_until_finished(task_url: str, headers) -> tuple[str, float]:
    """Poll a job's status until it finishes (60 s at most)."""
    started = time.monotonic()
    while True:
        status = requests.get(task_url, headers=headers, timeout=10).json()
        elapsed = time.monotonic() - started
        if status["task_status"] in ("SUCCESS", "FAILURE") or elapsed > 60:
            return status["task_status"], elapsed
        time.sleep(0.05)


def job_finishes_through_a_stop(base: str, stop, *, headers=None) -> float:
    """Queue a calendar job, and once a worker has started it, call `stop` (a
    warm shutdown of that worker): the job still ends SUCCESS. Returns how long
    `stop` took, which is about the job's remaining time."""
    queued = requests.post(f"{base}/api/v1/todos/ical", headers=headers, timeout=10)
    assert queued.status_code == 202, queued.text
    # The URL's path, at `base` (the service may name another host: the
    # load balancer's, or its own inside a container).
    task_url = base + urlsplit(queued.json()["task_url"]).path
    deadline = time.monotonic() + 60
    while (
        requests.get(task_url, headers=headers, timeout=10).json()["task_status"]
        != "STARTED"
    ):
        assert time.monotonic() < deadline, "no worker started the job in 60 s"
        time.sleep(0.05)
    started = time.monotonic()
    stop()
    stopped_after = time.monotonic() - started
    status = requests.get(task_url, headers=headers, timeout=10).json()
    assert status["task_status"] == "SUCCESS", status
    return stopped_after
