"""Model rate limits in the worker: a request bucket and a token bucket per model.

Mistral meters requests and tokens (input plus output) per minute. Before a call the worker
takes one request and an estimate of the call's tokens; after the call it settles with the
real usage, so an over-estimate is given back and an under-estimate is charged. What the
provider says about its own buckets (rate-limit headers, a 429 with ``Retry-After``) corrects
ours. Nothing here sleeps or reads the wall clock: the clock is passed in, so the arithmetic
can be tested exactly.

A provider may count its per-minute limits over any 60 s window, not per calendar minute. A
bucket holding ``burst`` units and refilling at ``rate`` lets ``burst + 60 * rate`` through in
a minute, so every bucket here is sized to make that sum the limit: ``burst_seconds`` of it at
once, the rest paced. The server's pace of the model task queue follows the same rule, with
room for the burst its partitions allow (``queue_dispatch_rate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from sluice.config import ModelLimit, RateLimitSettings

Clock = Callable[[], float]
ThrottleReason = Literal["requests", "tokens", "provider"]


class TokenBucket:
    """``capacity`` units, refilled continuously at ``per_second``; starts full."""

    def __init__(self, capacity: float, per_second: float, clock: Clock) -> None:
        if capacity <= 0 or per_second <= 0:
            raise ValueError("a bucket needs a positive capacity and refill rate")
        self.capacity = capacity
        self.per_second = per_second
        self._clock = clock
        self._level = capacity
        self._at = clock()

    @classmethod
    def per_minute(cls, limit: float, burst: float, clock: Clock) -> TokenBucket:
        """A bucket no 60 s window gets more than ``limit`` out of: ``burst`` at once, the
        rest of the minute paced."""
        if not 0 < burst < limit:
            raise ValueError("the burst must be positive and smaller than the limit")
        return cls(burst, (limit - burst) / 60, clock)

    @property
    def level(self) -> float:
        """Units available now (negative while a settled under-estimate is paid back)."""
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._at) * self.per_second)
        self._at = now
        return self._level

    def wait_for(self, amount: float) -> float:
        """Seconds until ``amount`` units are available; 0 when they are now."""
        missing = min(amount, self.capacity) - self.level
        # Rounding must not leave a caller who waited exactly as told one tick short.
        return 0.0 if missing <= 1e-6 else missing / self.per_second

    def take(self, amount: float) -> None:
        self._level = self.level - amount

    def give_back(self, amount: float) -> None:
        """Return units (negative ``amount`` charges more); never above capacity."""
        self._level = min(self.capacity, self.level + amount)

    def at_most(self, level: float) -> None:
        """Lower the level to what someone who knows better reports is left."""
        self._level = min(self.level, level)


@dataclass(frozen=True)
class Admission:
    """A call let through: what it reserved, to be settled after the call."""

    model: str
    tokens: int


@dataclass(frozen=True)
class Throttle:
    """A call held back: how long until capacity returns, and which limit held it."""

    wait_seconds: float
    reason: ThrottleReason


@dataclass(frozen=True)
class ProviderQuota:
    """What the provider's rate-limit headers say is left of its per-minute buckets."""

    remaining_tokens: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    limit_requests: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ProviderQuota | None:
        """Mistral's ``x-ratelimit-*-minute`` headers; None when the response has none."""
        lowered = {k.lower(): v for k, v in headers.items()}

        def number(name: str) -> int | None:
            try:
                return int(float(lowered[name]))
            except (KeyError, ValueError):
                return None

        quota = cls(
            remaining_tokens=number("x-ratelimit-remaining-tokens-minute"),
            limit_tokens=number("x-ratelimit-limit-tokens-minute"),
            remaining_requests=number("x-ratelimit-remaining-req-minute"),
            limit_requests=number("x-ratelimit-limit-req-minute"),
        )
        return quota if quota != cls() else None


class ModelLimiter:
    """The two buckets of one model in this worker, and any pause a 429 asked for."""

    def __init__(self, model: str, limit: ModelLimit, settings: RateLimitSettings, clock: Clock):
        share = 1 / settings.workers
        self.model = model
        self.settings = settings
        self.share = share
        # Requests are held for all workers together by the server's pace of the model queue;
        # this bucket is each worker's own guard, so it is not split.
        self.requests = TokenBucket.per_minute(
            limit.requests_per_minute, request_burst(limit.requests_per_minute, settings), clock
        )
        tokens = limit.tokens_per_minute * share
        self.tokens = TokenBucket.per_minute(tokens, tokens * settings.burst_seconds / 60, clock)
        self._clock = clock
        self._paused_until = clock()

    def try_admit(self, tokens: int) -> Admission | Throttle:
        """Take one request and ``tokens`` if all are there; otherwise take nothing."""
        paused = self._paused_until - self._clock()
        if paused > 0:
            return Throttle(paused, "provider")
        reserved = int(min(tokens, self.tokens.capacity))
        waits: list[tuple[float, ThrottleReason]] = [
            (self.requests.wait_for(1), "requests"),
            (self.tokens.wait_for(reserved), "tokens"),
        ]
        wait, reason = max(waits)
        if wait > 0:
            return Throttle(wait, reason)
        self.requests.take(1)
        self.tokens.take(reserved)
        return Admission(self.model, reserved)

    def settle(self, admission: Admission, used_tokens: int | None) -> None:
        """Give back what was reserved but not used (or charge what was used beyond it).
        A call that never reached the provider (``None``) gives everything back."""
        used = 0 if used_tokens is None else used_tokens
        self.tokens.give_back(admission.tokens - used)

    def observe(self, quota: ProviderQuota) -> None:
        """Never believe we have more than the provider says is left (our share of it)."""
        if quota.remaining_tokens is not None:
            self.tokens.at_most(quota.remaining_tokens * self.share)
        if quota.remaining_requests is not None:
            self.requests.at_most(quota.remaining_requests)

    def pause(self, seconds: float) -> None:
        """The provider said "retry after": nothing goes out until then."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)


def request_burst(per_minute: float, settings: RateLimitSettings) -> float:
    """Requests one worker may send at once: ``burst_seconds`` of the limit, at least one
    (where the limit allows it)."""
    return min(max(per_minute * settings.burst_seconds / 60, 1.0), per_minute / 2)


def queue_dispatch_rate(settings: RateLimitSettings) -> float:
    """Tasks per second for the model queue's ``max_task_queue_activities_per_second``.

    The Temporal server paces each of the queue's partitions at its share of this rate and lets
    each dispatch up to a second of its share at once, at least one task: on top of the pace,
    up to ``queue_partitions`` plus one second's worth of tasks can start together. The pace
    leaves room for that burst (or for ``burst_seconds`` of the limit, if larger), so no 60 s
    window holds more than ``requests_per_minute`` dispatches. Below about twice the burst
    (ten requests a minute with four partitions) that cannot hold: the pace is then half the
    limit, and the workers' own request buckets and the provider's 429s are what remain.
    """
    per_minute = settings.requests_per_minute
    server_burst = settings.queue_partitions + per_minute / 60
    reserve = max(per_minute * settings.burst_seconds / 60, server_burst)
    return max(per_minute - reserve, per_minute / 2) / 60


class RateLimiter:
    """Every model's limiter in this worker, created on first use from the settings."""

    def __init__(self, settings: RateLimitSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._models: dict[str, ModelLimiter] = {}

    def model(self, name: str) -> ModelLimiter:
        if name not in self._models:
            self._models[name] = ModelLimiter(
                name, self.settings.for_model(name), self.settings, self._clock
            )
        return self._models[name]
