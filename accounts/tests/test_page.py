"""The page with ACCOUNTS=required: Django's login and logout, sign-up when on,
and CSRF on for the session."""

import pytest
from django.test import Client

from api.throttling import client_ident

pytestmark = pytest.mark.django_db


def test_the_page_sends_strangers_to_the_login(required, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"
    assert client.get("/accounts/login/").status_code == 200


def test_open_mode_shows_the_page_to_anyone(client):
    assert client.get("/").status_code == 200


def test_after_login_the_page_and_the_api_work_with_csrf(required, alice):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/accounts/login/")
    csrf = page.cookies["csrftoken"].value
    login = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "pw-" * 4, "csrfmiddlewaretoken": csrf},
    )
    assert login.status_code == 302
    assert client.get("/").status_code == 200
    refused = client.post(
        "/api/v1/todos", {"title": "x"}, content_type="application/json"
    )
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["error"]
    csrf = client.cookies["csrftoken"].value
    made = client.post(
        "/api/v1/todos",
        {"title": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert made.status_code == 201
    assert (
        client.post("/accounts/logout/", headers={"X-CSRFToken": csrf}).status_code
        == 302
    )
    assert client.get("/api/v1/todos").status_code == 401


def test_sign_up_is_off_unless_asked_for(required, client, settings):
    assert client.get("/accounts/signup/").status_code == 404
    settings.ACCOUNTS_SIGNUP = True
    made = client.post(
        "/accounts/signup/",
        {
            "username": "carol",
            "password1": "a-long-pass-9",
            "password2": "a-long-pass-9",
        },
    )
    assert made.status_code == 302
    assert client.get("/").status_code == 200


def test_throttles_count_a_signed_in_user_by_account(rf, alice):
    request = rf.get("/")
    request.user = alice
    assert client_ident(request) == f"user:{alice.pk}"
