"""The SQS queue demo behind `manage.py queue`: publishers and subscribers of a
standard or FIFO queue, to watch order and duplicates.

Small typed functions over a boto3 SQS client; the command only parses options,
draws the progress bar and spinner, and prints.
"""

import hashlib
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from django.conf import settings

CLIENT_ATTRIBUTE = "client"
SEND_BATCH_SIZE = 10  # the most send_message_batch takes
RECEIVE_BATCH_SIZE = 10  # the most receive_message returns
# A few seconds of long polling: a message shows as soon as it is sent, and the
# idle timeout and Ctrl-C are still checked often.
LONG_POLL_SECONDS = 5
# SQS answers an ordinary request in milliseconds. These bound how long a wrong
# or unreachable endpoint keeps a person waiting: two attempts, a few seconds each.
CONNECT_TIMEOUT_SECONDS = 3
REQUEST_TIMEOUT_SECONDS = 5
MAX_ATTEMPTS = 2
NO_CLIENT = "(no client)"


class QueueNotFound(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unable to find a Queue by this name {name}")
        self.name = name


class SendFailed(Exception):
    """SQS refused some messages of a batch."""


@dataclass(frozen=True)
class Queue:
    name: str
    url: str
    fifo: bool
    content_based_deduplication: bool


@dataclass(frozen=True)
class ReceivedMessage:
    body: str
    client_name: str
    receipt_handle: str


def queue_is_fifo(name: str) -> bool:
    return name.endswith(".fifo")


def message_body(*, prepend: str, index: int) -> str:
    return f"{prepend}Message {index}"


def deduplication_id(body: str) -> str:
    """The SHA-256 of the body, in hex: what content-based deduplication uses."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def received_line(*, client_name: str, body: str, at: datetime) -> str:
    """`[11:41:41] Client 1: Message 0`: the local time the message was shown."""
    return f"[{at:%H:%M:%S}] {client_name}: {body}"


def sqs_client(*, long_poll_seconds: int = 0):
    """An SQS client that fails within seconds when the endpoint does not answer.

    boto3 reads the credentials and AWS_ENDPOINT_URL (a local SQS API) itself. A
    long-polling client waits `long_poll_seconds` longer for each answer.
    """
    config = Config(
        # The same region as the service's own SQS and S3 clients.
        region_name=settings.AWS_REGION_NAME,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=REQUEST_TIMEOUT_SECONDS + long_poll_seconds,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return boto3.client("sqs", config=config)


# What the command turns into one line on stderr and exit status 1.
FAILURES = (QueueNotFound, SendFailed, BotoCoreError, ClientError)


def failure_message(error: Exception, *, endpoint: str) -> str:
    """One line that tells the person what went wrong talking to SQS."""
    if isinstance(error, QueueNotFound | SendFailed):
        return str(error)
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return (
            "No AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or AWS_PROFILE); any values do for a local SQS API."
        )
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return (
            f"Could not connect to SQS at {endpoint} "
            "(check AWS_ENDPOINT_URL, the region and the network)."
        )
    if isinstance(error, ReadTimeoutError):
        return f"SQS at {endpoint} did not answer in time."
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Error")
        return f"SQS at {endpoint} refused: {code}: {details.get('Message', '')}"
    return f"SQS at {endpoint}: {error}"


def _queue_missing(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    # Older SQS APIs (and moto) name it by the query protocol's code.
    return code in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


def queue_create(*, sqs, name: str) -> str:
    """Create the queue, FIFO with content-based deduplication for .fifo names;
    its URL. Creating a queue that exists with these attributes is a no-op."""
    attributes = (
        {"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        if queue_is_fifo(name)
        else {}
    )
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def queue_connect(*, sqs, name: str, create: bool = False) -> Queue:
    """Look the queue up by name (creating it first when asked); QueueNotFound."""
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as error:
        if not _queue_missing(error):
            raise
        if not create:
            raise QueueNotFound(name) from None
        url = queue_create(sqs=sqs, name=name)
    fifo = queue_is_fifo(name)
    content_based = False
    if fifo:
        attributes = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ContentBasedDeduplication"]
        )["Attributes"]
        content_based = attributes.get("ContentBasedDeduplication") == "true"
    return Queue(
        name=name, url=url, fifo=fifo, content_based_deduplication=content_based
    )


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def send_entries(
    *, queue: Queue, bodies: list[str], client_name: str, group_id: str
) -> list[dict]:
    """send_message_batch entries: the client attribute on each; on a FIFO queue
    the group, and a deduplication id where the queue does not derive one."""
    entries = []
    for number, body in enumerate(bodies):
        entry = {
            "Id": str(number),
            "MessageBody": body,
            "MessageAttributes": {
                CLIENT_ATTRIBUTE: {"DataType": "String", "StringValue": client_name}
            },
        }
        if queue.fifo:
            entry["MessageGroupId"] = group_id
            if not queue.content_based_deduplication:
                entry["MessageDeduplicationId"] = deduplication_id(body)
        entries.append(entry)
    return entries


def messages_send(
    *,
    sqs,
    queue: Queue,
    bodies: Iterable[str],
    client_name: str,
    group_id: str = "default",
    on_sent: Callable[[int], None] = lambda count: None,
) -> int:
    """Send the bodies in order, ten to a request; how many SQS accepted.

    `on_sent(n)` follows each batch. Batches go one after another, so a FIFO
    queue keeps the order of `bodies` within the group.
    """
    sent = 0
    for batch in batched(bodies, SEND_BATCH_SIZE):
        entries = send_entries(
            queue=queue, bodies=batch, client_name=client_name, group_id=group_id
        )
        response = sqs.send_message_batch(QueueUrl=queue.url, Entries=entries)
        if failed := response.get("Failed"):
            first = failed[0]
            raise SendFailed(
                f"SQS refused {len(failed)} of {len(batch)} messages: "
                f"{first.get('Code')}: {first.get('Message', '')}"
            )
        sent += len(batch)
        on_sent(len(batch))
    return sent


def messages_receive(
    *, sqs, queue: Queue, wait_seconds: int, max_messages: int = RECEIVE_BATCH_SIZE
) -> list[ReceivedMessage]:
    """One long poll: up to `max_messages` (at most 10) messages, perhaps none."""
    response = sqs.receive_message(
        QueueUrl=queue.url,
        MaxNumberOfMessages=min(max_messages, RECEIVE_BATCH_SIZE),
        WaitTimeSeconds=wait_seconds,
        MessageAttributeNames=[CLIENT_ATTRIBUTE],
    )
    return [
        ReceivedMessage(
            body=message["Body"],
            client_name=message.get("MessageAttributes", {})
            .get(CLIENT_ATTRIBUTE, {})
            .get("StringValue", NO_CLIENT),
            receipt_handle=message["ReceiptHandle"],
        )
        for message in response.get("Messages", [])
    ]


def message_delete(*, sqs, queue: Queue, message: ReceivedMessage) -> None:
    sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message.receipt_handle)


def poll_wait_seconds(idle_left: float | None) -> int:
    """How long the next long poll may wait: LONG_POLL_SECONDS, or less when the
    idle timeout comes sooner (whole seconds, as SQS takes them)."""
    if idle_left is None:
        return LONG_POLL_SECONDS
    return max(0, min(LONG_POLL_SECONDS, math.ceil(idle_left)))


def receive_until_stopped(
    *,
    sqs,
    queue: Queue,
    on_message: Callable[[ReceivedMessage], None],
    max_messages: int | None = None,
    idle_timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Long-poll, hand each message to `on_message`, then delete it; how many.

    Runs until `max_messages` were handled or `idle_timeout` seconds pass with no
    message; with neither, until interrupted. A message is deleted only after
    `on_message` returns, so one that was not shown is delivered again.
    """
    handled = 0
    last_message_at = clock()
    while max_messages is None or handled < max_messages:
        idle_left = None
        if idle_timeout is not None:
            idle_left = idle_timeout - (clock() - last_message_at)
            if idle_left <= 0:
                break
        # Ask only for what is still wanted: a message taken but not handled
        # would stay hidden from other receivers for the visibility timeout.
        wanted = RECEIVE_BATCH_SIZE
        if max_messages is not None:
            wanted = min(wanted, max_messages - handled)
        messages = messages_receive(
            sqs=sqs,
            queue=queue,
            wait_seconds=poll_wait_seconds(idle_left),
            max_messages=wanted,
        )
        for message in messages:
            on_message(message)
            message_delete(sqs=sqs, queue=queue, message=message)
            handled += 1
        if messages:
            last_message_at = clock()
    return handled
