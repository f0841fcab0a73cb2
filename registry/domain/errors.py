"""Errors the domain raises. Each names the field and the rule that failed, so every
adapter (CLI, HTTP) can tell a person exactly what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a command: which field, which rule, and why in words."""

    field: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class RegistryError(Exception):
    """Base of every error a user can cause; never a bug in the registry."""

    kind = "registry-error"


@dataclass
class ValidationFailed(RegistryError):
    """A command broke one or more rules; nothing was recorded."""

    problems: list[Problem] = field(default_factory=list)
    kind = "validation-failed"

    def __post_init__(self) -> None:
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "; ".join(f"{p.field}: {p.message} [{p.rule}]" for p in self.problems)


def invalid(field_name: str, rule: str, message: str) -> ValidationFailed:
    return ValidationFailed([Problem(field_name, rule, message)])


class NotFound(RegistryError):
    kind = "not-found"


class Conflict(RegistryError):
    """The aggregate moved on since the caller read it (stale expected version)."""

    kind = "conflict"


class IdempotencyMismatch(RegistryError):
    """An idempotency key was reused with a different command."""

    kind = "idempotency-mismatch"
