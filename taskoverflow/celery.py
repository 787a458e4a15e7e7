import os
from pathlib import Path

from celery import Celery

from taskoverflow.worker_alive import AliveFile

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskoverflow.settings")

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
