"""Can this service reach what it needs? Each check answers None or a reason,
within a bound: a database or broker that does not answer is a reason too."""

import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from celery import current_app
from django.db import connection

# Each check bounds its own waits (connect and socket timeouts); this bounds the
# whole, so that /health always answers within 3 s.
CHECK_SECONDS = 2.5


def database_problem() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return _reason(error)
    finally:
        connection.close()  # a thread of the pool: leave no connection behind
    return None


def broker_problem() -> str | None:
    # The broker as Celery's publisher sees it (reading this configuration also
    # makes the embedded broker's folders: taskoverflow/celery.py).
    url = current_app.conf.broker_url
    options = current_app.conf.broker_transport_options
    scheme = url.split("://", 1)[0]
    try:
        if scheme == "filesystem":
            folder = Path(options["data_folder_in"])
            if not os.access(folder, os.W_OK):
                return f"the broker folder {folder} is not writable"
        elif scheme in ("redis", "rediss"):
            import redis

            redis.Redis.from_url(
                url,
                socket_timeout=options["socket_timeout"],
                socket_connect_timeout=options["socket_connect_timeout"],
            ).ping()
        elif scheme == "sqs":
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "sqs",
                region_name=options["region"],
                config=Config(
                    connect_timeout=1.5, read_timeout=1.5, retries={"max_attempts": 1}
                ),
            )
            queue_url = _predefined_queue_url(options)
            if queue_url:
                # What the web role may do (terraform/iam.tf): read its queue's
                # attributes by URL. It may not list the account's queues.
                client.get_queue_attributes(
                    QueueUrl=queue_url, AttributeNames=["QueueArn"]
                )
            else:
                # Only against a local SQS API (settings.py refuses sqs://
                # without SQS_QUEUE_URL elsewhere), where Celery makes the queue.
                client.list_queues(MaxResults=1)
    except Exception as error:
        return _reason(error)
    return None


def _predefined_queue_url(options: dict) -> str | None:
    queues = options.get("predefined_queues") or {}
    queue = queues.get(current_app.conf.task_default_queue) or {}
    return queue.get("url")


def service_problems() -> dict[str, str | None]:
    """{"database": None or a reason, "broker": None or a reason}, in ≤ 3 s."""
    checks = {"database": database_problem, "broker": broker_problem}
    pool = ThreadPoolExecutor(max_workers=len(checks))
    futures = {name: pool.submit(check) for name, check in checks.items()}
    problems = {}
    for name, future in futures.items():
        try:
            problems[name] = future.result(timeout=CHECK_SECONDS)
        except FutureTimeout:
            problems[name] = f"no answer within {CHECK_SECONDS} s"
    pool.shutdown(wait=False)  # a stuck check is left to finish on its own
    return problems


def _reason(error: Exception) -> str:
    text = " ".join(str(error).split())
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:200]
