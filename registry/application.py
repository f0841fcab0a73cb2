"""The Registry application: its methods are the commands and queries of the registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import singledispatchmethod
from inspect import getattr_static
from time import monotonic
from typing import Any, Protocol, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Transcoding

from registry import commands as c
from registry.domain import (
    Action,
    ActionFacts,
    Agreement,
    Conflict,
    IdempotencyMismatch,
    NotFound,
    Partner,
    Problem,
    ValidationFailed,
    action_problems,
    invalid,
)
from registry.domain.ids import agreement_uuid, partner_uuid
from registry.idempotency import IdempotencyKey
from registry.rules import Evaluation, NoRules, RegistryView, Rulebook, today_utc
from registry.store import EventTable

A = TypeVar("A", bound=Aggregate)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass
class _Outcome:
    aggregate: str
    aggregate_id: str
    uuid: UUID
    version: int
    warnings: tuple[dict[str, Any], ...] = ()


Answer = list[c.Receipt] | Exception  # what one submission of a group is answered


@dataclass
class UnitOfWork:
    """The aggregates one atomic save will record, so later commands in a batch see the
    effects of earlier ones before anything is stored."""

    app: Registry
    by: str
    aggregates: dict[UUID, Aggregate] = field(default_factory=dict)
    outcomes: list[_Outcome] = field(default_factory=list)
    actions_by_kind: dict[str, dict[UUID, Action]] = field(default_factory=dict)
    kind_of: dict[UUID, str] = field(default_factory=dict)  # where each action is filed

    def find(self, cls: type[A], aggregate_id: UUID, *, copy: bool = True) -> A | None:
        """The aggregate as this unit of work sees it. `copy=False` (only to read, never
        to change or to hand to a plugin) returns the repository cache's own object,
        without the deep copy."""
        if aggregate_id in self.aggregates:
            found = self.aggregates[aggregate_id]
        else:
            try:
                found = self.app.repository.get(aggregate_id, deepcopy_from_cache=copy)
            except AggregateNotFoundError:
                return None
        return found if isinstance(found, cls) else None

    def get(self, cls: type[A], aggregate_id: UUID, label: str,
            expected_version: int | None = None) -> A:
        found = self.find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"no {cls.__name__.lower()} {label}")
        if expected_version is not None and found.version != expected_version:
            raise Conflict(f"{cls.__name__.lower()} {label} is at version {found.version}, "
                           f"not {expected_version}: read it again and retry")
        return found

    def add(self, aggregate: Aggregate, kind: str, label: str,
            evaluation: Evaluation | None = None) -> None:
        self.aggregates[aggregate.id] = aggregate
        if isinstance(aggregate, Action):
            earlier = self.kind_of.get(aggregate.id)
            if earlier is not None:  # an amendment may change the kind
                del self.actions_by_kind[earlier][aggregate.id]
            action_kind = self.kind_of[aggregate.id] = aggregate.facts.kind
            self.actions_by_kind.setdefault(action_kind, {})[aggregate.id] = aggregate
        warnings = tuple(f.as_dict() for f in evaluation.findings) if evaluation else ()
        self.outcomes.append(_Outcome(kind, label, aggregate.id, aggregate.version, warnings))

    def pending_similar(self, facts: ActionFacts,
                        reported_by: str | None = None) -> list[dict[str, Any]]:
        return [{"id": str(a.id), "version": a.version, **a.facts.as_payload()}
                for a in self.actions_by_kind.get(facts.kind, {}).values()
                if not a.is_retracted and a.facts is not facts
                and a.facts.reporting_partner != facts.reporting_partner
                and reported_by in (None, a.facts.reporting_partner)
                and a.facts.occurred_on.start <= facts.occurred_on.end
                and a.facts.occurred_on.end >= facts.occurred_on.start]

    def known_partners(self, names: Iterable[str]) -> set[str]:
        return {n for n in set(names) if self.app.is_partner(n, self)}

    def agreement(self, reference: str) -> Agreement | None:
        return self.find(Agreement, agreement_uuid(reference))

    def read_agreement(self, reference: str) -> Agreement | None:
        """The agreement to check a command against, read-only: this batch's own version,
        else the application's recent read of it (see `Registry.recent_agreement`)."""
        key = agreement_uuid(reference)
        if key in self.aggregates:
            found = self.aggregates[key]
            return found if isinstance(found, Agreement) else None
        return self.app.recent_agreement(key)


@dataclass
class Prepared:
    """A submission checked and ready to save."""

    submission: c.Submission
    uow: UnitOfWork
    aggregates: list[Aggregate]
    fingerprint: str


class Similar(Protocol):
    """Where similar actions come from (the read model's query, once it is set up)."""

    def __call__(self, facts: ActionFacts, *,
                 reported_by: str | None = None) -> Sequence[Any]: ...


class _View:
    """The read-only registry that rules see during one command."""

    def __init__(self, uow: UnitOfWork, similar: Similar):
        self._uow = uow
        self._similar = similar

    def partner_ids(self) -> Sequence[str]:
        pending = {a.partner_id for a in self._uow.aggregates.values() if isinstance(a, Partner)}
        return sorted(self._uow.app.partner_ids() | pending)

    def agreement(self, reference: str) -> Agreement | None:
        return self._uow.agreement(reference)

    def similar_actions(self, facts: ActionFacts, *,
                        reported_by: str | None = None) -> Sequence[dict[str, Any]]:
        """The read model's candidates, plus actions reported earlier in this batch (not
        yet stored, so no read model has them)."""
        return [*self._similar(facts, reported_by=reported_by),
                *self._uow.pending_similar(facts, reported_by)]


class Registry(Application[UUID]):
    """Commands record partners, agreements and cooperation actions; nothing is ever
    updated or deleted. Each command is checked against the domain invariants and the
    active partner rules first, and refused whole if anything fails."""

    name = "CooperationRegistry"
    env = {"AGGREGATE_CACHE_MAXSIZE": "2000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "y"}
    # How old a read of an agreement may be when an action is checked against it. Reading
    # it afresh (the repository fast-forwards a cached aggregate with a query) cost about a
    # fifth of a single write; agreements change a few times a year.
    agreement_read_ttl = 1.0  # seconds

    def __init__(self, env: dict[str, str] | None = None, *, rules: Rulebook | None = None,
                 today: Callable[[], date] = today_utc) -> None:
        self.rules: Rulebook = rules or NoRules()
        self.today = today
        self.similar_actions: Similar = lambda facts, reported_by=None: ()
        self.partner_directory: Callable[[], Iterable[str]] = lambda: ()  # the read model
        self._partners: set[str] = set()
        self._handlers: dict[type, Callable[[Registry, Any, UnitOfWork], None]] = {}
        self._agreement_reads: dict[UUID, tuple[float, Agreement]] = {}
        super().__init__(env)
        self.event_table = EventTable(self.recorder)
        self.event_table.make_append_only()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # -- commands -------------------------------------------------------------------

    def execute(self, command: c.Command, *, by: str,
                idempotency_key: str | None = None) -> c.Receipt:
        """Record one command atomically; with an idempotency key, a retry answers the
        first receipt and records nothing new."""
        return self.execute_batch([command], by=by, idempotency_key=idempotency_key)[0]

    def execute_batch(self, commands: Sequence[c.Command], *, by: str,
                      idempotency_key: str | None = None) -> list[c.Receipt]:
        """Record several commands in one transaction: all of them, or none."""
        return self._record_alone(c.Submission(tuple(commands), by, idempotency_key))

    def execute_each(self, submissions: Sequence[c.Submission]) -> list[Answer]:
        """Record independent submissions with one commit (a group commit), each answered
        on its own: its receipts, or the error it alone would raise."""
        answers: list[Answer] = []
        prepared: list[tuple[int, Prepared]] = []
        for index, submission in enumerate(submissions):
            try:
                ready = self.prepare(submission)
            except Exception as error:  # this submission's own failure, answered to it
                answers.append(error)
                continue
            answers.append(ready if isinstance(ready, list) else [])
            if isinstance(ready, Prepared):
                prepared.append((index, ready))
        for (index, _), answer in zip(prepared, self.record_prepared([p for _, p in prepared]),
                                      strict=True):
            answers[index] = answer
        return answers

    def prepare(self, submission: c.Submission) -> Prepared | list[c.Receipt]:
        """A submission checked and ready to save (nothing is stored); or, for a retry of
        an idempotency key already used, the first receipts. Raises what a refusal raises."""
        commands, by, key = submission.commands, submission.by, submission.idempotency_key
        fingerprint = _fingerprint(commands) if key is not None else ""
        if key is not None:
            earlier = self._claimed(by, key, fingerprint)
            if earlier is not None:
                return earlier
        uow = UnitOfWork(self, by)
        for index, command in enumerate(commands):
            try:
                self._handler(type(command))(self, command, uow)
            except ValidationFailed as error:
                if len(commands) > 1:
                    error.problems = [Problem(f"[{index}].{p.field}", p.rule, p.message)
                                      for p in error.problems]
                raise
        aggregates: list[Aggregate] = list(uow.aggregates.values())
        if key is not None:
            aggregates.append(IdempotencyKey(principal=by, key=key, fingerprint=fingerprint,
                                             outcomes=[_outcome_dict(o) for o in uow.outcomes]))
        return Prepared(submission, uow, aggregates, fingerprint)

    def record_prepared(self, prepared: Sequence[Prepared]) -> list[Answer]:
        """Save prepared submissions in one transaction. If that save collides (two of them
        wrote one record, or another writer was first since they were checked), each is
        checked and recorded alone instead, so each gets the answer it would have had alone.
        A failure of the store itself is raised, for all of them."""
        if not prepared:
            return []
        try:
            recordings = self.save(*(a for p in prepared for a in p.aggregates))
        except IntegrityError:
            return [self._answer_alone(p.submission) for p in prepared]
        return [self._receipts(p.uow, recordings) for p in prepared]

    def _answer_alone(self, submission: c.Submission) -> Answer:
        try:
            return self._record_alone(submission)
        except Exception as error:
            return error

    def _record_alone(self, submission: c.Submission) -> list[c.Receipt]:
        ready = self.prepare(submission)
        if isinstance(ready, list):
            return ready
        try:
            recordings = self.save(*ready.aggregates)
        except IntegrityError:
            if submission.idempotency_key is not None:
                earlier = self._claimed(submission.by, submission.idempotency_key,
                                        ready.fingerprint)
                if earlier is not None:
                    return earlier
            raise Conflict("another write to the same record was recorded first; "
                           "read it again and retry") from None
        return self._receipts(ready.uow, recordings)

    def _receipts(self, uow: UnitOfWork, recordings: Sequence[Any]) -> list[c.Receipt]:
        """The receipts of a saved unit of work; and what this process now knows for good."""
        positions = {(r.domain_event.originator_id, r.domain_event.originator_version):
                     r.notification.id for r in recordings}
        for aggregate in uow.aggregates.values():
            if isinstance(aggregate, Partner):
                self._partners.add(aggregate.partner_id)
            elif isinstance(aggregate, Agreement):
                self._agreement_reads.pop(aggregate.id, None)
        return [c.Receipt(o.aggregate, o.aggregate_id, o.version,
                          positions[(o.uuid, o.version)], o.warnings) for o in uow.outcomes]

    def _claimed(self, by: str, key: str, fingerprint: str) -> list[c.Receipt] | None:
        try:
            claim: IdempotencyKey = self.repository.get(IdempotencyKey.create_id(by, key))
        except AggregateNotFoundError:
            return None
        if claim.fingerprint != fingerprint:
            raise IdempotencyMismatch(
                f"idempotency key {key!r} was already used with a different request")
        return [c.Receipt(o["aggregate"], o["aggregate_id"], o["version"],
                          self.event_table.position_of(UUID(o["uuid"]), o["version"]) or 0,
                          tuple(o.get("warnings", ()))) for o in claim.outcomes]

    def _handler(self, command_class: type) -> Callable[[Registry, Any, UnitOfWork], None]:
        """`handle`'s implementation for a command class, found once (a singledispatchmethod
        finds it and builds a new bound method on every call)."""
        found = self._handlers.get(command_class)
        if found is None:
            dispatcher = getattr_static(self, "handle").dispatcher
            found = self._handlers[command_class] = dispatcher.dispatch(command_class)
        return found

    @singledispatchmethod
    def handle(self, command: c.Command, uow: UnitOfWork) -> None:
        raise TypeError(f"no handler for {type(command).__name__}")

    @handle.register
    def _(self, command: c.RegisterPartner, uow: UnitOfWork) -> None:
        if self.is_partner(command.partner_id, uow):
            raise invalid("partner_id", "partner.unique",
                          f"partner {command.partner_id} is already registered")
        partner = Partner(partner_id=command.partner_id, name=command.display_name,
                          kind=command.kind, seat=command.seat, recorded_by=uow.by,
                          evaluation=self._in_force())
        uow.add(partner, "partner", command.partner_id)

    @handle.register
    def _(self, command: c.RenamePartner, uow: UnitOfWork) -> None:
        partner = uow.get(Partner, partner_uuid(command.partner_id), command.partner_id,
                          command.expected_version)
        partner.rename(command.display_name, command.reason, uow.by, self._in_force())
        uow.add(partner, "partner", command.partner_id)

    @handle.register
    def _(self, command: c.RegisterAgreement, uow: UnitOfWork) -> None:
        if uow.read_agreement(command.reference) is not None:
            raise invalid("reference", "agreement.unique",
                          f"agreement {command.reference} is already registered")
        self._check_agreement_words(command, uow)
        payload = c._plain(command)
        evaluation = self.rules.evaluate_agreement(payload, _View(uow, self.similar_actions))
        evaluation.raise_for_errors()
        agreement = Agreement.register(
            reference=command.reference, kind=command.kind, title=command.title,
            parties=list(command.parties), signed_on=command.signed_on,
            signed_at=command.signed_at, signatories=[dict(s) for s in command.signatories],
            commitments=list(command.commitments), review_rule=command.review_rule,
            summary=command.summary, provenance=command.provenance, recorded_by=uow.by,
            evaluation=evaluation.as_dict())
        uow.add(agreement, "agreement", command.reference, evaluation)

    def _check_agreement_words(self, command: c.RegisterAgreement, uow: UnitOfWork) -> None:
        known = uow.known_partners(command.parties)
        problems = [Problem(f"parties[{i}]", "partner.known", f"{p!r} is not a registered partner")
                    for i, p in enumerate(command.parties) if p not in known]
        if command.signed_on > self.today():
            problems.append(Problem("signed_on", "agreement.signed-in-future",
                                    f"{command.signed_on} is after today"))
        problems += self._commitment_word_problems(command.commitments, "commitments")
        if problems:
            raise ValidationFailed(problems)

    def _commitment_word_problems(self, commitments: Iterable[Any], where: str) -> list[Problem]:
        kinds = self.rules.vocabulary.action_kinds
        return [Problem(f"{where}[{i}].fulfilled_by", "action.kind",
                        f"{k!r} is not a known action kind")
                for i, commitment in enumerate(commitments)
                for k in commitment.fulfilled_by if k not in kinds]

    @handle.register
    def _(self, command: c.AddCommitment, uow: UnitOfWork) -> None:
        agreement = uow.get(Agreement, agreement_uuid(command.agreement), command.agreement,
                            command.expected_version)
        problems = self._commitment_word_problems([command.commitment], "commitment")
        if problems:
            raise ValidationFailed([Problem("commitment.fulfilled_by", p.rule, p.message)
                                    for p in problems])
        agreement.add_commitment(command.commitment, uow.by, self._in_force())
        uow.add(agreement, "agreement", command.agreement)

    @handle.register
    def _(self, command: c.ReviseAgreement, uow: UnitOfWork) -> None:
        agreement = uow.get(Agreement, agreement_uuid(command.agreement), command.agreement,
                            command.expected_version)
        problems = self._commitment_word_problems(command.changes.get("commitments", ()),
                                                  "changes.commitments")
        if problems:
            raise ValidationFailed(problems)
        revised_on = command.revised_on or self.today()
        if revised_on > self.today():
            raise invalid("revised_on", "agreement.revised-in-future",
                          f"{revised_on} is after today")
        agreement.revise(dict(command.changes), command.reason, revised_on, uow.by,
                         self._in_force())
        uow.add(agreement, "agreement", command.agreement)

    @handle.register
    def _(self, command: c.TerminateAgreement, uow: UnitOfWork) -> None:
        agreement = uow.get(Agreement, agreement_uuid(command.agreement), command.agreement,
                            command.expected_version)
        if command.terminated_on > self.today():
            raise invalid("terminated_on", "agreement.terminated-in-future",
                          f"{command.terminated_on} is after today")
        agreement.terminate(command.terminated_on, command.reason, uow.by, self._in_force())
        uow.add(agreement, "agreement", command.agreement)

    @handle.register
    def _(self, command: c.ReportAction, uow: UnitOfWork) -> None:
        if (command.action_id is not None
                and uow.find(Action, command.action_id, copy=False) is not None):
            raise invalid("action_id", "action.unique",
                          f"action {command.action_id} is already recorded")
        evaluation = self._check_action(command.facts, uow)
        action = Action(id=command.action_id or uuid4(), facts=command.facts.as_payload(),
                        recorded_by=uow.by, evaluation=evaluation.as_dict())
        uow.add(action, "action", str(action.id), evaluation)

    @handle.register
    def _(self, command: c.AmendAction, uow: UnitOfWork) -> None:
        action = uow.get(Action, command.action_id, str(command.action_id),
                         command.expected_version)
        new_facts = action.amended_facts(dict(command.changes))
        evaluation = self._check_action(new_facts, uow)
        action.amend(new_facts, command.reason, uow.by, evaluation.as_dict())
        uow.add(action, "action", str(action.id), evaluation)

    @handle.register
    def _(self, command: c.RetractAction, uow: UnitOfWork) -> None:
        action = uow.get(Action, command.action_id, str(command.action_id),
                         command.expected_version)
        action.retract(command.reason, uow.by, self._in_force())
        uow.add(action, "action", str(action.id))

    @handle.register
    def _(self, command: c.AcknowledgeAction, uow: UnitOfWork) -> None:
        action = uow.get(Action, command.action_id, str(command.action_id))
        action.acknowledge(command.partner, command.note, uow.by, self._in_force())
        uow.add(action, "action", str(action.id))

    @handle.register
    def _(self, command: c.DisputeAction, uow: UnitOfWork) -> None:
        action = uow.get(Action, command.action_id, str(command.action_id))
        action.dispute(command.partner, command.reason, uow.by, self._in_force())
        uow.add(action, "action", str(action.id))

    def _check_action(self, facts: ActionFacts, uow: UnitOfWork) -> Evaluation:
        problems = self._action_problems(facts, uow)
        if problems and facts.agreement is not None and self._agreement_reads.pop(
                agreement_uuid(facts.agreement), None) is not None:
            problems = self._action_problems(facts, uow)  # never refuse on a recent read
        if problems:
            raise ValidationFailed(problems)
        evaluation = self.rules.evaluate_action(facts, _View(uow, self.similar_actions))
        evaluation.raise_for_errors()
        return evaluation

    def _action_problems(self, facts: ActionFacts, uow: UnitOfWork) -> list[Problem]:
        return action_problems(
            facts, partners=uow.known_partners([facts.reporting_partner, *facts.partners]),
            vocabulary=self.rules.vocabulary, find_agreement=uow.read_agreement,
            today=self.today())

    def _in_force(self) -> dict[str, Any]:
        return Evaluation(rules_in_force=self.rules.rules_in_force).as_dict()

    def rule_view(self, by: str = "system:preview") -> RegistryView:
        """The read-only view rules see (for tools and tests that call rules directly)."""
        return _View(UnitOfWork(self, by), self.similar_actions)

    def evaluate_action(self, facts: ActionFacts, by: str = "system:preview") -> Evaluation:
        """What recording this action would find, without recording anything: raises like
        the command would on errors, and answers the warnings and rules in force."""
        return self._check_action(facts, UnitOfWork(self, by))

    # -- queries --------------------------------------------------------------------

    def is_partner(self, partner_id: str, uow: UnitOfWork | None = None) -> bool:
        """Partners are never removed, so a positive answer is cached for good."""
        if partner_id in self._partners:
            return True
        key = partner_uuid(partner_id)
        if uow is not None and key in uow.aggregates:
            return True  # registered earlier in this batch: not stored, so not cached
        if self._find(Partner, key) is None:
            return False
        self._partners.add(partner_id)
        return True

    def partner_ids(self) -> set[str]:
        """Every registered partner: the read model's, and any this process has met since."""
        return set(self.partner_directory()) | self._partners

    def partner(self, partner_id: str) -> Partner:
        return self._get(Partner, partner_uuid(partner_id), partner_id)

    def agreement(self, reference: str) -> Agreement:
        return self._get(Agreement, agreement_uuid(reference), reference)

    def action(self, action_id: UUID) -> Action:
        return self._get(Action, action_id, str(action_id))

    def recent_agreement(self, agreement_id: UUID) -> Agreement | None:
        """The agreement as read at most `agreement_read_ttl` seconds ago, not to be
        changed. This process's own changes replace it at once; another process's may take
        that long to show, so a command refused on such a read is checked again afresh.
        Agreements are never removed, so only one that exists is kept."""
        now = monotonic()
        read = self._agreement_reads.get(agreement_id)
        if read is not None and now - read[0] < self.agreement_read_ttl:
            return read[1]
        try:
            found = self.repository.get(agreement_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        if not isinstance(found, Agreement):
            return None
        self._agreement_reads[agreement_id] = (now, found)
        return found

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            found = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, cls) else None

    def _get(self, cls: type[A], aggregate_id: UUID, label: str) -> A:
        found = self._find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"no {cls.__name__.lower()} {label}")
        return found


def _fingerprint(commands: Sequence[c.Command]) -> str:
    return "+".join(command.fingerprint() for command in commands)


def _outcome_dict(outcome: _Outcome) -> dict[str, Any]:
    return {"aggregate": outcome.aggregate, "aggregate_id": outcome.aggregate_id,
            "uuid": str(outcome.uuid), "version": outcome.version,
            "warnings": list(outcome.warnings)}
