"""Personal access tokens: made on the API and by createtoken, stored hashed,
revocable, expiring; sent as Bearer or Token."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import PersonalToken
from accounts.tests.conftest import client_with

pytestmark = pytest.mark.django_db


def test_a_token_made_through_the_api_works_until_revoked(as_alice):
    made = as_alice.post("/api/v1/tokens", {"name": "laptop"}, format="json")
    assert made.status_code == 201
    token = made.json()
    assert token["name"] == "laptop" and token["expires_at"] is None
    listed = as_alice.get("/api/v1/tokens").json()
    assert [t["name"] for t in listed] == ["tests", "laptop"]
    assert all("token" not in t for t in listed)  # shown once only
    laptop = client_with(token["token"])
    assert laptop.get("/api/v1/todos").status_code == 200
    assert client_with(token["token"], "Token").get("/api/v1/todos").status_code == 200
    assert as_alice.delete(f"/api/v1/tokens/{token['id']}").status_code == 204
    assert laptop.get("/api/v1/todos").status_code == 401
    assert as_alice.delete(f"/api/v1/tokens/{token['id']}").status_code == 404


def test_tokens_are_stored_hashed(as_alice):
    text = as_alice.post("/api/v1/tokens", {"name": "x"}, format="json").json()["token"]
    row = PersonalToken.objects.get(name="x")
    stored = [str(getattr(row, f.attname)) for f in PersonalToken._meta.fields]
    assert not any(text in value for value in stored)
    assert len(row.digest) == 128  # SHA-512


def test_a_token_with_an_expiry_stops_working_after_it(as_alice):
    made = as_alice.post(
        "/api/v1/tokens", {"name": "week", "expires_in_days": 7}, format="json"
    ).json()
    expires = timezone.now() + timedelta(days=7)
    assert made["expires_at"][:10] == expires.strftime("%Y-%m-%d")
    PersonalToken.objects.filter(public_id=made["id"]).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    response = client_with(made["token"]).get("/api/v1/todos")
    assert response.status_code == 401
    assert not PersonalToken.objects.filter(public_id=made["id"]).exists()


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": 5}, {"name": "x", "expires_in_days": 0}]
)
def test_a_token_request_must_name_it(as_alice, body):
    response = as_alice.post("/api/v1/tokens", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]


def test_createtoken_prints_a_working_token_as_its_last_line(required, alice):
    out, err = io.StringIO(), io.StringIO()
    call_command("createtoken", "alice", "--name", "script", stdout=out, stderr=err)
    token = out.getvalue().strip().splitlines()[-1]
    assert client_with(token).get("/api/v1/todos").status_code == 200
    assert PersonalToken.objects.get(user=alice).name == "script"


def test_createtoken_names_an_unknown_user(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No user 'nobody'"):
        call_command("createtoken", "nobody", "--name", "x")


def test_a_bad_authorization_header_is_401_json(required):
    for header in ["Bearer", "Bearer a b", "Bearer nope", "Token nope", "Bearer ÿé"]:
        client = client_with(None)
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/v1/todos")
        assert response.status_code == 401, header
        assert response.json()["error"]


def test_open_mode_ignores_tokens_and_has_none_to_manage(alice):
    _, text = PersonalToken.objects.create(alice, expiry=None, name="x")
    client = client_with(text)
    assert client.get("/api/v1/todos").status_code == 200
    assert client.get("/api/v1/tokens").status_code == 403


def test_the_schema_declares_the_token_scheme(api):
    schema = api.get("/api/v1/schema?format=json").json()
    assert schema["components"]["securitySchemes"]["PersonalToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["PersonalToken"][
            "description"
        ],
    }
    operation = schema["paths"]["/api/v1/todos/"]["get"]
    assert {"PersonalToken": []} in operation["security"]
