"""The path of an object's view, as reverse() gives it, without reversing the
view's URL pattern for every request.

reverse() walks the URL patterns and their namespaces each time: for a job's
status poll, making its two URLs took a tenth of the request's CPU
(docs/benchmarks.md). The path around a view's one argument is the same for
every object, so it is reversed once per view and script prefix, with a
stand-in value, and the object's id is put in its place.
"""

from functools import lru_cache
from uuid import UUID

from django.urls import get_script_prefix, reverse

# Matches any pattern an id is put in here ([0-9]{1,18} or [^/]+), and shows
# nowhere else in a path.
STAND_IN = "987654321098765432"


def path_of(viewname: str, argument: str, value: int | UUID) -> str:
    """reverse(viewname, kwargs={argument: value}) for a view whose URL takes
    one argument; the value an id (a number or a UUID, which need no quoting)."""
    before, after = _around_argument(get_script_prefix(), viewname, argument)
    return f"{before}{value}{after}"


@lru_cache(maxsize=64)
def _around_argument(script_prefix: str, viewname: str, argument: str):
    path = reverse(viewname, kwargs={argument: STAND_IN})
    before, _, after = path.rpartition(STAND_IN)
    return before, after
