"""Who a client is, and the count kept of it (api/throttling.py)."""

import time

import pytest
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.throttling import ClientRateThrottle, client_ident, client_key


def request_from(address: str) -> Request:
    return Request(APIRequestFactory().post("/", REMOTE_ADDR=address))


@pytest.mark.parametrize(
    "address, ident",
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # that IPv4 client, mapped
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # a subscriber's /64
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ],
)
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(address, ident):
    assert client_ident(request_from(address)) == ident


def test_a_client_s_key_is_a_32_character_pseudonym():
    key = client_key(request_from("203.0.113.7"))
    assert len(key) == 32 and "203" not in key
    assert key == client_key(request_from("203.0.113.7"))


class OnePerMinute(ClientRateThrottle):
    scope = "test"
    rate_setting = "TEST_RATE"


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """One clock for the throttle and the cache's expiry, at a window's start;
    a test moves it on."""
    now = [6e8 * 60.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(OnePerMinute, "timer", staticmethod(lambda: now[0]))
    return now


def test_a_count_that_expired_between_add_and_increment_starts_again_at_1(
    settings, monkeypatch, clock
):
    """The cache may drop the key between add() and incr(): this request is
    then the window's first, and later ones in the window still count."""
    settings.TEST_RATE = "1/min"
    real_incr = cache.incr
    dropped = []

    def incr_after_a_drop(key, *args, **kwargs):
        if not dropped:
            dropped.append(key)
            cache.delete(key)
        return real_incr(key, *args, **kwargs)

    monkeypatch.setattr(cache, "incr", incr_after_a_drop)
    request = request_from("203.0.113.7")

    assert OnePerMinute().allow_request(request, None) is True
    assert cache.get(dropped[0]) == 1
    clock[0] += 59.5
    assert OnePerMinute().allow_request(request, None) is False


def test_a_count_lasts_its_whole_window(settings, clock):
    """The count's key outlives its window: a client's second request in the
    last half second of a window is still refused."""
    settings.TEST_RATE = "1/min"
    request = request_from("203.0.113.7")

    assert OnePerMinute().allow_request(request, None) is True
    clock[0] += 59.5
    assert OnePerMinute().allow_request(request, None) is False
