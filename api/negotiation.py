"""Content negotiation that names what it cannot offer."""

from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation


class FormatNegotiation(DefaultContentNegotiation):
    """DRF's negotiation; an unknown `?format=` is a 404 that says so."""

    def select_renderer(self, request, renderers, format_suffix=None):
        # Most requests take anything (no Accept, or */*) and name no format:
        # DRF's search then ends at the first renderer and its media type. Said
        # outright, it costs nothing; DRF's parse of the header was 6% of a
        # todo read's CPU (docs/benchmarks.md).
        takes_anything = request.META.get("HTTP_ACCEPT", "*/*") == "*/*"
        names_format = bool(format_suffix) or (
            self.settings.URL_FORMAT_OVERRIDE in request.query_params
        )
        if takes_anything and not names_format:
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        known = [renderer for renderer in renderers if renderer.format == format]
        if not known:
            offered = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise NotFound(f"No format {format!r} here; ask for one of: {offered}.")
        return known
