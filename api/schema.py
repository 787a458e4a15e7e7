"""What every endpoint's OpenAPI description shares, and the touches on the
generated schema that drf-spectacular cannot infer."""

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "error": serializers.CharField(
            help_text="What was wrong, naming the field where there is one."
        )
    },
)
# The errors any endpoint may answer (api.errors shapes them all alike); 401
# to anyone not signed in with ACCOUNTS=required.
ERRORS = {code: ErrorSerializer for code in (400, 401, 404, 405, 406, 413, 415, 503)}
# And a write's: refused as cross-site (403), over the client's rate (429), its
# body arriving too slowly (408).
WRITE_ERRORS = ERRORS | {code: ErrorSerializer for code in (403, 408, 429)}


def forbid_unknown_request_fields(result: dict[str, Any], **kwargs: Any):
    """Request bodies accept only their declared fields; say so in the schema."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
