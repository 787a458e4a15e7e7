"""`manage.py queue`: publish to or subscribe to an SQS queue, to watch what a
standard and a FIFO queue do with order and duplicates. See README "Queue demo".
"""

import argparse
import logging
import sys
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from queuedemo import demo

INTERRUPTED = 130  # the shell's status for a command stopped by Ctrl-C


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return value


class Command(BaseCommand):
    help = (
        "Send numbered messages to an SQS queue, or receive and print them. "
        "A name ending in .fifo is a FIFO queue."
    )
    # Talks to SQS only: no database, so no system checks to wait for.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="the queue's name")
        parser.add_argument(
            "--client-name", required=True, help="who sends or receives, shown"
        )
        mode = parser.add_mutually_exclusive_group()
        # One destination for both flags; sending unless --receive is given.
        mode.add_argument(
            "--send",
            dest="receive",
            action="store_false",
            default=False,
            help="send (default)",
        )
        mode.add_argument(
            "--receive", dest="receive", action="store_true", help="receive"
        )
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the queue if missing (FIFO, content-based deduplication, "
            "for .fifo names)",
        )
        sending = parser.add_argument_group("sending")
        sending.add_argument(
            "--prepend", default="", help="text put before every message body"
        )
        sending.add_argument(
            "--count", type=count, default=100, help="messages to send (100)"
        )
        sending.add_argument(
            "--group-id", default="default", help="FIFO message group (default)"
        )
        receiving = parser.add_argument_group("receiving (default: until Ctrl-C)")
        receiving.add_argument(
            "--max-messages", type=positive_int, help="stop after N messages"
        )
        receiving.add_argument(
            "--idle-timeout",
            type=positive_seconds,
            help="stop after S seconds with no message",
        )

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except CommandError as error:
            if not self._called_from_command_line or options.get("traceback"):
                raise  # call_command's callers get the CommandError itself
            # From the shell, the demo's message alone, as README shows it
            # ("Unable to find a Queue by this name NAME"), without the
            # "CommandError: " that Django would put before it.
            self.stderr.write(str(error))
            sys.exit(error.returncode)

    def handle(self, *args, **options):
        # The project logs at INFO; botocore's INFO lines ("Found credentials in
        # environment variables.") would bury the demo's own output and errors.
        logging.getLogger("botocore").setLevel(logging.WARNING)
        console = Console(
            markup=False,  # message bodies are shown as they are
            emoji=False,
            highlight=False,
            soft_wrap=True,
            no_color=options["no_color"],
            force_terminal=options["force_color"] or None,
        )
        sqs = demo.sqs_client(
            long_poll_seconds=demo.LONG_POLL_SECONDS if options["receive"] else 0
        )
        try:
            queue = demo.queue_connect(
                sqs=sqs, name=options["name"], create=options["create"]
            )
            console.print(f"Connected to {queue.name}")
            if options["receive"]:
                self.receive(console, sqs, queue, options)
            else:
                self.send(console, sqs, queue, options)
        except demo.FAILURES as error:
            message = demo.failure_message(error, endpoint=sqs.meta.endpoint_url)
            raise CommandError(message, returncode=1) from None
        except KeyboardInterrupt:
            # Before anything was sent or received.
            raise CommandError("Interrupted.", returncode=INTERRUPTED) from None

    def send(self, console: Console, sqs, queue: demo.Queue, options) -> None:
        total = options["count"]
        bodies = (
            demo.message_body(prepend=options["prepend"], index=index)
            for index in range(total)
        )
        progress = Progress(
            TextColumn("{task.description}", style="progress.description"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            # Piped output gets no bar (rich would leave a blank line), only the
            # summary.
            disable=not console.is_terminal,
        )
        started = time.monotonic()
        sent = 0

        def advance(batch: int) -> None:
            nonlocal sent
            sent += batch
            progress.advance(task, batch)

        try:
            with progress:
                task = progress.add_task("Sending", total=total)
                demo.messages_send(
                    sqs=sqs,
                    queue=queue,
                    bodies=bodies,
                    client_name=options["client_name"],
                    group_id=options["group_id"],
                    on_sent=advance,
                )
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped: {sent} of {total} sent to {queue.name}",
                returncode=INTERRUPTED,
            ) from None
        elapsed = time.monotonic() - started
        console.print(f"{sent} sent to {queue.name} in {elapsed:.2f} s")

    def receive(self, console: Console, sqs, queue: demo.Queue, options) -> None:
        received = 0

        def show(message: demo.ReceivedMessage) -> None:
            nonlocal received
            at = datetime.now(UTC).astimezone()  # the reader's local time
            console.print(
                demo.received_line(
                    client_name=message.client_name, body=message.body, at=at
                )
            )
            received += 1

        try:
            waiting = (
                f"{options['client_name']} waiting for messages on {queue.name} "
                "(Ctrl-C stops)"
            )
            with console.status(waiting):
                demo.receive_until_stopped(
                    sqs=sqs,
                    queue=queue,
                    on_message=show,
                    max_messages=options["max_messages"],
                    idle_timeout=options["idle_timeout"],
                )
        except KeyboardInterrupt:
            # Ctrl-C is how a subscriber is meant to stop: a clean exit, status 0.
            # A message shown but not yet deleted comes again (at-least-once).
            pass
        console.print(f"{received} received from {queue.name}")
