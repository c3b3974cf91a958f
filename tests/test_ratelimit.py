"""The model rate limiter under a clock the test controls: never above the limit, and no
capacity lost (a throttled call gets in exactly when capacity returns, unused tokens return)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.config import ModelLimit, RateLimitSettings
from sluice.ratelimit import (
    Admission,
    ModelLimiter,
    ProviderQuota,
    Throttle,
    TokenBucket,
    queue_dispatch_rate,
)
from tests.stubs.mistral_api import EXAMPLE_RATE_LIMIT_HEADERS


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(
    clock: FakeClock,
    *,
    requests_per_minute: float = 600,
    tokens_per_minute: float = 6000,
    **settings: object,
) -> ModelLimiter:
    limit = ModelLimit(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
    return ModelLimiter("mistral-small-latest", limit, RateLimitSettings(**settings), clock)


def test_a_burst_goes_out_at_once_then_calls_are_paced_to_keep_the_minute_within_the_limit() -> (
    None
):
    clock = FakeClock()
    # 6,000 tokens a minute, 30 s of it at once: 3,000 now, the other 3,000 over the minute.
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)
    for _ in range(3):
        assert isinstance(model.try_admit(1000), Admission)
    held = model.try_admit(1000)
    assert held == Throttle(pytest.approx(20.0), "tokens")
    clock.advance(19.9)
    assert isinstance(model.try_admit(1000), Throttle)
    clock.advance(0.1)
    assert isinstance(model.try_admit(1000), Admission)


def test_the_default_burst_is_three_seconds_of_the_limit_and_the_pace_the_rest() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000)
    assert model.tokens.capacity == pytest.approx(300)
    assert model.tokens.per_second == pytest.approx(5700 / 60)


def test_a_throttled_call_takes_nothing_so_a_smaller_call_can_still_go() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)
    assert isinstance(model.try_admit(2500), Admission)
    assert isinstance(model.try_admit(1000), Throttle)
    assert isinstance(model.try_admit(500), Admission)


def test_tokens_reserved_but_not_used_come_back_when_the_call_settles() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)
    first = model.try_admit(2000)
    assert isinstance(first, Admission)
    assert isinstance(model.try_admit(2000), Throttle)
    model.settle(first, used_tokens=600)
    assert isinstance(model.try_admit(2000), Admission)


def test_a_call_that_never_reached_the_provider_gives_everything_back() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)
    call = model.try_admit(3000)
    assert isinstance(call, Admission)
    model.settle(call, used_tokens=None)
    assert model.tokens.level == pytest.approx(3000)


def test_an_underestimate_is_charged_and_delays_the_next_call() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)  # refills 50 a second
    call = model.try_admit(1000)
    assert isinstance(call, Admission)
    model.settle(call, used_tokens=3200)
    held = model.try_admit(100)
    assert held == Throttle(pytest.approx(6.0), "tokens")


def test_requests_are_limited_even_when_tokens_are_plentiful() -> None:
    clock = FakeClock()
    model = limiter(clock, requests_per_minute=120, tokens_per_minute=10_000_000)
    for _ in range(6):  # three seconds' worth at once
        assert isinstance(model.try_admit(10), Admission)
    assert model.try_admit(10) == Throttle(pytest.approx(60 / 114), "requests")


def test_a_worker_may_always_send_one_request_even_under_a_tiny_limit() -> None:
    clock = FakeClock()
    model = limiter(clock, requests_per_minute=6, tokens_per_minute=10_000_000)
    assert isinstance(model.try_admit(10), Admission)
    assert model.try_admit(10) == Throttle(pytest.approx(60 / 5), "requests")


def test_a_call_bigger_than_the_whole_burst_waits_for_a_full_bucket_instead_of_forever() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=30)
    assert isinstance(model.try_admit(50), Admission)
    held = model.try_admit(50_000)
    assert held == Throttle(pytest.approx(1.0), "tokens")
    clock.advance(1.0)
    assert model.try_admit(50_000) == Admission("mistral-small-latest", 3000)


def test_workers_split_the_token_budget_between_them() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, workers=3, burst_seconds=30)
    assert isinstance(model.try_admit(1000), Admission)  # half of this worker's 2,000
    assert model.try_admit(1) == Throttle(pytest.approx(1 / (1000 / 60)), "tokens")


def test_a_smaller_burst_spreads_a_minute_over_time() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, burst_seconds=5)
    assert isinstance(model.try_admit(500), Admission)
    assert model.try_admit(500) == Throttle(pytest.approx(500 / (5500 / 60)), "tokens")


def test_the_model_queue_is_paced_under_the_limit_with_room_for_the_servers_burst() -> None:
    # 120 a minute over four partitions: each may let one task through at once on top of the
    # pace, and one second's worth more: six of the minute's 120 are kept for that.
    assert queue_dispatch_rate(RateLimitSettings(requests_per_minute=120)) * 60 == 114
    # A high limit keeps burst_seconds of it instead.
    assert queue_dispatch_rate(RateLimitSettings(requests_per_minute=6000)) * 60 == 5700
    # One partition (set on the server for this queue) needs less room.
    one = RateLimitSettings(requests_per_minute=60, queue_partitions=1, burst_seconds=1)
    assert queue_dispatch_rate(one) * 60 == 58
    # Too low a limit for any room: half of it, never nothing.
    assert queue_dispatch_rate(RateLimitSettings(requests_per_minute=6)) * 60 == 3


def test_a_429_pauses_every_call_of_the_model_until_retry_after() -> None:
    clock = FakeClock()
    model = limiter(clock)
    model.pause(3.0)
    assert model.try_admit(10) == Throttle(pytest.approx(3.0), "provider")
    clock.advance(2.0)
    assert model.try_admit(10) == Throttle(pytest.approx(1.0), "provider")
    clock.advance(1.0)
    assert isinstance(model.try_admit(10), Admission)


def test_the_providers_remaining_quota_lowers_ours_never_raises_it() -> None:
    clock = FakeClock()
    model = limiter(clock, tokens_per_minute=6000, workers=2, burst_seconds=30)
    model.observe(ProviderQuota(remaining_tokens=1000, remaining_requests=600))
    assert model.tokens.level == pytest.approx(500)  # our half of what is left
    model.observe(ProviderQuota(remaining_tokens=1_000_000))
    assert model.tokens.level == pytest.approx(500)
    model.observe(ProviderQuota(remaining_requests=0))
    # 600 requests a minute, 300 of them at once: the other 300 come back at 5 a second.
    assert model.try_admit(1) == Throttle(pytest.approx(0.2), "requests")


def test_mistral_rate_limit_headers_are_read() -> None:
    quota = ProviderQuota.from_headers(
        {k.upper(): v for k, v in EXAMPLE_RATE_LIMIT_HEADERS.items()}
    )
    assert quota == ProviderQuota(
        remaining_tokens=499000, limit_tokens=500000, remaining_requests=59, limit_requests=60
    )
    assert ProviderQuota.from_headers({"content-type": "application/json"}) is None


def test_a_bucket_needs_a_positive_size() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1, FakeClock())


calls = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=30),  # seconds before the call is wanted
        st.integers(min_value=1, max_value=4000),  # tokens reserved
        st.floats(min_value=0, max_value=1),  # share of the reservation actually used
    ),
    min_size=1,
    max_size=60,
)


def most_in_any_minute(spent: list[tuple[float, float]]) -> float:
    """The most spent inside any 60 s window, as a provider counting a sliding minute sees."""
    return max(
        sum(amount for at, amount in spent if start <= at < start + 60) for start, _ in spent
    )


@settings(max_examples=200, deadline=None)
@given(calls=calls, burst=st.sampled_from([1.0, 3.0, 20.0, 30.0]))
def test_never_above_the_limit_in_any_minute_and_no_capacity_lost(
    calls: list[tuple[float, int, float]], burst: float
) -> None:
    clock = FakeClock()
    per_minute = 6000.0
    model = limiter(
        clock, requests_per_minute=1e6, tokens_per_minute=per_minute, burst_seconds=burst
    )
    capacity = per_minute * burst / 60
    rate = (per_minute - capacity) / 60
    admitted: list[tuple[float, float]] = []
    for gap, wanted, used_share in calls:
        clock.advance(gap)
        verdict = model.try_admit(wanted)
        if isinstance(verdict, Throttle):
            # No capacity lost: the advertised wait is exactly what was missing...
            reserved = min(wanted, capacity)
            assert model.tokens.level + verdict.wait_seconds * rate == pytest.approx(reserved)
            clock.advance(verdict.wait_seconds)
            # ...and waiting exactly that long is enough.
            verdict = model.try_admit(wanted)
        assert isinstance(verdict, Admission)
        used = int(verdict.tokens * used_share)
        model.settle(verdict, used)
        admitted.append((clock.now, used))
    assert most_in_any_minute(admitted) <= per_minute + 1e-6


@settings(max_examples=100, deadline=None)
@given(
    gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=150),
    per_minute=st.sampled_from([6.0, 60.0, 120.0]),
)
def test_requests_never_above_the_limit_in_any_minute(gaps: list[float], per_minute: float) -> None:
    clock = FakeClock()
    model = limiter(clock, requests_per_minute=per_minute, tokens_per_minute=1e9)
    sent: list[tuple[float, float]] = []
    for gap in gaps:
        clock.advance(gap)
        verdict = model.try_admit(1)
        while isinstance(verdict, Throttle):
            clock.advance(verdict.wait_seconds)
            verdict = model.try_admit(1)
        sent.append((clock.now, 1))
    assert most_in_any_minute(sent) <= per_minute
