"""Timeouts and retries are declared once, on the activity definition, not at each call site.

A workflow step reads the policy from the activity it runs, so a reader finds an activity's
timeout and retry rules next to its code, and every caller gets the same ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.common import RetryPolicy

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__sluice_activity_policy__"

# The error type a system of record raises when it refuses a request (a 4xx other than 429):
# asking again cannot help, so no retry policy retries it.
SYSTEM_REJECTED = "SystemOfRecordRejected"


@dataclass(frozen=True)
class ActivityPolicy:
    """How long one attempt may take, how attempts are retried, and where it runs."""

    start_to_close: timedelta
    retry: RetryPolicy
    schedule_to_close: timedelta | None = None
    heartbeat: timedelta | None = None
    task_queue: str | None = None
    # Marks activities that call a model, for tracing and rate limiting.
    model_call: bool = False
    # Quick, idempotent reads and computations (settings, rules, screening): run as a local
    # activity, which costs the server one marker event instead of three events and two
    # task dispatches. Never for a business action (its receipt belongs in history as its
    # own event, and an action must not wait on the run's workflow task), nor for a model
    # call (the model queue paces those), nor for a heartbeating activity.
    local: bool = False


def with_policy(policy: ActivityPolicy) -> Callable[[F], F]:
    """Attach ``policy`` to an activity function (put it under ``@activity.defn``)."""

    def attach(fn: F) -> F:
        setattr(fn, _ATTRIBUTE, policy)
        return fn

    return attach


def policy_of(fn: Callable[..., Any]) -> ActivityPolicy:
    """The policy declared on ``fn``; an activity without one is a programming error."""
    policy = getattr(getattr(fn, "__func__", fn), _ATTRIBUTE, None)
    if policy is None:
        raise TypeError(f"activity {fn.__qualname__} has no @with_policy(...) declaration")
    return policy


def system_of_record_retry(
    attempts: int, *, longest_wait: timedelta = timedelta(seconds=30)
) -> RetryPolicy:
    """Retries for a call to a system of record: one second, doubling up to ``longest_wait``,
    at most ``attempts``; a refusal by the system (``SYSTEM_REJECTED``) is never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=longest_wait,
        maximum_attempts=attempts,
        non_retryable_error_types=[SYSTEM_REJECTED],
    )


# Pure computation (versioned rules, text checks): a failure is a bug, so retry little and
# fail visibly. It runs in the worker that runs the workflow, as a local activity.
LOCAL_COMPUTATION = ActivityPolicy(
    start_to_close=timedelta(seconds=10), retry=RetryPolicy(maximum_attempts=2), local=True
)
