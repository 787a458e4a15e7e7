"""Calendar jobs under /api/v1/todos/ical: queue one, poll it, download it."""

import uuid

from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import reverse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_etags
from django.views.decorators.http import require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, Throttled
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.owners import request_owner
from api.paths import path_of
from api.schema import ERRORS, WRITE_ERRORS, ErrorSerializer
from api.throttling import CalendarJobThrottle, client_key
from calendars.feeds import (
    calendar_feed_by_secret,
    calendar_feed_of,
    calendar_feed_rotate,
)
from calendars.jobs import TooManyWaiting, calendar_export_create
from calendars.models import CalendarExport, CalendarFeed
from calendars.selectors import calendar_export_get, calendar_export_status
from calendars.serializers import (
    CalendarExportCreatedSerializer,
    CalendarExportFailedSerializer,
    CalendarExportRequestSerializer,
    CalendarExportStatusSerializer,
    CalendarFeedSerializer,
)
from calendars.storage import calendar_file_open, calendar_file_url
from todos.serializers import FILTER_PARAMETERS

Status = CalendarExport.Status
# Read size of the file when it is not handed to the server's sendfile.
STREAM_BLOCK_BYTES = 64 * 1024


def _export_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise NotFound(f"No calendar job {task_id!r}: not a job id.") from None


def _export_or_404(request: Request, task_id: str) -> CalendarExport:
    # Another user's job answers as one that does not exist: never confirm it.
    export = calendar_export_get(
        export_id=_export_id(task_id), owner=request_owner(request)
    )
    if export is None:
        raise NotFound(f"No calendar job {task_id}.")
    return export


def _url(request: Request, name: str, export_id: uuid.UUID) -> str:
    return request.build_absolute_uri(
        path_of(f"calendars:{name}", "task_id", export_id)
    )


class CalendarExportCreateView(APIView):
    throttle_classes = [CalendarJobThrottle]

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        request=CalendarExportRequestSerializer,
        responses={202: CalendarExportCreatedSerializer, **WRITE_ERRORS},
    )
    def post(self, request: Request) -> Response:
        """Queue a calendar of the todos; answers at once with where to poll.

        The filters `completed` and `window` mean what they mean for
        GET /api/v1/todos, in the query string or a JSON body. A client may
        have ICAL_MAX_QUEUED_PER_CLIENT jobs unfinished at once (429 past it).
        """
        filters = CalendarExportRequestSerializer(
            data={**request.query_params.dict(), **request.data}
        )
        filters.is_valid(raise_exception=True)
        try:
            export = calendar_export_create(
                **filters.validated_data,
                client=client_key(request),
                owner=request_owner(request),
            )
        except TooManyWaiting as waiting:
            raise Throttled(detail=str(waiting)) from None
        if export.status == Status.FAILURE:
            return Response(
                {"error": export.error, "task_id": str(export.id)},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        task_url = _url(request, "status", export.id)
        return Response(
            {"task_id": str(export.id), "task_url": task_url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": task_url},
        )


class CalendarExportStatusView(APIView):
    @extend_schema(responses={200: CalendarExportStatusSerializer, **ERRORS})
    def get(self, request: Request, task_id: str) -> Response:
        """Where a job stands: PENDING, STARTED, RETRY, SUCCESS or FAILURE."""
        export_id = _export_id(task_id)
        # Another user's job answers as one that does not exist: never confirm it.
        task_status = calendar_export_status(
            export_id=export_id, owner=request_owner(request)
        )
        if task_status is None:
            raise NotFound(f"No calendar job {task_id}.")
        return Response(
            {
                "task_id": str(export_id),
                "task_status": task_status,
                "result_url": _url(request, "result", export_id),
            }
        )


class CalendarExportResultView(APIView):
    @extend_schema(
        responses={
            (200, "text/calendar"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The calendar, as todos.ics, streamed, with "
                "Content-Length and a strong ETag.",
            ),
            302: OpenApiResponse(
                description="Where calendars are kept in S3: a redirect to a "
                "URL that downloads it from the bucket for "
                "ICAL_DOWNLOAD_URL_SECONDS, with the ETag."
            ),
            304: OpenApiResponse(
                description="If-None-Match named the calendar's ETag: the copy "
                "the client has is current."
            ),
            404: OpenApiResponse(
                CalendarExportFailedSerializer,
                description='Not finished: {"error": "Task not finished"}. '
                'Failed: {"error": "Task failed", "detail": "<reason>"}. '
                "Or no such job.",
            ),
            **{code: ErrorSerializer for code in (405, 406, 503)},
        }
    )
    def get(self, request: Request, task_id: str):
        """The calendar of a finished job, streamed from storage (sendfile: no
        thread copies it), or on S3 a redirect to a short-lived URL of it.

        It never changes once built, so its ETag is the SHA-256 taken while it
        was written; a request whose If-None-Match names it gets 304.
        """
        export = _export_or_404(request, task_id)
        if export.status == Status.FAILURE:
            return Response(
                {"error": "Task failed", "detail": export.error},
                status=status.HTTP_404_NOT_FOUND,
            )
        if export.status != Status.SUCCESS:
            return Response(
                {"error": "Task not finished"}, status=status.HTTP_404_NOT_FOUND
            )
        etag = export.etag
        if _none_match(request, etag):
            not_modified = HttpResponseNotModified()
            not_modified["ETag"] = etag
            not_modified["Cache-Control"] = "no-cache"
            return not_modified
        url = calendar_file_url(export.file.name, filename="todos.ics")
        if url is not None:
            redirect = HttpResponseRedirect(url)
            redirect["ETag"] = etag
            redirect["Cache-Control"] = "no-store"  # the URL expires
            return redirect
        try:
            calendar = calendar_file_open(export.file.name)
        except FileNotFoundError:
            raise NotFound("The calendar of this job is no longer stored.") from None
        response = FileResponse(
            calendar,
            as_attachment=True,
            filename="todos.ics",
            content_type="text/calendar; charset=utf-8",
        )
        response.block_size = STREAM_BLOCK_BYTES
        response["ETag"] = etag
        # Keep a copy, but ask each time whether it is still current.
        response["Cache-Control"] = "no-cache"
        return response


def _none_match(request: Request, etag: str) -> bool:
    """Whether If-None-Match names `etag` (weak comparison, RFC 9110 13.1.2)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    named = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return "*" in named or etag in named


# --- The calendar feed -------------------------------------------------------------


def _feed_answer(request: Request, feed: CalendarFeed) -> Response:
    url = request.build_absolute_uri(
        reverse("feeds:file", kwargs={"secret": feed.secret})
    )
    return Response({"url": url, "webcal": "webcal://" + url.split("://", 1)[1]})


def _owner_id(request: Request) -> int | None:
    owner = request_owner(request)
    return None if owner is None else owner.pk


class CalendarFeedView(APIView):
    @extend_schema(responses={200: CalendarFeedSerializer, **ERRORS})
    def get(self, request: Request) -> Response:
        """Your calendar feed's secret URL, for calendar apps to subscribe to
        (no login needed: keep it to yourself, or rotate it)."""
        return _feed_answer(request, calendar_feed_of(owner_id=_owner_id(request)))


class CalendarFeedRotateView(APIView):
    @extend_schema(
        request=None, responses={200: CalendarFeedSerializer, **WRITE_ERRORS}
    )
    def post(self, request: Request) -> Response:
        """A new secret URL for your feed; the old one answers 404 at once."""
        return _feed_answer(request, calendar_feed_rotate(owner_id=_owner_id(request)))


def _with_headers(response: HttpResponse, headers: dict[str, str]) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    return response


@require_safe
def calendar_feed_file(request: HttpRequest, secret: str) -> HttpResponse:
    """The feed's last built calendar, for calendar apps (no login: the secret
    URL is the key). Conditional requests get 304; before the first build, 503
    with Retry-After."""
    for _ in range(2):  # a build may swap the file between the read and the open
        feed = calendar_feed_by_secret(secret)
        if feed is None:
            return JsonResponse(
                {"error": "No calendar feed at this URL; it may have been rotated."},
                status=status.HTTP_404_NOT_FOUND,
            )
        if not feed.file:
            break
        headers = {
            "ETag": feed.etag,
            "Last-Modified": http_date(feed.built_at.timestamp()),
            # Calendar apps poll; a copy is kept but checked each time, by a
            # cheap conditional request. Private: the URL is a secret.
            "Cache-Control": "private, no-cache",
        }
        not_modified = get_conditional_response(
            request, etag=feed.etag, last_modified=int(feed.built_at.timestamp())
        )
        if not_modified is not None:
            return _with_headers(not_modified, headers)
        try:
            calendar = calendar_file_open(feed.file)
        except FileNotFoundError:
            continue
        response = FileResponse(
            calendar, filename="todos.ics", content_type="text/calendar; charset=utf-8"
        )
        response.block_size = STREAM_BLOCK_BYTES
        return _with_headers(response, headers)
    return JsonResponse(
        {"error": "The calendar is being built; try again in a few seconds."},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "2"},
    )
