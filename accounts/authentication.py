"""Who sends a request: a personal access token, or the page's session. With
ACCOUNTS=open neither is read, and the API stays as open as the course's
clients expect (no cookies, hence no CSRF tokens needed)."""

from django.contrib.auth.models import AnonymousUser
from knox.auth import TokenAuthentication
from rest_framework.authentication import (
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.modes import accounts_required

# Both words RFC 6750 and DRF's own tokens use.
TOKEN_KEYWORDS = (b"bearer", b"token")


class PersonalTokenAuthentication(TokenAuthentication):
    """`Authorization: Bearer <token>`, or `Token <token>`: knox's check of the
    digest, expiry and an active user."""

    def authenticate(self, request: Request):
        if not accounts_required():
            # Everyone is the anonymous user, accepted as such: DRF would
            # otherwise turn every refusal (a cross-site write) into "not
            # signed in".
            return (AnonymousUser(), None)
        words = get_authorization_header(request).split()
        if not words or words[0].lower() not in TOKEN_KEYWORDS:
            return None
        if len(words) != 2:
            # knox's own messages for a missing or spaced token.
            return super().authenticate(request)
        if not words[1].isascii():
            # knox would fail to decode it and answer 500: tokens are ASCII.
            raise AuthenticationFailed("Invalid token.")
        return self.authenticate_credentials(words[1])

    def authenticate_header(self, request: Request) -> str:
        # Being first, this makes DRF answer 401 (not 403) to anyone not
        # signed in, with a WWW-Authenticate that says what to send.
        return 'Bearer realm="api"'


class PageSessionAuthentication(SessionAuthentication):
    """The page's session, with Django's CSRF check (DRF's); only when accounts
    are required."""

    def authenticate(self, request: Request):
        if not accounts_required():
            return None
        return super().authenticate(request)
