"""Benchmarks: each prints figures, with a baseline measured in the same run.
Run them as modules from the project folder: `.venv/bin/python -m bench.NAME`."""

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.stack import RunningStack, running_stack

# A benchmark is one very busy client: what one client may do is lifted.
BUSY_CLIENT = {
    "ICAL_RATE_LIMIT": "1000000/min",
    "TODO_WRITE_RATE_LIMIT": "1000000/min",
    "ICAL_MAX_QUEUED_PER_CLIENT": "0",
}


def add_stack_options(parser: argparse.ArgumentParser) -> None:
    """--database-url and --broker, as every stack benchmark takes them."""
    parser.add_argument(
        "--database-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="the server to make the run's own database on, or `sqlite`",
    )
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379",
        help="a Redis URL (the run's own queue there), `filesystem` or `sqs`",
    )


@contextmanager
def bench_stack(
    args: argparse.Namespace, *, name: str, **kwargs
) -> Iterator[tuple[RunningStack, Path]]:
    """A whole TaskOverflow of the run's own (database, queue, folders), with
    the limits on one client lifted (BUSY_CLIENT). Yields the stack and the
    run's folder."""
    database_url = None if args.database_url == "sqlite" else args.database_url
    broker = "embedded" if args.broker == "filesystem" else args.broker
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as folder:
        with running_stack(
            Path(folder),
            database_url=database_url,
            broker=broker,
            name=name,
            **BUSY_CLIENT,
            **kwargs,
        ) as stack:
            yield stack, Path(folder)
