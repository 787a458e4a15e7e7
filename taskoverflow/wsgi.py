"""The WSGI entry point: Django's application behind a guard on request bodies.

gunicorn runs `taskoverflow.wsgi:application` (taskoverflow/gunicorn_conf.py).
The guard answers before Django reads anything:

- a body over API_MAX_BODY_BYTES: 413, whatever the URL (Django itself would
  answer 400 past its own DATA_UPLOAD_MAX_MEMORY_SIZE, and only once read);
- a chunked body (Transfer-Encoding: chunked, no Content-Length): read here,
  up to the limit, and handed on with its length, since Django reads no more
  than Content-Length says and would see an empty body; a server that does not
  promise to end the stream (`wsgi.input_terminated`) gets 411 instead.
"""

import io
import json
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskoverflow.settings")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def bounded_bodies(app: WSGIApp) -> WSGIApp:
    def guard(environ: dict, start_response: Callable) -> Iterable[bytes]:
        limit = settings.API_MAX_BODY_BYTES
        too_large = f"The request body is over {limit} bytes."
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            if not environ.get("wsgi.input_terminated"):
                return _refuse(start_response, 411, "Send the body with its length.")
            try:
                body = environ["wsgi.input"].read(limit + 1)
            except OSError:  # the client went quiet mid-body, or away
                return _refuse(
                    start_response, 408, "The request body did not arrive whole."
                )
            if len(body) > limit:
                return _refuse(start_response, 413, too_large)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        elif _content_length(environ) > limit:
            return _refuse(start_response, 413, too_large)
        return app(environ, start_response)

    return guard


def _content_length(environ: dict) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _refuse(start_response: Callable, status: int, error: str) -> list[bytes]:
    reasons = {408: "Request Timeout", 411: "Length Required", 413: "Content Too Large"}
    body = json.dumps({"error": error}).encode()
    start_response(
        f"{status} {reasons[status]}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


application = bounded_bodies(get_wsgi_application())
