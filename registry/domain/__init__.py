"""The registry's domain: aggregates, value objects, vocabularies and errors. No I/O here."""

from registry.domain.action import AMENDABLE, Action, ActionFacts, action_problems
from registry.domain.agreement import REVISABLE, Agreement
from registry.domain.errors import (
    Conflict,
    IdempotencyMismatch,
    NotFound,
    Problem,
    RegistryError,
    ValidationFailed,
    invalid,
)
from registry.domain.partner import Partner
from registry.domain.values import Commitment, DueRule, Period, Signatory, Source
from registry.domain.vocabulary import CORE_VOCABULARY, Vocabulary

__all__ = [
    "AMENDABLE", "CORE_VOCABULARY", "REVISABLE", "Action", "ActionFacts", "Agreement",
    "Commitment", "Conflict", "DueRule", "IdempotencyMismatch", "NotFound", "Partner", "Period",
    "Problem", "RegistryError", "Signatory", "Source", "ValidationFailed", "Vocabulary",
    "action_problems", "invalid",
]
