"""Every API error is JSON with an "error" key that names the field and the fault."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse, UnreadablePostError
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."
BODY_UNREADABLE = "The request body did not arrive whole: the client stopped sending."


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped to {"error": "<sentence>", ...}."""
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"error": DATABASE_UNAVAILABLE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, UnreadablePostError):
        # A client that went quiet mid-body (the server's socket timeout) or
        # went away: its fault, not ours, and never a 500.
        return Response(
            {"error": BODY_UNREADABLE}, status=status.HTTP_408_REQUEST_TIMEOUT
        )
    # Django's own 404 and 403 as DRF's, so that they carry a `detail` too
    # (DRF's content negotiation raises Http404 for an unknown ?format=).
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a bug, which Django logs and answers 500
    request = context.get("request")
    if request is not None and not getattr(request, "accepted_renderer", None):
        # Content negotiation itself failed (an unknown ?format=, an Accept no
        # renderer offers): DRF would answer in the view's first renderer,
        # YAML for the schema. Errors are JSON.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": validation_error_sentence(exc.detail),
            "fields": exc.detail,
        }
    else:
        response.data = {"error": validation_error_sentence(exc.detail)}
    return response


def validation_error_sentence(detail: Any) -> str:
    """Flatten DRF's {"field": ["message"]} into "field: message; other: message"."""
    if isinstance(detail, dict):
        parts = []
        for field, messages in detail.items():
            text = validation_error_sentence(messages)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(validation_error_sentence(item) for item in detail)
    return str(detail)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # any method may reach it; the API itself takes no cookies
def not_found(request: HttpRequest, exception: Exception | None = None, **kwargs):
    """404: JSON under the API (a catch-all route sends its unknown URLs here)."""
    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(
        {"error": f"Nothing at {request.path}."}, status=status.HTTP_404_NOT_FOUND
    )


def bad_request(request: HttpRequest, exception: Exception | None = None):
    """400 that Django raises itself, such as a Host header not in ALLOWED_HOSTS."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"error": "Bad request."}, status=status.HTTP_400_BAD_REQUEST)


def csrf_failure(request: HttpRequest, reason: str = ""):
    if not _is_api(request):
        return csrf.csrf_failure(request, reason)
    return JsonResponse(
        {"error": f"CSRF check failed: {reason}"}, status=status.HTTP_403_FORBIDDEN
    )


def server_error(request: HttpRequest):
    if not _is_api(request):
        return defaults.server_error(request)
    return JsonResponse(
        {"error": "Internal server error."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
