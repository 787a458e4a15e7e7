"""The queue demo's functions on their own (queuedemo/demo.py); the command itself
runs in test_queue.py."""

import hashlib
import re
from datetime import UTC, datetime

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from queuedemo import demo

HUNDRED = [f"Message {index}" for index in range(100)]
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] (?P<client>.+?): (?P<body>.*)$")


# --- the pure functions ------------------------------------------------------


def test_deduplication_id_is_the_sha256_of_the_body():
    assert demo.deduplication_id("Message 0") == (
        "9e83d5517120d2879db148b42450b0cbf5bd8fabe17966362a884cc68b7d6319"
    )
    assert demo.deduplication_id("x Message 0") != demo.deduplication_id("Message 0")


def test_message_body_puts_the_prepended_text_first():
    assert demo.message_body(prepend="", index=7) == "Message 7"
    assert demo.message_body(prepend="Again ", index=0) == "Again Message 0"


def test_received_line_shows_the_time_the_client_and_the_body():
    at = datetime(2026, 11, 27, 11, 41, 41, 999_000, tzinfo=UTC)
    line = demo.received_line(client_name="Client 1", body="Message 0", at=at)
    assert line == "[11:41:41] Client 1: Message 0"


def test_queue_is_fifo_by_its_name():
    assert demo.queue_is_fifo("csse6400_prac.fifo")
    assert not demo.queue_is_fifo("csse6400_prac")


def test_batched_gives_tens_and_the_rest():
    batches = list(demo.batched(HUNDRED[:25], 10))
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert [body for batch in batches for body in batch] == HUNDRED[:25]


def test_poll_wait_seconds_never_outlasts_the_idle_timeout():
    assert demo.poll_wait_seconds(None) == demo.LONG_POLL_SECONDS
    assert demo.poll_wait_seconds(60) == demo.LONG_POLL_SECONDS
    assert demo.poll_wait_seconds(1.2) == 2
    assert demo.poll_wait_seconds(0.1) == 1


def fifo_queue(*, content_based: bool) -> demo.Queue:
    return demo.Queue(
        name="q.fifo", url="u", fifo=True, content_based_deduplication=content_based
    )


def test_send_entries_on_a_fifo_queue_without_content_based_deduplication():
    entries = demo.send_entries(
        queue=fifo_queue(content_based=False),
        bodies=["Message 0", "Message 1"],
        client_name="Client 1",
        group_id="g",
    )
    assert [entry["MessageGroupId"] for entry in entries] == ["g", "g"]
    assert (
        entries[0]["MessageDeduplicationId"] == hashlib.sha256(b"Message 0").hexdigest()
    )
    assert entries[0]["MessageAttributes"]["client"]["StringValue"] == "Client 1"
    assert len({entry["Id"] for entry in entries}) == 2


def test_send_entries_leave_deduplication_to_a_content_based_queue():
    (entry,) = demo.send_entries(
        queue=fifo_queue(content_based=True),
        bodies=["Message 0"],
        client_name="c",
        group_id="g",
    )
    assert entry["MessageGroupId"] == "g"
    assert "MessageDeduplicationId" not in entry


def test_send_entries_on_a_standard_queue_carry_no_fifo_fields():
    standard = demo.Queue(
        name="q", url="u", fifo=False, content_based_deduplication=False
    )
    (entry,) = demo.send_entries(
        queue=standard, bodies=["Message 0"], client_name="c", group_id="g"
    )
    assert set(entry) == {"Id", "MessageBody", "MessageAttributes"}


def test_failure_messages_are_one_line_that_names_the_fault():
    endpoint = "http://127.0.0.1:1"
    cases = {
        demo.QueueNotFound("q"): "Unable to find a Queue by this name q",
        NoCredentialsError(): "No AWS credentials",
        EndpointConnectionError(endpoint_url=endpoint): "Could not connect",
        ReadTimeoutError(endpoint_url=endpoint): "did not answer",
        ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetQueueUrl"
        ): "refused: AccessDenied: no",
    }
    for error, expected in cases.items():
        message = demo.failure_message(error, endpoint=endpoint)
        assert expected in message
        assert "\n" not in message


class FakeSQS:
    """Hands out the queued bodies ten at a time; records deletions; each poll
    advances the fake clock by its wait."""

    def __init__(self, bodies: list[str]) -> None:
        self.waiting = list(bodies)
        self.deleted: list[str] = []
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def receive_message(self, **request) -> dict:
        taken = self.waiting[: request["MaxNumberOfMessages"]]
        del self.waiting[: len(taken)]
        if not taken:
            self.now += request["WaitTimeSeconds"]
        return {"Messages": [{"Body": body, "ReceiptHandle": body} for body in taken]}

    def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> None:
        self.deleted.append(ReceiptHandle)


STANDARD = demo.Queue(name="q", url="u", fifo=False, content_based_deduplication=False)


def test_receive_deletes_each_message_only_after_it_was_shown():
    sqs = FakeSQS(HUNDRED[:3])
    deleted_when_shown = []

    def show(message):
        deleted_when_shown.append(list(sqs.deleted))

    handled = demo.receive_until_stopped(
        sqs=sqs, queue=STANDARD, on_message=show, idle_timeout=1, clock=sqs.clock
    )
    assert handled == 3
    assert sqs.deleted == HUNDRED[:3]
    assert deleted_when_shown == [[], ["Message 0"], ["Message 0", "Message 1"]]


def test_receive_stops_at_max_messages_and_takes_no_more_than_that():
    sqs = FakeSQS(HUNDRED[:25])
    shown = []
    handled = demo.receive_until_stopped(
        sqs=sqs,
        queue=STANDARD,
        on_message=lambda message: shown.append(message.body),
        max_messages=12,
        clock=sqs.clock,
    )
    assert handled == 12
    assert shown == HUNDRED[:12]
    assert sqs.waiting == HUNDRED[12:25]  # untouched, free for other receivers


def test_receive_stops_after_the_idle_timeout_without_messages():
    sqs = FakeSQS([])
    handled = demo.receive_until_stopped(
        sqs=sqs, queue=STANDARD, on_message=print, idle_timeout=12, clock=sqs.clock
    )
    assert handled == 0
    assert sqs.now == 12  # polls of 5, 5 and then only the 2 s left
