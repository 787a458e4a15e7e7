import os
import uuid
from pathlib import Path
from time import monotonic

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections
from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.json import dumps

from taskoverflow.worker_alive import AliveFile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskoverflow.settings")


class EmbeddedChannel(filesystem.Channel):
    """kombu's filesystem channel, with each message written whole before a
    worker can see it.

    kombu writes a message into the queue folder under its final name: a worker
    polling the folder can take the file while it is still empty, fail to
    decode it and drop the message for good (kombu issue #1551). Here it is
    written under a name no queue reads, then renamed, which is atomic.
    """

    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"  # not `<queue>.msg`: no reader takes it
        try:
            with open(partial, "wb") as file:
                file.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class EmbeddedTransport(filesystem.Transport):
    Channel = EmbeddedChannel


# `filesystem://` means the transport above, in the web server and the worker
# alike (both import this module before Celery connects).
TRANSPORT_ALIASES["filesystem"] = "taskoverflow.celery:EmbeddedTransport"

app = Celery("taskoverflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The worker's sign of life for its health check (taskoverflow/healthcheck.py).
app.steps["worker"].add(AliveFile)


@app.on_after_configure.connect
def make_broker_folders(sender: Celery, **kwargs) -> None:
    """The embedded broker's folders, made when Celery first reads its settings,
    in the web server (to publish) and the worker alike: kombu makes none."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if folder := options.get(key):
            Path(folder).mkdir(parents=True, exist_ok=True)


@task_prerun.connect
def replace_unusable_database_connections(task=None, **kwargs) -> None:
    """What Django does before each request, before each task: a kept
    connection (CELERY_DB_REUSE_MAX) that broke or outlived
    DATABASE_CONN_MAX_AGE is closed, and the task opens a fresh one. Not for a
    task run eagerly (`apply()`), inside its caller's process and transaction."""
    if task is not None and task.request.is_eager:
        return
    close_old_connections()
