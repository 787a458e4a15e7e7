"""How the tests talk to the API in-process, and what every error must look like."""

import json

API = "/api/v1"


def send(api, method: str, path: str, body, content_type="application/json"):
    """Send a body as given: dicts become JSON, strings and bytes go as they are."""
    data = json.dumps(body) if isinstance(body, dict | list) else body
    return api.generic(method, f"{API}{path}", data=data, content_type=content_type)


def assert_error(response, status: int, *words: str) -> None:
    """A JSON error with the status, whose "error" text names each word."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    for word in words:
        assert word in body["error"], body["error"]
