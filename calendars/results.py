"""The result backend of the workers' tasks: django-celery-results', each
result written by one statement.

django-celery-results stores a result with get_or_create() and then save():
a SELECT, then BEGIN, INSERT and COMMIT, each a round trip, and each
statement compiled by the ORM. After every calendar job that took about 2.5 ms
of the worker's CPU and 4 ms in all, while the client's next poll waited for
a CPU (docs/benchmarks.md). Here the same row, with the same columns, is
written by one INSERT ... ON CONFLICT DO UPDATE, compiled once
(api/compiled.upsert_row). Reading results, forgetting them, groups and
chords are the library's own.

taskoverflow/settings.py makes CELERY_RESULT_BACKEND=django-db mean this class.
"""

from celery import states
from django.utils import timezone
from django_celery_results.backends.database import DatabaseBackend

from api.compiled import can_upsert, upsert_row


class UpsertingDatabaseBackend(DatabaseBackend):
    def _store_result(
        self, task_id, result, status, traceback=None, request=None, using=None
    ):
        if using is not None or not can_upsert(self.TaskModel):
            return super()._store_result(
                task_id, result, status, traceback, request=request, using=using
            )
        content_type, content_encoding, encoded_result = self.encode_content(result)
        meta = {
            **self._get_meta_from_request(request),
            "children": self.current_task_children(request),
        }
        _, _, encoded_meta = self.encode_content(meta)
        row = self.TaskModel(
            task_id=task_id,
            status=status,
            result=encoded_result,
            meta=encoded_meta,
            content_type=content_type,
            content_encoding=content_encoding,
            # The task's name, arguments and worker with CELERY_RESULT_EXTENDED;
            # and the traceback, with or without.
            **{
                "traceback": traceback,
                **self._get_extended_properties(request, traceback),
            },
        )
        # As the library: the time a task started is written when it starts,
        # and kept by the results that follow.
        if status == states.STARTED:
            row.date_started = timezone.now()
            upsert_row(row, unique="task_id")
        else:
            upsert_row(row, unique="task_id", keep=("date_started",))
        return result
