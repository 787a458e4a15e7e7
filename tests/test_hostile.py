"""Hostile clients against the production server: gunicorn through
taskoverflow/gunicorn_conf.py with DEBUG off, on real sockets. Idle and slow
clients must not take the web tier down, a flood must not fill the disk or
drown other clients, and every error is JSON and 4xx."""

import http.client
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.clients import (
    Probe,
    address,
    closed_by_server,
    idle_connections,
    raw_request,
    sha256,
    slow_download,
    slow_header_connections,
)
from tests.support.processes import wait_until
from tests.support.services import fresh_database
from tests.support.stack import (
    PRODUCTION_OVER_HTTP,
    add_todos,
    stack_env,
    wait_for_job,
    web_server,
    worker,
)

# The web tier's defences, open to anyone as the course's contract is: what
# ACCOUNTS=required refuses is accounts/tests/test_matrix.py's.
PRODUCTION = PRODUCTION_OVER_HTTP
HEALTH_BOUND = 3.0  # seconds: what a load balancer's health check allows
MIB = 1024 * 1024


@pytest.fixture
def production_env(tmp_path, database_url, image_static_root) -> dict[str, str]:
    return stack_env(
        tmp_path, database_url, STATIC_ROOT=str(image_static_root), **PRODUCTION
    )


@pytest.fixture
def production_server(production_env, tmp_path):
    with web_server(production_env, tmp_path / "logs") as base:
        yield base


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, image_static_root):
    """One production server for the tests that change nothing it keeps."""
    folder = tmp_path_factory.mktemp("shared-server")
    with fresh_database(os.environ.get("DATABASE_URL"), folder) as database:
        env = stack_env(
            folder, database, STATIC_ROOT=str(image_static_root), **PRODUCTION
        )
        with web_server(env, folder / "logs") as base:
            yield base


def assert_healthy_throughout(probe: Probe) -> None:
    assert not probe.failures, probe.failures[:3]
    assert len(probe.seconds) >= 5, probe.seconds
    assert probe.worst < HEALTH_BOUND, sorted(probe.seconds)[-5:]


# --- slow and idle clients ----------------------------------------------------


def test_two_idle_connections_leave_health_answering_within_3_s(
    production_server, hostile_times
):
    with idle_connections(production_server, 2), Probe(production_server) as probe:
        time.sleep(6)  # the window observed, not a wait for something
    hostile_times.append(("slowest /health, 2 idle connections open", probe.worst))
    assert_healthy_throughout(probe)


def test_fifty_slow_header_connections_leave_health_answering_then_are_cut(
    production_server, hostile_times
):
    base = production_server
    with slow_header_connections(base, 50) as slow:
        opened = time.monotonic()
        with Probe(base) as probe:
            time.sleep(6)  # the window observed, while all 50 are still open
        hostile_times.append(
            ("slowest /health, 50 slow-header connections open", probe.worst)
        )
        assert_healthy_throughout(probe)
        assert not any(closed_by_server(sock) for sock in slow[:5])

        # A head must arrive whole within WEB_HEADER_TIMEOUT (10 s): then the
        # server cuts the connection, however steadily it drips.
        wait_until(
            lambda: all(closed_by_server(sock) for sock in slow),
            timeout=30,
            what="the slow-header connections cut by the server",
        )
        hostile_times.append(
            ("50 slow-header connections all cut", time.monotonic() - opened)
        )


def test_four_slow_downloads_complete_while_health_answers(
    tmp_path, database_url, image_static_root, hostile_times
):
    """Each download takes longer than WEB_TIMEOUT, which cut them off when a
    download held a whole sync worker."""
    env = stack_env(
        tmp_path,
        database_url,
        STATIC_ROOT=str(image_static_root),
        WEB_TIMEOUT="5",
        **PRODUCTION,
    )
    add_todos(env, 40_000)
    logs = tmp_path / "logs"
    with web_server(env, logs) as base:
        with worker(env, logs):
            job = requests.post(f"{base}/api/v1/todos/ical", timeout=10).json()
            status, _ = wait_for_job(base, job["task_url"], timeout=120)
        assert status == "SUCCESS"
        result_url = f"{base}/api/v1/todos/ical/{job['task_id']}/result"
        size = int(requests.head(result_url, timeout=10).headers["Content-Length"])
        # Larger than what the kernel may buffer between server and client.
        assert size > largest_send_buffer() + 64 * 1024, size

        with Probe(base, interval=0.5) as probe, ThreadPoolExecutor(4) as pool:
            downloads = [pool.submit(slow_download, result_url) for _ in range(4)]
            started = time.monotonic()
            results = [download.result(timeout=180) for download in downloads]
            took = time.monotonic() - started

    hostile_times.append((f"4 slow downloads of {size / MIB:.1f} MiB, all done", took))
    hostile_times.append(("slowest /health during the 4 downloads", probe.worst))
    assert took > 5, "each download outlasts WEB_TIMEOUT"
    for status, etag, body in results:
        assert status == 200
        assert len(body) == size and sha256(body) == etag
    assert_healthy_throughout(probe)


def largest_send_buffer() -> int:
    return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])


# --- gunicorn's own answers ---------------------------------------------------


def split_answer(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value
        for name, _, value in (line.partition(": ") for line in lines[1:])
    }
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize(
    "request_bytes, status",
    [
        (b"GET /\x01 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\n\r\n", 400),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
            431,
        ),
    ],
    ids=["bad-request-line", "bad-header", "long-uri", "huge-header"],
)
def test_requests_gunicorn_refuses_itself_are_answered_json(
    shared_server, request_bytes, status
):
    answer = raw_request(shared_server, request_bytes)
    code, headers, body = split_answer(answer)
    assert code == status
    assert headers["content-type"] == "application/json"
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body)["error"]


# --- bodies -------------------------------------------------------------------


def chunks(data: bytes, size: int = 1000):
    """A generator, so that requests sends it with Transfer-Encoding: chunked."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_a_chunked_body_is_read_as_it_was_sent(shared_server):
    body = json.dumps({"title": "Sent in chunks", "completed": True}).encode()
    created = requests.post(
        f"{shared_server}/api/v1/todos",
        data=chunks(body, 7),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    assert created.json()["title"] == "Sent in chunks"
    assert created.json()["completed"] is True


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/api/v1/todos"),
        ("PUT", "/api/v1/todos/1"),
        ("POST", "/api/v1/todos/ical"),
        ("POST", "/admin/login/"),
    ],
)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_every_body_over_the_limit_is_refused_with_413(
    shared_server, method, path, framing
):
    oversized = b'{"title": "' + b"a" * 3 * MIB + b'"}'
    data = oversized if framing == "content-length" else chunks(oversized, 64 * 1024)
    try:
        response = requests.request(
            method,
            f"{shared_server}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
    except requests.ConnectionError as error:
        pytest.fail(f"the server cut the connection instead of answering: {error}")
    assert response.status_code == 413, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert "1048576 bytes" in response.json()["error"]


# --- forwarded headers --------------------------------------------------------


@pytest.mark.parametrize("trusted", [False, True])
def test_x_forwarded_proto_is_believed_only_when_configured(
    tmp_path, database_url, image_static_root, trusted
):
    """With the production default (redirect to HTTPS), a local client that
    claims HTTPS is redirected like any other, unless TRUST_X_FORWARDED_PROTO."""
    settings = {**PRODUCTION, "SECURE_SSL_REDIRECT": "true"}
    if trusted:
        settings["TRUST_X_FORWARDED_PROTO"] = "true"
    env = stack_env(
        tmp_path, database_url, STATIC_ROOT=str(image_static_root), **settings
    )
    with web_server(env, tmp_path / "logs") as base:
        claimed = requests.get(
            f"{base}/api/v1/todos",
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
            timeout=10,
        )
        plain = requests.get(f"{base}/api/v1/todos", allow_redirects=False, timeout=10)
    assert plain.status_code == 301
    assert claimed.status_code == (200 if trusted else 301)


# --- formats ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api/v1/health", "/api/v1/todos", "/api/v1/todos/1", "/api/v1/schema"],
)
def test_an_unknown_format_is_404_json_naming_it(shared_server, path):
    unknown = requests.get(f"{shared_server}{path}?format=xml", timeout=10)
    assert unknown.status_code == 404
    assert "xml" in unknown.json()["error"]


def test_the_browsable_api_works_with_debug_off(shared_server):
    page = requests.get(f"{shared_server}/api/v1/todos?format=api", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")


# --- floods -------------------------------------------------------------------


def post_todo_from(base: str, source: str, title: str) -> int:
    """POST a todo from the loopback address `source`: another client."""
    host, port = address(base)
    connection = http.client.HTTPConnection(
        host, port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request(
            "POST",
            "/api/v1/todos",
            body=json.dumps({"title": title, "description": "x" * 5000}),
            headers={"Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_a_write_flood_meets_429s_while_another_client_is_served(production_server):
    base = production_server
    flood: list[int] = []
    other: list[int] = []

    def flood_from_one_client() -> None:
        with ThreadPoolExecutor(8) as pool:
            flood.extend(
                pool.map(
                    lambda n: post_todo_from(base, "127.0.0.1", f"flood {n}"),
                    range(400),
                )
            )

    flooding = threading.Thread(target=flood_from_one_client)
    flooding.start()
    while flooding.is_alive() and len(other) < 10:
        other.append(post_todo_from(base, "127.0.0.2", f"person {len(other)}"))
        time.sleep(0.1)
    flooding.join(timeout=120)

    assert set(flood) <= {201, 429}
    assert flood.count(429) >= 100, f"{flood.count(201)} accepted"
    assert other and set(other) == {201}


def test_a_flood_of_identical_jobs_stores_one_calendar(tmp_path, database_url):
    """Sixty jobs for the same todos: one stored copy, whatever the number of
    jobs (the throttle and the queue cap are lifted to let all sixty in)."""
    env = stack_env(
        tmp_path,
        database_url,
        ICAL_RATE_LIMIT="100000/min",
        ICAL_MAX_QUEUED_PER_CLIENT="0",
    )
    add_todos(env, 2000)
    logs = tmp_path / "logs"
    with web_server(env, logs) as base, worker(env, logs, concurrency=2):
        jobs = [
            requests.post(f"{base}/api/v1/todos/ical", timeout=10) for _ in range(60)
        ]
        assert {job.status_code for job in jobs} == {202}
        finished = [
            wait_for_job(base, job.json()["task_url"], timeout=120)[0] for job in jobs
        ]
        etags = {
            requests.head(
                f"{base}/api/v1/todos/ical/{job.json()['task_id']}/result", timeout=10
            ).headers["ETag"]
            for job in jobs
        }
    assert set(finished) == {"SUCCESS"}
    assert len(etags) == 1
    stored = list((Path(env["MEDIA_ROOT"]) / "calendars").iterdir())
    assert [path.name for path in stored] == [f"{etags.pop().strip(chr(34))}.ics"]


def test_one_client_cannot_queue_more_than_its_share(tmp_path, database_url):
    """With no worker running, jobs stay queued: a client's sixth waits."""
    env = stack_env(tmp_path, database_url)
    with web_server(env, tmp_path / "logs") as base:
        answers = [
            requests.post(f"{base}/api/v1/todos/ical", timeout=10) for _ in range(6)
        ]
        other = post_job_from(base, "127.0.0.2")
    assert [answer.status_code for answer in answers] == [202] * 5 + [429]
    assert "5 calendar jobs" in answers[-1].json()["error"]
    assert other == 202


def post_job_from(base: str, source: str) -> int:
    host, port = address(base)
    connection = http.client.HTTPConnection(
        host, port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("POST", "/api/v1/todos/ical")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# --- cross-site writes --------------------------------------------------------


def test_cross_site_writes_are_refused_and_the_seed_s_curl_still_works(
    production_server,
):
    base = production_server
    jobs = f"{base}/api/v1/todos/ical"
    from_elsewhere = requests.post(
        jobs, headers={"Origin": "https://attacker.example"}, timeout=10
    )
    marked = requests.post(jobs, headers={"Sec-Fetch-Site": "cross-site"}, timeout=10)
    form = requests.post(
        f"{base}/api/v1/todos",
        data="title=x",
        headers={
            "Origin": "null",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        timeout=10,
    )
    for refused in (from_elsewhere, marked, form):
        assert refused.status_code == 403, refused.text
        assert "cross-site" in refused.json()["error"]

    # curl -X POST http://localhost:6400/api/v1/todos/ical: no body, no
    # content type, no Origin.
    curl = requests.Request("POST", jobs).prepare()
    assert "Content-Type" not in curl.headers and curl.body is None
    assert requests.Session().send(curl, timeout=10).status_code == 202
    # The page's own fetches name their origin.
    same_origin = requests.post(
        f"{base}/api/v1/todos",
        json={"title": "From the page"},
        headers={"Origin": base, "Sec-Fetch-Site": "same-origin"},
        timeout=10,
    )
    assert same_origin.status_code == 201


@pytest.mark.parametrize("access_log", ["", "-"])
def test_a_line_per_request_is_logged_only_when_asked(
    production_env, tmp_path, access_log
):
    """WEB_ACCESS_LOG: off by default, as in gunicorn; `-` on ECS and Compose."""
    env = {**production_env, "WEB_ACCESS_LOG": access_log}
    with web_server(env, tmp_path / "logs") as base:
        assert requests.get(f"{base}/api/v1/todos?seen=1", timeout=5).ok
    log = (tmp_path / "logs" / "web.log").read_text()
    assert ("GET /api/v1/todos?seen=1 HTTP/1.1" in log) == bool(access_log)
