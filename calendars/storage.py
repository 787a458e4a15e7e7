"""Calendar files in the default storage (a folder, or S3 on AWS), each named by
its content: calendars/<sha256>.ics. Identical calendars are one file."""

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

FOLDER = "calendars"
# Small chunks are gathered into blocks of about this size, for fewer writes.
WRITE_BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class SpooledCalendar:
    """A calendar written to a temporary file, not yet stored."""

    file: IO[bytes]
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return calendar_file_name(self.sha256)


def calendar_file_name(sha256: str) -> str:
    return f"{FOLDER}/{sha256}.ics"


@contextmanager
def calendar_spool(chunks: Iterable[bytes]) -> Iterator[SpooledCalendar]:
    """The chunks written to a temporary file as they come (never one big
    string), its size and SHA-256 taken on the way; deleted after the block."""
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(prefix="calendar-") as spool:
        for block in _blocks(chunks, WRITE_BLOCK_BYTES):
            spool.write(block)
            digest.update(block)
            size += len(block)
        spool.seek(0)
        yield SpooledCalendar(file=spool, size=size, sha256=digest.hexdigest())


def calendar_file_store(spooled: SpooledCalendar, *, name: str = "") -> bool:
    """Store a spooled calendar under its content's name (`name`, a name of
    the caller's that holds the SHA-256; by default calendars/<sha256>.ics),
    unless a file of that name, hence of that content, is stored already.
    Whether this call added the file: storage grew only then."""
    name = name or spooled.name
    if default_storage.exists(name):
        return False
    spooled.file.seek(0)
    saved = default_storage.save(name, File(spooled.file, name=name))
    if saved != name:
        # Another worker stored the same calendar meanwhile, and the folder
        # storage picked a new name for this copy: keep the first.
        default_storage.delete(saved)
        return False
    return True


def _blocks(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Small chunks gathered into blocks of about `size` bytes, for fewer writes."""
    pending: list[bytes] = []
    pending_bytes = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_bytes += len(chunk)
        if pending_bytes >= size:
            yield b"".join(pending)
            pending.clear()
            pending_bytes = 0
    if pending:
        yield b"".join(pending)


def calendar_file_open(name: str) -> File:
    """A stored calendar, open for reading; FileNotFoundError when it is gone."""
    return default_storage.open(name, "rb")


def calendar_file_url(name: str, *, filename: str) -> str | None:
    """On S3, a short-lived URL that downloads the calendar straight from the
    bucket as `filename`; None for the folder storage, served by the web server."""
    if not settings.CALENDAR_BUCKET:
        return None
    return default_storage.url(
        name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": "text/calendar; charset=utf-8",
        },
        expire=settings.ICAL_DOWNLOAD_URL_SECONDS,
    )


def calendar_files_stored() -> list[str]:
    """The names of every stored calendar."""
    try:
        _, files = default_storage.listdir(FOLDER)
    except FileNotFoundError:  # nothing stored yet
        return []
    return [f"{FOLDER}/{file}" for file in files]


def calendar_file_delete(name: str) -> None:
    """Delete a stored calendar; one that is already gone is no error."""
    default_storage.delete(name)
