"""Touches on the generated OpenAPI schema that drf-spectacular cannot infer."""

from typing import Any


def forbid_unknown_request_fields(result: dict[str, Any], **kwargs: Any):
    """Request bodies accept only their declared fields; say so in the schema."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result
