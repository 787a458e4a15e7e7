"""The queue demo, `manage.py queue`: the real command, as a person types it,
against moto's SQS server in a process (its functions: test_demo.py).

moto is not AWS (shared/FACTS.md): its FIFO deduplication holds only while the
first copy is still queued, so duplicates are sent before anything is received;
and though moto delivers a standard queue in order, order is never asserted there.
"""

import hashlib
import re
import signal
import socket
import subprocess
import sys
import time
import uuid

import boto3
import pytest

from tests.support.processes import (
    PROJECT_DIR,
    free_port,
    project_env,
    run_python,
    stop,
    wait_until,
)
from tests.support.services import moto_sqs

HUNDRED = [f"Message {index}" for index in range(100)]
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<client>.+?): (?P<body>.*)$")


# --- the command, as a person runs it ----------------------------------------


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory) -> dict[str, str]:
    """One moto SQS server for the module; each test uses queues of its own."""
    with moto_sqs(tmp_path_factory.mktemp("moto")) as aws:
        yield aws


@pytest.fixture
def env(aws_env) -> dict[str, str]:
    return project_env(**aws_env)


def queue_name(kind: str) -> str:
    name = f"demo-{uuid.uuid4().hex[:10]}"
    return f"{name}.fifo" if kind == "fifo" else name


def queue_command(*args: str, env: dict[str, str], timeout: float = 90):
    return run_python(["manage.py", "queue", *args], env, timeout=timeout)


def send(name: str, env: dict[str, str], *args: str) -> str:
    result = queue_command("--name", name, "--client-name", "Client 1", *args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def receive(name: str, env: dict[str, str], *args: str) -> list[tuple[str, str]]:
    """Run a receiver to its end; the (client, body) of each line it printed."""
    result = queue_command(
        "--name", name, "--client-name", "Client 2", "--receive", *args, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Connected to {name}\n")
    return received(result.stdout)


def received(stdout: str) -> list[tuple[str, str]]:
    return [
        (match["client"], match["body"])
        for line in stdout.splitlines()
        if (match := LINE.match(line))
    ]


def bodies(lines: list[tuple[str, str]]) -> list[str]:
    return [body for _, body in lines]


def sqs_client(aws_env: dict[str, str]):
    return boto3.client(
        "sqs",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=aws_env["AWS_DEFAULT_REGION"],
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"],
    )


def test_fifo_delivers_100_messages_in_order(env):
    """The sender's 100 messages reach a receiver in the order sent, each shown
    with the sender's client name and a time."""
    name = queue_name("fifo")
    output = send(name, env, "--create")
    assert output.startswith(f"Connected to {name}\n")
    assert re.search(rf"^100 sent to {re.escape(name)} in [\d.]+ s$", output, re.M)

    lines = receive(name, env, "--max-messages", "100", "--idle-timeout", "10")

    assert bodies(lines) == HUNDRED
    assert {client for client, _ in lines} == {"Client 1"}


def test_fifo_drops_the_same_100_sent_again(env):
    """Within five minutes the same bodies are duplicates: the second 100 deliver
    none. (Sent before receiving: moto forgets an id once its message is gone.)"""
    name = queue_name("fifo")
    send(name, env, "--create")
    send(name, env)

    lines = receive(name, env, "--idle-timeout", "3")

    assert bodies(lines) == HUNDRED


def test_fifo_with_prepend_delivers_all_100_again(env):
    """--prepend changes every body, so the same batch passes deduplication; the
    text is shown as it is, brackets and colons included."""
    name = queue_name("fifo")
    send(name, env, "--create")
    send(name, env, "--prepend", "[bold]Again:+1: ")

    lines = receive(name, env, "--idle-timeout", "3")

    assert bodies(lines) == HUNDRED + [f"[bold]Again:+1: {body}" for body in HUNDRED]


def test_fifo_without_content_based_deduplication_uses_the_sha256(env, aws_env):
    """On a FIFO queue that does not derive deduplication ids, the sender gives the
    SHA-256 of each body: SQS takes the messages, and drops a resent batch."""
    name = queue_name("fifo")
    sqs = sqs_client(aws_env)
    url = sqs.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    send(name, env, "--count", "10")
    send(name, env, "--count", "10")

    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert [message["Body"] for message in messages] == HUNDRED[:10]
    for message in messages:
        expected = hashlib.sha256(message["Body"].encode()).hexdigest()
        assert message["Attributes"]["MessageDeduplicationId"] == expected
        assert message["Attributes"]["MessageGroupId"] == "default"
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)


def test_group_id_sets_the_fifo_message_group(env, aws_env):
    name = queue_name("fifo")
    send(name, env, "--create", "--count", "1", "--group-id", "lecture-3")

    sqs = sqs_client(aws_env)
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert message["Attributes"]["MessageGroupId"] == "lecture-3"


def test_create_makes_fifo_queues_with_content_based_deduplication(env, aws_env):
    fifo, standard = queue_name("fifo"), queue_name("standard")
    send(fifo, env, "--create", "--count", "0")
    send(standard, env, "--create", "--count", "0")

    sqs = sqs_client(aws_env)
    fifo_attributes = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=fifo)["QueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert fifo_attributes["FifoQueue"] == "true"
    assert fifo_attributes["ContentBasedDeduplication"] == "true"
    standard_attributes = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=standard)["QueueUrl"],
        AttributeNames=["All"],
    )["Attributes"]
    assert "FifoQueue" not in standard_attributes


def test_standard_delivers_all_100_at_least_once_to_one_receiver(env):
    """A standard queue promises every message at least once, in any order;
    a duplicate is allowed (moto happens to deliver each once)."""
    name = queue_name("standard")
    send(name, env, "--create")

    lines = receive(name, env, "--idle-timeout", "3")

    assert set(bodies(lines)) == set(HUNDRED)


def test_max_messages_stops_the_receiver_and_leaves_the_rest(env):
    """A receiver told to stop after 10 takes only 10: the other 20 are still
    there, at once, for the next receiver."""
    name = queue_name("standard")
    send(name, env, "--create", "--count", "30")

    first = receive(name, env, "--max-messages", "10")
    rest = receive(name, env, "--idle-timeout", "2")

    assert len(first) == 10
    assert set(bodies(first) + bodies(rest)) == set(HUNDRED[:30])  # at least once


def start_receiver(
    name: str, client: str, env: dict[str, str], output, *args: str
) -> subprocess.Popen:
    """A receiver in the background, once it has connected to the queue."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "queue", "--name", name, "--client-name"]
        + [client, "--receive", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=output.open("w"),
        stderr=output.with_suffix(".err").open("w"),
    )
    try:
        wait_until(
            lambda: "Connected to" in output.read_text(),
            timeout=60,
            what=f"receiver {client}",
            process=process,
        )
    except Exception:
        stop(process)
        raise
    return process


def two_receivers_then_send(name: str, env: dict[str, str], tmp_path):
    """Two receivers listening at once, then 100 sent, then Ctrl-C to both once
    every message was shown by one of them, as in the demo; the bodies each
    printed."""
    outputs = [tmp_path / "receiver-a.out", tmp_path / "receiver-b.out"]
    receivers = []

    def shown() -> int:
        return len(
            {
                body
                for output in outputs
                for body in bodies(received(output.read_text()))
            }
        )

    try:
        for number, output in enumerate(outputs, start=2):
            # The idle timeout only bounds a test whose messages never come.
            receivers.append(
                start_receiver(
                    name, f"Client {number}", env, output, "--idle-timeout", "60"
                )
            )
        send(name, env)
        wait_until(lambda: shown() >= 100, timeout=60, what="100 messages shown")
        time.sleep(1)  # time for a duplicate, were there one, to show
        for process in receivers:
            process.send_signal(signal.SIGINT)
        for process in receivers:
            assert process.wait(timeout=30) == 0
    finally:
        for process in receivers:
            stop(process)
    return [bodies(received(output.read_text())) for output in outputs]


@pytest.fixture
def created(env):
    def create(kind: str) -> str:
        name = queue_name(kind)
        send(name, env, "--create", "--count", "0")
        return name

    return create


def test_two_standard_receivers_together_get_each_message_at_least_once(
    env, created, tmp_path
):
    """SQS standard queues deliver at least once: together the receivers see
    every message, perhaps one twice."""
    name = created("standard")

    first, second = two_receivers_then_send(name, env, tmp_path)

    assert set(first + second) == set(HUNDRED)


def test_two_fifo_receivers_get_every_message_each_in_order(env, created, tmp_path):
    """Together every message; and what each one gets is in the order sent.

    Not "exactly once": SQS promises FIFO delivery at least once, and moto's
    threaded server, under a loaded machine, was seen (once in CI) handing one
    FIFO message to both receivers.
    """
    name = created("fifo")

    first, second = two_receivers_then_send(name, env, tmp_path)

    assert set(first + second) == set(HUNDRED)
    for got in (first, second):
        assert got == sorted(got, key=HUNDRED.index)


def test_ctrl_c_stops_a_receiver_cleanly(env, created, tmp_path):
    """Ctrl-C is how a subscriber stops: status 0, no traceback."""
    name = created("standard")
    output = tmp_path / "receiver.out"
    process = start_receiver(name, "Client 2", env, output)
    try:
        time.sleep(1)  # inside the long poll
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        stop(process)
    assert output.with_suffix(".err").read_text() == ""
    assert output.read_text().splitlines()[-1] == f"0 received from {name}"


@pytest.mark.parametrize("mode", ["--send", "--receive"])
def test_unknown_queue_exits_1_with_one_line(env, mode):
    name = queue_name("standard")
    result = queue_command("--name", name, "--client-name", "c", mode, env=env)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"Unable to find a Queue by this name {name}"]
    assert result.stdout == ""


def one_line_failure(env: dict[str, str], *, within: float):
    started = time.monotonic()
    result = queue_command("--name", "q", "--client-name", "c", env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < within, f"took {elapsed:.1f} s"
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.strip()


def test_unreachable_endpoint_exits_1_at_once_with_one_line(aws_env):
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = project_env(**{**aws_env, "AWS_ENDPOINT_URL": endpoint})

    message = one_line_failure(env, within=15)

    assert message.startswith(f"Could not connect to SQS at {endpoint}")


def test_endpoint_that_never_answers_fails_within_seconds(aws_env):
    """A server that takes the connection and never answers: the timeouts bound
    the wait (two tries of a few seconds), not botocore's default minutes."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        env = project_env(**{**aws_env, "AWS_ENDPOINT_URL": endpoint})

        message = one_line_failure(env, within=30)

    assert message == f"SQS at {endpoint} did not answer in time."


def test_missing_credentials_exit_1_with_one_line(aws_env, tmp_path):
    env = {
        key: value for key, value in project_env().items() if not key.startswith("AWS")
    }
    env.update(
        AWS_ENDPOINT_URL=aws_env["AWS_ENDPOINT_URL"],
        # No profile files, and no instance metadata to ask.
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )

    message = one_line_failure(env, within=15)

    assert message.startswith("No AWS credentials")
