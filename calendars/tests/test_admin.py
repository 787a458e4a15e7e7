import pytest
from django_celery_results.models import TaskResult

from calendars.models import CalendarExport

pytestmark = pytest.mark.django_db


def test_jobs_are_listed_with_their_state_and_cannot_be_added_by_hand(admin_client):
    export = CalendarExport.objects.create(status="FAILURE", error="ValueError: x")

    listing = admin_client.get("/admin/calendars/calendarexport/")
    detail = admin_client.get(f"/admin/calendars/calendarexport/{export.pk}/change/")

    assert listing.status_code == 200 and str(export.pk) in listing.content.decode()
    assert detail.status_code == 200 and "ValueError: x" in detail.content.decode()
    assert admin_client.get("/admin/calendars/calendarexport/add/").status_code == 403


def test_celery_task_results_show_in_the_admin(admin_client):
    TaskResult.objects.create(task_id="abc", task_name="ical", status="SUCCESS")
    listing = admin_client.get("/admin/django_celery_results/taskresult/")
    assert listing.status_code == 200 and "abc" in listing.content.decode()
