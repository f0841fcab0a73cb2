"""Value objects: immutable, compared by value, stored in events as plain JSON data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from registry.domain.errors import Problem


@dataclass(frozen=True)
class Period:
    """When something happened: one day, or a range of days (both ends inclusive)."""

    start: date
    end: date

    @classmethod
    def of(cls, start: date, end: date | None = None) -> Period:
        return cls(start, end or start)

    def problems(self, field_name: str, today: date) -> list[Problem]:
        found = []
        if self.end < self.start:
            found.append(Problem(f"{field_name}.end", "period.end-before-start",
                                 f"ends {self.end} before it starts {self.start}"))
        if self.end > today:
            side = "start" if self.start > today else "end"
            found.append(Problem(f"{field_name}.{side}", "period.in-future",
                                 f"{getattr(self, side)} is after today ({today}); report "
                                 "actions once they have happened"))
        return found

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Period:
        start = date.fromisoformat(data["start"])
        return cls(start, date.fromisoformat(data.get("end") or data["start"]))


@dataclass(frozen=True)
class Signatory:
    name: str
    title: str
    partner: str


@dataclass(frozen=True)
class Source:
    """Where a commitment or rule comes from: a seed document and the sentence it quotes."""

    document: str
    quote: str


@dataclass(frozen=True)
class DueRule:
    """When an obligation falls due.

    basis: `signature` (offset counted from the signing date), `period` (by the end of each
    period of the cadence), `session` (each session of a body), `request` (only on request).
    """

    basis: str = "period"
    months_after: int = 0

    BASES = ("signature", "period", "session", "request")


@dataclass(frozen=True)
class Commitment:
    """One concrete thing an agreement binds a party to do."""

    id: str
    text: str
    responsible: tuple[str, ...]
    counterparts: tuple[str, ...]
    cadence: str
    due: DueRule
    fulfilled_by: tuple[str, ...]
    source: Source | None = None
    exceptions: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("responsible", "counterparts", "fulfilled_by", "exceptions"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Commitment:
        source = data.get("source")
        return cls(
            id=data["id"],
            text=data["text"],
            responsible=tuple(data["responsible"]),
            counterparts=tuple(data.get("counterparts", ())),
            cadence=data["cadence"],
            due=DueRule(**(data.get("due") or {})),
            fulfilled_by=tuple(data.get("fulfilled_by", ())),
            source=Source(**source) if source else None,
            exceptions=tuple(data.get("exceptions", ())),
        )
