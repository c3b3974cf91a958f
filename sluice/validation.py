"""How a pydantic validation error is told to a person: each invalid field by its dotted
path and why, on one line. The CLI, the configuration, the converter and the model gateway
all say it the same way."""

from __future__ import annotations

from pydantic import ValidationError


def field_problems(err: ValidationError, *, whole: str = "(root)") -> list[str]:
    """Each problem as ``path.to.field: why``; ``whole`` names the value itself."""
    return [
        f"{'.'.join(str(part) for part in e['loc']) or whole}: {e['msg']}" for e in err.errors()
    ]


def validation_problems(err: ValidationError, *, whole: str = "(root)", limit: int = 5) -> str:
    """The first ``limit`` problems on one line, and how many more there are."""
    problems = field_problems(err, whole=whole)
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
