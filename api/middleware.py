"""Django's message middleware, with each request's message store made only
when something uses it."""

from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


class LazyMessageMiddleware(MessageMiddleware):
    """Messages are for the page and the admin; the API never shows one. Yet
    Django's middleware makes a store for every request, and the store's
    cookie signer with it: a twentieth of a job status poll's CPU
    (docs/benchmarks.md). Here the store is made on first use, and a request
    that never used it has nothing to save."""

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(lambda: default_storage(request))

    def process_response(
        self, request: HttpRequest, response: HttpResponse
    ) -> HttpResponse:
        messages = getattr(request, "_messages", None)
        if isinstance(messages, SimpleLazyObject) and messages._wrapped is empty:
            return response
        return super().process_response(request, response)
