"""Writes refused when a browser says they come from another site."""

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.http import is_same_domain
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request


class NotCrossSite(BasePermission):
    """A page on another site can make a visitor's browser send a form or a
    no-cors fetch here, without reading the answer; the browser says so in
    `Origin` and `Sec-Fetch-Site`. Programs (curl, scripts) send neither and
    pass; the API takes no cookies, so this is what CSRF protection is here.
    """

    message = "Refused a cross-site write."

    def has_permission(self, request: Request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        reason = cross_site_reason(request)
        if reason is not None:
            self.message = reason
        return reason is None


def cross_site_reason(request: Request) -> str | None:
    """Why this write is refused as cross-site, or None when it is not."""
    # From META: request.headers would first copy every header of the request.
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        if origin == f"{request.scheme}://{request.get_host()}" or _trusted(origin):
            return None
        return (
            f"Refused a cross-site write from the origin {origin}: it is neither "
            "this site nor one of CSRF_TRUSTED_ORIGINS."
        )
    if request.META.get("HTTP_SEC_FETCH_SITE") == "cross-site":
        return (
            "Refused a cross-site write: the browser marked it "
            "Sec-Fetch-Site: cross-site."
        )
    return None


def _trusted(origin: str) -> bool:
    """In CSRF_TRUSTED_ORIGINS, as Django's CSRF check reads them: exact, or a
    scheme and `*.domain` for its subdomains."""
    trusted = settings.CSRF_TRUSTED_ORIGINS
    if origin in trusted:
        return True
    asked = urlsplit(origin)
    return any(
        urlsplit(pattern).scheme == asked.scheme
        and is_same_domain(asked.netloc, urlsplit(pattern).netloc.lstrip("*"))
        for pattern in trusted
        if "*" in pattern
    )


class SignedInWhenRequired(BasePermission):
    """With ACCOUNTS=required, only a signed-in user (a token or the page's
    session); with ACCOUNTS=open, anyone."""

    def has_permission(self, request: Request, view) -> bool:
        if settings.ACCOUNTS != "required":
            return True
        return bool(request.user and request.user.is_authenticated)
