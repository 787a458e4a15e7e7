"""Calendar files in the default storage (a folder, or S3 on AWS)."""

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.files import File
from django.core.files.storage import default_storage

# Small chunks are gathered into blocks of about this size, for fewer writes.
WRITE_BLOCK_BYTES = 256 * 1024


@dataclass(frozen=True)
class StoredFile:
    name: str
    size: int
    sha256: str


def calendar_file_save(*, name: str, chunks: Iterable[bytes]) -> StoredFile:
    """Write chunks to the default storage as `name`, replacing any file there.

    The chunks go to a temporary file as they come (never one big string), which
    is then handed to the storage API; its size and SHA-256 are taken on the way.
    """
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile(prefix="calendar-") as spool:
        for block in _blocks(chunks, WRITE_BLOCK_BYTES):
            spool.write(block)
            digest.update(block)
            size += len(block)
        spool.seek(0)
        # Built again (a redelivered job): overwrite, never add a second file.
        default_storage.delete(name)
        saved_name = default_storage.save(name, File(spool, name=name))
    return StoredFile(name=saved_name, size=size, sha256=digest.hexdigest())


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


def calendar_file_delete(name: str) -> None:
    """Delete a stored calendar; one that is already gone is no error."""
    default_storage.delete(name)
