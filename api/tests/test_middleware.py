"""Messages still work where they are used, and cost nothing where they are not."""

from django.contrib import messages
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.functional import empty

from api.middleware import LazyMessageMiddleware


def run(view, cookies: dict[str, str] | None = None):
    """A request through the middleware to `view`; the request and response."""
    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    request.session = {}  # what SessionMiddleware gives the session storage
    response = LazyMessageMiddleware(lambda request: view(request))(request)
    return request, response


def test_a_request_that_uses_no_message_makes_no_store():
    request, response = run(lambda request: HttpResponse("ok"))

    assert request._messages._wrapped is empty  # never made
    assert "messages" not in response.cookies


def test_a_message_added_is_stored_and_shown_on_the_next_request():
    def add(request):
        messages.success(request, "Saved.")
        return HttpResponse("ok")

    _, response = run(add)
    assert response.cookies["messages"].value  # kept for the next request

    shown = []

    def show(request):
        shown.extend(str(message) for message in messages.get_messages(request))
        return HttpResponse("ok")

    run(show, cookies={"messages": response.cookies["messages"].value})
    assert shown == ["Saved."]
