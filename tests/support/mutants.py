"""Hand-made mutants: what mutmut cannot reach (module-level settings, Terraform)
or what only real processes show (a killed pool child, two web servers, the
FIFO wire, racing sweepers or writers racing for a lock in a process of their
own).

Each mutant is a set of one-line edits applied to a copy of the project, and
the tests named with it must fail there. `python -m tests.support.mutants`
runs them all (or those named on the command line) and prints a table; it
exits 1 if any survived. `make mutation` runs it after mutmut.
"""

# ruff: noqa: E501 - the table below reads best one edit and one test a line

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import PROJECT_DIR

SETTINGS = "taskoverflow/settings.py"
FAULTS = "calendars/tests/test_faults.py"
SWEEP = "calendars/tests/test_sweep.py"
TASKS = "calendars/tests/test_tasks.py"
API = "calendars/tests/test_api.py"
STORAGE = "calendars/tests/test_storage.py"
BURST = f"{STORAGE}::test_a_burst_of_one_client_s_requests_on_postgresql_records_only_its_cap"
RELEASED_AS_REUSED = (
    f"{STORAGE}::test_a_calendar_released_as_a_job_reuses_it_on_postgresql_is_not_lost"
)
RELEASED_AS_BUILT = f"{STORAGE}::test_a_calendar_released_as_a_job_builds_it_again_on_postgresql_is_not_lost"
LOCK_SQL = '"SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"'
# Not copied: environments, caches, generated files, and mutmut's own copy.
NOT_COPIED = shutil.ignore_patterns(
    ".venv", ".git", "mutants", "__pycache__", ".pytest_cache", ".ruff_cache",
    "media", "var", "staticfiles", "db.sqlite3*",
)  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    edits: tuple[tuple[str, str], ...]  # (old, new): old occurs once in file
    tests: tuple[str, ...]  # each must fail with the mutant


MUTANTS = (
    Mutant(
        "REJECT_ON_WORKER_LOST = False",
        SETTINGS,
        (("REJECT_ON_WORKER_LOST = True", "REJECT_ON_WORKER_LOST = False"),),
        (f"{FAULTS}::test_a_killed_pool_child_s_job_is_delivered_again_by_the_broker",),
    ),
    Mutant(
        "ACKS_LATE = False",
        SETTINGS,
        (("CELERY_TASK_ACKS_LATE = True", "CELERY_TASK_ACKS_LATE = False"),),
        (f"{FAULTS}::test_a_killed_pool_child_s_job_is_delivered_again_by_the_broker",),
    ),
    Mutant(
        "prefetch 4",
        SETTINGS,
        (("CELERY_WORKER_PREFETCH_MULTIPLIER = 1", "CELERY_WORKER_PREFETCH_MULTIPLIER = 4"),),
        ("tests/test_settings.py::test_the_worker_holds_one_job_at_a_time_and_acknowledges_it_once_done",),
    ),
    Mutant(
        "retries never give up",
        "calendars/tasks.py",
        (
            ("max_retries=MAX_RETRIES)", "max_retries=None)"),
            ("retries >= MAX_RETRIES:", "retries >= 10**9:"),
        ),
        (f"{TASKS}::test_database_errors_are_retried_3_times_with_backoff_then_end_failure",),
    ),
    Mutant(
        "no FAILURE when retries run out",
        "calendars/tasks.py",
        (('_fail(export_id, f"The database did not answer: {error}")', "pass"),),
        (f"{TASKS}::test_database_errors_are_retried_3_times_with_backoff_then_end_failure",),
    ),
    Mutant(
        "soft-time-limit branch deleted",
        "calendars/tasks.py",
        (
            (
                "    except SoftTimeLimitExceeded:\n        _fail(export_id, "
                'f"Took longer than {settings.CELERY_TASK_SOFT_TIME_LIMIT} s.")\n'
                "        raise\n",
                "",
            ),
        ),
        (
            f"{TASKS}::test_a_job_past_its_soft_time_limit_ends_failure_saying_so",
            f"{FAULTS}::test_a_job_past_its_soft_time_limit_ends_failure_with_the_reason",
        ),
    ),
    Mutant(
        "sweeper never expiring",
        "calendars/sweeper.py",
        (("expire = time.monotonic() - last_expiry >= EXPIRY_EVERY_SECONDS", "expire = False"),),
        (
            f"{SWEEP}::test_the_loop_expires_on_its_first_pass_then_hourly_and_sweeps_every_interval",
            f"{FAULTS}::test_a_ready_worker_sweeps_at_once_and_then_every_interval",
        ),
    ),
    Mutant(
        "conditional claim removed",
        "calendars/jobs.py",
        (("pk=export.pk, status=export.status, updated_at=export.updated_at", "pk=export.pk"),),
        (f"{SWEEP}::test_concurrent_sweepers_on_postgresql_send_each_job_once",),
    ),
    Mutant(
        "claim not by primary key",
        "calendars/jobs.py",
        (("pk=export.pk, status=export.status, updated_at=export.updated_at", "status=export.status, updated_at=export.updated_at"),),
        (f"{SWEEP}::test_concurrent_sweepers_on_postgresql_send_each_job_once",),
    ),
    Mutant(
        "three missed beats -> two",
        "calendars/jobs.py",
        (("3 * settings.ICAL_HEARTBEAT_SECONDS", "2 * settings.ICAL_HEARTBEAT_SECONDS"),),
        (f"{SWEEP}::test_three_missed_beats_and_no_fewer_mean_the_worker_is_gone",),
    ),
    Mutant(
        "job throttle default 100000/min",
        SETTINGS,
        (('or "30/min"', 'or "100000/min"'),),
        (f"{API}::test_the_job_throttle_is_the_settings_default_of_30_a_minute",),
    ),
    Mutant(
        "NUM_PROXIES default 1",
        SETTINGS,
        (('env.int("NUM_PROXIES", default=0)', 'env.int("NUM_PROXIES", default=1)'),),
        (f"{API}::test_clients_behind_num_proxies_are_told_apart_by_x_forwarded_for",),
    ),
    Mutant(
        "NUM_PROXIES ignored (client is REMOTE_ADDR)",
        "api/throttling.py",
        (('BaseThrottle().get_ident(request) or ""', 'request.META.get("REMOTE_ADDR") or ""'),),
        (f"{API}::test_clients_behind_num_proxies_are_told_apart_by_x_forwarded_for",),
    ),
    Mutant(
        "throttle counts per process (CACHE_URL ignored)",
        SETTINGS,
        (('env.str("CACHE_URL", default="") or "locmemcache://"', '"locmemcache://"'),),
        ("tests/test_server.py::test_web_processes_sharing_a_redis_cache_share_each_client_s_count",),
    ),
    Mutant(
        "statements never prepared (psycopg's prepare_threshold None)",
        SETTINGS,
        (("server_side_binding=True, prepare_threshold=5", "server_side_binding=True, prepare_threshold=None"),),
        ("tests/test_settings.py::test_postgresql_prepares_statements_unless_told_not_to",),
    ),
    Mutant(
        "visibility timeout below the time limit",
        SETTINGS,
        (("_visibility_timeout = ICAL_TIME_LIMIT + 60", "_visibility_timeout = max(ICAL_TIME_LIMIT - 5, 1)"),),
        (
            "tests/test_settings.py::test_a_message_stays_hidden_longer_than_its_job_may_run",
            "tests/deployment/test_terraform.py::test_the_job_queue_is_encrypted_outlives_a_job_and_has_a_dead_letter_queue",
        ),
    ),
    Mutant(
        "Terraform's SQS visibility timeout below the time limit",
        "terraform/ecs.tf",
        (("ical_visibility_timeout = var.ical_time_limit + 60", "ical_visibility_timeout = var.ical_time_limit - 5"),),
        ("tests/deployment/test_terraform.py::test_the_job_queue_is_encrypted_outlives_a_job_and_has_a_dead_letter_queue",),
    ),
    Mutant(
        "window counted at build time",
        "calendars/jobs.py",
        (("requested_at=export.created_at", "requested_at=timezone.now()"),),
        ("calendars/tests/test_storage.py::test_a_calendar_holds_the_todos_as_the_worker_reads_them",),
    ),
    Mutant(
        "FIFO: one group for every job",
        "calendars/jobs.py",
        (('options["MessageGroupId"] = str(export.id)', 'options["MessageGroupId"] = "default"'),),
        ("calendars/tests/test_worker.py::test_on_the_fifo_wire_each_job_is_its_group_and_each_send_its_dedup_id",),
    ),
    Mutant(
        "FIFO: one deduplication id for every send",
        "calendars/jobs.py",
        (('f"{export.id}-{export.sends}"', "str(export.id)"),),
        ("calendars/tests/test_worker.py::test_on_the_fifo_wire_each_job_is_its_group_and_each_send_its_dedup_id",),
    ),
    # The advisory locks act on PostgreSQL only: mutmut's tests, on SQLite,
    # cannot tell them from no lock. Each is mutmut's mutant by its name.
    *(
        Mutant(f"_lock: {name}", "calendars/jobs.py", ((old, new),), (BURST,))
        for name, old, new in (
            ("x__lock__mutmut_2", 'vendor == "postgresql"', 'vendor == "XXpostgresqlXX"'),
            ("x__lock__mutmut_3", 'vendor == "postgresql"', 'vendor == "POSTGRESQL"'),
            ("x__lock_statement__mutmut_1", f"{LOCK_SQL}, (name,)", "None, (name,)"),
            ("x__lock_statement__mutmut_2", f"{LOCK_SQL}, (name,)", f"{LOCK_SQL}, None"),
            ("x__lock_statement__mutmut_3", f"{LOCK_SQL}, (name,)", "(name,)"),
            ("x__lock_statement__mutmut_4", f"{LOCK_SQL}, (name,)", f"{LOCK_SQL}, ()"),
            ("x__lock__mutmut_8", LOCK_SQL, f'"XX{LOCK_SQL[1:-1]}XX"'),
            ("x__lock__mutmut_10", LOCK_SQL, LOCK_SQL.upper()),
        )
    ),
    *(
        Mutant(f"no {lock} lock ({name})", "calendars/jobs.py", ((call, "_lock(None)"),), tests)
        for name, lock, call, tests in (
            ("x_calendar_export_create__mutmut_3", "client", '_lock(f"calendar client {client}")', (BURST,)),
            ("x__reuse__mutmut_1", "donor file", "_lock(donor.file.name)", (RELEASED_AS_REUSED,)),
        )
    ),
    Mutant(
        "no released file lock (x_calendar_file_release__mutmut_1)",
        "calendars/jobs.py",
        (("        _lock(name)\n        if CalendarExport", "        _lock(None)\n        if CalendarExport"),),
        (RELEASED_AS_REUSED, RELEASED_AS_BUILT),
    ),
    # The build's SUCCESS takes its file's lock in its UPDATE's statement.
    Mutant(
        "no stored file lock (the build's SUCCESS unlocked)",
        "calendars/jobs.py",
        (("                locking=True,\n", "                locking=False,\n"),),
        (RELEASED_AS_BUILT,),
    ),
    Mutant(
        "no stored file lock in SUCCESS's statement on PostgreSQL",
        "calendars/jobs.py",
        (("before = Before(*_lock_statement(name)) if lock else None", "before = None"),),
        (RELEASED_AS_BUILT,),
    ),
    Mutant(
        "a failed beat ends the heartbeat",
        "calendars/jobs.py",
        (("        connection.close()  # a broken connection is reopened by the next beat\n", "        raise\n"),),
        (f"{SWEEP}::test_a_failed_beat_is_logged_and_the_next_beats_go_on",),
    ),
)  # fmt: skip


def mutated_copy(mutant: Mutant, folder: Path) -> Path:
    """The project copied into `folder` with the mutant's edits made."""
    copy = folder / "project"
    shutil.copytree(PROJECT_DIR, copy, ignore=NOT_COPIED)
    path = copy / mutant.file
    text = path.read_text()
    for old, new in mutant.edits:
        if text.count(old) != 1:
            raise ValueError(f"{mutant.name}: {old!r} is not in {mutant.file} once")
        text = text.replace(old, new)
    path.write_text(text)
    return copy


def killed_by(mutant: Mutant, test: str, copy: Path) -> bool:
    """Whether `test` fails (rather than passes or is not found) on `copy`."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode not in (0, 1):  # 1: a test failed; else it did not run
        raise RuntimeError(f"{mutant.name}: {test} did not run:\n{result.stdout}")
    return result.returncode == 1


def main(names: list[str]) -> int:
    chosen = [m for m in MUTANTS if not names or m.name in names]
    survived = 0
    for mutant in chosen:
        with tempfile.TemporaryDirectory(prefix="mutant-") as folder:
            copy = mutated_copy(mutant, Path(folder))
            for test in mutant.tests:
                started = time.monotonic()
                killed = killed_by(mutant, test, copy)
                survived += not killed
                verdict = "killed" if killed else "SURVIVED"
                seconds = time.monotonic() - started
                print(f"{verdict:8} {seconds:6.1f} s  {mutant.name}  <- {test}")
    print(f"{len(chosen)} hand mutants, {survived} survivals")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
