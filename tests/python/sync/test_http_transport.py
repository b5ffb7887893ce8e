"""The shared HTTP transport's throttling rules (http.py), on httpx's mock transport: a 429 without Retry-After
(QuickBooks answers it in XML and asks for 60 s) waits the policy's throttle wait, has its own budget, and a storm
longer than that budget stops the run with one clear reason.
"""

from __future__ import annotations

import httpx
import pytest

from orb_finance.sync.providers.base import ProviderUnavailable
from orb_finance.sync.providers.http import HttpTransport, RetryPolicy

THROTTLED = ('<?xml version="1.0"?><IntuitResponse><Fault type="SERVICE"><Error code="3001"><Message>message='
             'ThrottleExceeded; errorCode=003001; statusCode=429</Message></Error></Fault></IntuitResponse>')


def transport(answers: list[int], policy: RetryPolicy) -> tuple[HttpTransport, list[float]]:
    queue = list(answers)

    def handler(request):
        status = queue.pop(0)
        if status == 429:
            return httpx.Response(429, text=THROTTLED, headers={"Content-Type": "text/xml"})
        return httpx.Response(status, json={"ok": True})
    slept: list[float] = []
    return HttpTransport("http://qbo.test", service="QuickBooks", policy=policy, sleep=slept.append,
                         transport=httpx.MockTransport(handler)), slept


def test_a_429_without_retry_after_waits_the_throttle_wait_and_has_its_own_budget():
    t, slept = transport([429, 429, 429, 200], RetryPolicy(retries=1, throttle_wait=60.0, throttle_retries=3))
    assert t.request("POST", "/v3/company/1/invoice").status_code == 200
    assert slept == [60.0, 60.0, 60.0]          # three waits of 60 s, and retries=1 was not used up by them


def test_a_429_storm_longer_than_the_budget_stops_the_run_saying_so():
    t, slept = transport([429] * 5, RetryPolicy(retries=4, throttle_wait=0.5, throttle_retries=3))
    with pytest.raises(ProviderUnavailable) as err:
        t.request("GET", "/v3/company/1/query")
    assert "HTTP 429" in str(err.value) and "4 times in a row" in str(err.value)
    assert slept == [0.5, 0.5, 0.5]


def test_without_a_throttle_policy_a_429_backs_off_within_the_retries():
    t, slept = transport([429, 429, 200], RetryPolicy(retries=4, backoff=0.5))
    assert t.request("GET", "/x").status_code == 200
    assert slept == [0.5, 1.0]
