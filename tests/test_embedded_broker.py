"""The embedded broker never shows a worker a message before it is whole."""

import os
from queue import Empty

import pytest
from kombu import Connection

from taskoverflow import celery as celery_module

QUEUE = "ical"


@pytest.fixture
def channel(tmp_path):
    folder = str(tmp_path)
    connection = Connection(
        "filesystem://",
        transport_options={"data_folder_in": folder, "data_folder_out": folder},
    )
    yield connection.default_channel
    connection.release()


def test_filesystem_urls_use_the_embedded_transport(channel):
    assert isinstance(channel, celery_module.EmbeddedChannel)


def test_a_message_is_invisible_until_it_is_written_whole(channel, monkeypatch):
    """kombu's own channel creates the file under its final name and then
    writes it: a worker polling in between took it empty and dropped it."""
    seen_while_writing = []
    rename = os.replace

    def rename_after_a_worker_polls(source, target):
        seen_while_writing.append(_take(channel))
        rename(source, target)

    monkeypatch.setattr(celery_module.os, "replace", rename_after_a_worker_polls)

    channel._put(QUEUE, {"body": "job 1"})

    assert seen_while_writing == [None]  # written, not yet renamed: invisible
    assert _take(channel) == {"body": "job 1"}
    assert _take(channel) is None


def _take(channel) -> dict | None:
    try:
        return channel._get(QUEUE)
    except Empty:
        return None
