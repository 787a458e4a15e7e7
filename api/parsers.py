from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class StrictJSONParser(JSONParser):
    """JSON bodies that are objects, of bounded size, and never crash the parser."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        limit = settings.API_MAX_BODY_BYTES
        if request is not None and _content_length(request.META) > limit:
            raise RequestTooLarge(f"The request body is over {limit} bytes.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json.loads recurses per nesting level; thousands of "[" exhaust it.
            raise exceptions.ParseError(
                "JSON parse error - nested too deeply"
            ) from None
        if not isinstance(data, dict):
            raise exceptions.ParseError(
                f"The request body must be a JSON object, not {_json_type(data)}."
            )
        return data


def _content_length(meta) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _json_type(value) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
