"""Who a client is, and how many writes it may make: counted in the cache
(CACHE_URL; shared by every process when it is Redis)."""

import hashlib
import hmac
import ipaddress
import math
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_ident(request: Request) -> str:
    """A signed-in user, as `user:<pk>` (counted wherever they connect from);
    anyone else by address, as DRF names it (REMOTE_ADDR, or the address the
    NUM_PROXIES proxies in front name). An IPv6 client counts by its /64,
    which a single subscriber usually holds whole."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return _client_address(BaseThrottle().get_ident(request) or "")


# Every counted request names its client; the same few addresses come again
# and again, and parsing one is most of the cost of naming it.
@lru_cache(maxsize=4096)
def _client_address(address: str) -> str:
    """The address a client is counted by: itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 4:
        return str(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is that IPv4 client
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def client_key(request: Request) -> str:
    """A stable pseudonym of the client, to store with what it asked for:
    rows keep no address."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), client_ident(request).encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]


def parse_rate(rate: str) -> tuple[int, int]:
    """ "30/min" -> (30, 60): requests, and the period in seconds."""
    count, period = rate.split("/")
    return int(count), PERIODS[period[0]]


class ClientRateThrottle(BaseThrottle):
    """At most N requests per period from one client, the rate read from the
    setting `rate_setting` ("N/second|minute|hour|day").

    A fixed window, counted with the cache's atomic increment: threads and
    processes that share the cache never let a burst slip through between a
    read and a write of the count (DRF's throttles keep a list of times,
    read and written back whole).
    """

    scope = ""
    rate_setting = ""
    methods: frozenset[str] | None = None  # only these count; None: every method
    timer = staticmethod(time.time)

    def allow_request(self, request: Request, view) -> bool:
        if self.methods is not None and request.method not in self.methods:
            return True
        limit, period = parse_rate(getattr(settings, self.rate_setting))
        now = self.timer()
        window = int(now // period)
        key = f"throttle:{self.scope}:{client_ident(request)}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=period + 1)
            count = 1
        self.seconds_left = math.ceil((window + 1) * period - now)
        return count <= limit

    def wait(self) -> int:
        return self.seconds_left


class TodoWriteThrottle(ClientRateThrottle):
    """Creating, changing and deleting todos: TODO_WRITE_RATE_LIMIT."""

    scope = "todo_writes"
    rate_setting = "TODO_WRITE_RATE_LIMIT"
    methods = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CalendarJobThrottle(ClientRateThrottle):
    """Asking for calendars: ICAL_RATE_LIMIT."""

    scope = "calendar_jobs"
    rate_setting = "ICAL_RATE_LIMIT"
