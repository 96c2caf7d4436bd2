"""The API's JSON, as pydantic models: what the OpenAPI document describes and what every
answer is checked against. Validation of an alert stays the alert file's own (the
operations'): these models only say which keys and types come in."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    communes: list[str] = []
    sectors: list[str] = []


class AlertIn(BaseModel):
    """The alert file's keys (SPEC "Alert file"), as JSON."""

    model_config = ConfigDict(extra="forbid")
    message: str
    category: str | None = None
    advice: str | None = None
    priority: Literal["urgent", "normal"] | None = None
    target: TargetIn | None = None
    expires_after: str | None = Field(None, examples=["2h"])
    id: str | None = Field(None, description="idempotency key: the same id twice is one alert")
    issued_by: str | None = None

    def fields(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class AlertAccepted(BaseModel):
    alert_id: str
    recipients: int
    key: str | None
    state: Literal["accepted", "duplicate"]
    daemon_running: bool


class Preview(BaseModel):
    recipients: int
    report: dict[str, Any]  # what `alert send --check` shows


class AlertOut(BaseModel):
    alert_id: str
    state: str
    priority: str
    category: str
    created_at: float
    expires_at: float
    parts: int
    total: int
    sent: int
    failed: int
    cancelled: int
    delivered: int
    unsent: int
    issued_by: str | None


class AlertDetail(AlertOut):
    key: str | None
    message: str
    advice: str
    text: str
    encoding: str
    target: dict[str, list[str]]
    finished_at: float | None


class Recipient(BaseModel):
    phone: str
    name: str | None
    state: str
    parts_sent: int
    attempts: int
    last_error: str | None
    sent_at: float | None
    report: str | None


class CancelOut(BaseModel):
    alert_id: str
    already: str | None
    cancelled: int
    begun: int


class MemberIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str
    name: str = ""
    commune: str = ""
    sector: str = ""


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    commune: str | None = None
    sector: str | None = None
    status: Literal["unsubscribed"] | None = Field(
        None, description="unsubscribed: as a STOP (an opt-out cannot be undone here)"
    )


class MemberOut(BaseModel):
    phone: str
    name: str
    commune: str
    sector: str
    status: str
    request: str | None = None


class MemberChange(BaseModel):
    member: MemberOut
    outcome: str


class MemberPage(BaseModel):
    members: list[MemberOut]
    total: int


class LineProblem(BaseModel):
    field: str | None
    message: str
    line: int | None


class ImportOut(BaseModel):
    added: int
    updated: int
    skipped: int
    problems: list[LineProblem]


class Approved(BaseModel):
    member: MemberOut
    missing: list[str]


class InboundOut(BaseModel):
    id: int
    at: float
    phone: str
    name: str | None
    kind: str
    text: str | None
    handled_by: str | None
    handled_at: float | None
