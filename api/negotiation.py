"""Content negotiation that names what it cannot offer."""

from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation


class FormatNegotiation(DefaultContentNegotiation):
    """DRF's negotiation; an unknown `?format=` is a 404 that says so."""

    def filter_renderers(self, renderers, format):
        known = [renderer for renderer in renderers if renderer.format == format]
        if not known:
            offered = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise NotFound(f"No format {format!r} here; ask for one of: {offered}.")
        return known
