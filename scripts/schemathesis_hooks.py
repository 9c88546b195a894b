"""Schemathesis hooks for scripts/schemathesis.

Two things JSON Schema cannot say: that a start time must lie in the future (`map_case` below),
and who is calling: with CULTFIT_FUZZ_TRAINER_TOKEN and CULTFIT_FUZZ_TRAINEE_TOKEN set, trainer
operations are sent with the trainer's token and everything else with the trainee's, so that
stateful sequences cross roles (a trainer schedules, a trainee books and joins, the trainer
starts).

A workout's new start (`POST /workouts`, `POST /workouts/{id}/reschedule`) must lie in the future,
which depends on when the request is made. The document says so in words; here, a generated
`starts_at` that is a valid date-time earlier than two years from now is moved into the future
by changing its year and nothing else, so that date-times of every shape still reach the
server. Anything that is not a valid date-time is left alone for the server to refuse.
"""

import os
from datetime import datetime, timezone

import schemathesis

# What only a trainer may do; everything else a trainee may (or anyone signed in).
TRAINER_OPERATIONS = [
    "create_workout",
    "reschedule_workout",
    "cancel_workout",
    "start_workout",
    "end_workout",
    "list_registrations",
    "get_feedback",
]


FUTURE_START = {
    ("POST", "/api/v1/workouts"),
    ("POST", "/api/v1/workouts/{id}/reschedule"),
}


def _leap_year_after(year: int) -> int:
    """The first leap year after `year`, so that 29 February stays a date."""
    year += 1
    while not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        year += 1
    return year


def _year_of(value: str) -> int | None:
    """The year of an RFC 3339 date-time (`Z` or a numeric offset), or `None` if it is not one."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).year
    except ValueError:
        return None


@schemathesis.hook
def map_case(context, case):
    operation = case.operation
    if (operation.method.upper(), operation.path) not in FUTURE_START:
        return case
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("starts_at"), str):
        starts_at = body["starts_at"]
        # Two years ahead is in the future whatever the offset; earlier ones are moved there.
        soon = datetime.now(timezone.utc).year + 2
        year = _year_of(starts_at)
        if year is not None and year < soon:
            body["starts_at"] = f"{_leap_year_after(soon - 1):04d}{starts_at[4:]}"
    return case


def _bearer(variable: str):
    """An auth provider sending the token in `variable`."""

    class Bearer:
        def get(self, case, context):
            return os.environ[variable]

        def set(self, case, data, context):
            case.headers = case.headers or {}
            case.headers["Authorization"] = f"Bearer {data}"

    return Bearer


if os.environ.get("CULTFIT_FUZZ_TRAINER_TOKEN") and os.environ.get("CULTFIT_FUZZ_TRAINEE_TOKEN"):
    schemathesis.auth().apply_to(operation_id=TRAINER_OPERATIONS)(_bearer("CULTFIT_FUZZ_TRAINER_TOKEN"))
    schemathesis.auth().skip_for(operation_id=TRAINER_OPERATIONS)(_bearer("CULTFIT_FUZZ_TRAINEE_TOKEN"))
