from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.services import personal_token_create


@pytest.fixture
def required(settings):
    """ACCOUNTS=required, as the deployments run."""
    settings.ACCOUNTS = "required"


@pytest.fixture
def make_user(db):
    def make(username: str):
        return get_user_model().objects.create_user(username, password="pw-" * 4)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def client_with(token: str | None, keyword: str = "Bearer") -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"{keyword} {token}")
    return client


@pytest.fixture
def as_alice(required, alice) -> APIClient:
    _, token = personal_token_create(user=alice, name="tests")
    return client_with(token)


@pytest.fixture
def as_bob(required, bob) -> APIClient:
    _, token = personal_token_create(user=bob, name="tests")
    return client_with(token)


@pytest.fixture
def revoked_token(required, alice) -> APIClient:
    token, text = personal_token_create(user=alice, name="revoked")
    token.delete()
    return client_with(text)


@pytest.fixture
def expired_token(required, alice) -> APIClient:
    token, text = personal_token_create(user=alice, name="expired")
    type(token).objects.filter(pk=token.pk).update(expiry=token.created - timedelta(1))
    return client_with(text)
