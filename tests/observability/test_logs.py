"""Structured logs: JSON lines with the correlation fields, personal data and secrets redacted
(in messages, fields and tracebacks), sampling, the console format; the redactor's patterns
(true positives, and no false positives on ordinary numbers and ids)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from conftest import wait_for
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from fastagentic import App, RunContext
from fastagentic.auth.base import Unauthenticated
from fastagentic.core.context import UserContext
from fastagentic.exceptions import ConfigurationError
from fastagentic.telemetry.logs import Sampling, configure_logging
from fastagentic.telemetry.redact import PATTERNS, Redactor, Rule, luhn, redact_text, redact_value

EMAIL = "bob.customer@example.com"
CARD = "4111 1111 1111 1111"
BEARER = "Bearer tok_8f2a91c4e5d6b7a8"
SEEDED = (EMAIL, CARD, CARD.replace(" ", ""), "tok_8f2a91c4e5d6b7a8")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log record of the test, as configure_logging writes it (JSON)."""
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, stream=stream, uvicorn=False)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


@contextlib.asynccontextmanager
async def running_client(app: App) -> AsyncIterator[httpx.AsyncClient]:
    """In process; an unexpected error is a 500 response (as a server sends), not raised."""
    async with app.running():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


class Refund(BaseModel):
    email: str
    card: str
    note: str


async def authenticate(token: str | None, headers: Any) -> UserContext:
    if token != "good-token-1":
        raise Unauthenticated("unknown token")
    return UserContext(user="alice", tenant="acme")


def make_app() -> tuple[App, list[Any]]:
    """``/refund`` logs inside a span (stdlib and structlog) and calls ``charge``, which logs
    its arguments; ``explode`` fails with the arguments in its message."""
    app = App(title="logs", durable_store="memory://")
    app.require_auth(authenticate)
    tracer = TracerProvider().get_tracer("tests")
    spans: list[Any] = []

    @app.tool
    async def charge(card: str, email: str, note: str) -> str:
        logging.getLogger("fastagentic.tests.charge").info("charging %s (%s): %s",
                                                           card, email, note)
        return "charged"

    @app.tool
    async def explode(card: str, email: str) -> str:
        raise ValueError(f"cannot charge {card} for {email}")

    @app.agent_endpoint("/refund")
    async def refund(body: Refund, ctx: RunContext) -> str:
        with tracer.start_as_current_span("refund-step") as span:
            spans.append(span.get_span_context())
            logging.getLogger("fastagentic.tests.refund").info("refund for %s", body.email)
            structlog.get_logger("tests.refund").info(
                "refund requested", card=body.card, note=body.note,
                customer={"email": body.email, "password": "hunter22"})
            return await ctx.call_tool("charge", body.model_dump())

    return app, spans


async def test_records_carry_the_correlation_fields_and_never_the_seeded_pii(
        captured: io.StringIO) -> None:
    app, spans = make_app()
    auth = {"Authorization": "Bearer good-token-1"}
    async with running_client(app) as client:
        r = await client.post("/refund", headers=auth,
                              json={"email": EMAIL, "card": CARD, "note": f"use {BEARER}"})
        assert r.status_code == 200, r.text
        run_id = r.json()["run_id"]
        assert r.json()["output"] == "charged"
        boom = await client.post("/tools/explode", headers=auth,
                                 json={"card": CARD, "email": EMAIL})
        assert boom.status_code == 500
        await wait_for(lambda: any(rec.get("logger") == "fastagentic.http"
                                   for rec in records(captured)))
    output = captured.getvalue()
    logged = records(captured)
    (span,) = spans
    trace_id, span_id = format(span.trace_id, "032x"), format(span.span_id, "016x")

    by_event = {rec["event"]: rec for rec in logged}
    native = by_event["refund requested"]
    stdlib = by_event[f"refund for {'[REDACTED]'}"]
    charging = next(rec for rec in logged if rec["event"].startswith("charging "))
    for rec in (native, stdlib, charging):
        assert rec["trace_id"] == trace_id and rec["span_id"] == span_id, rec
        assert rec["run_id"] == run_id, rec
        assert rec["user_id"] == "alice" and rec["tenant_id"] == "acme", rec
        assert rec["level"] == "info"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", rec["timestamp"])
    assert native["logger"] == "tests.refund" and stdlib["logger"] == "fastagentic.tests.refund"
    assert native["card"] == "[REDACTED]"
    assert native["note"] == "use Bearer [REDACTED]"
    assert native["customer"] == {"email": "[REDACTED]", "password": "[REDACTED]"}
    assert charging["event"] == "charging [REDACTED] ([REDACTED]): use Bearer [REDACTED]"
    # The unexpected error's log: its traceback quotes the arguments, redacted.
    failure = next(rec for rec in logged if rec.get("logger") == "fastagentic.http")
    assert failure["level"] == "error" and failure["user_id"] == "alice"
    assert "ValueError: cannot charge [REDACTED] for [REDACTED]" in failure["exception"]
    for secret in (*SEEDED, "hunter22"):
        assert secret not in output, secret


def test_stdlib_and_structlog_records_share_the_json_shape(captured: io.StringIO) -> None:
    logging.getLogger("fastagentic.engine").info("run %s: %s", "run_1", "starting",
                                                 extra={"attempt": 2})
    structlog.get_logger("fastagentic.app").warning("store slow", seconds=1.5)
    first, second = records(captured)
    assert list(first)[:4] == ["timestamp", "level", "logger", "event"]
    assert first["event"] == "run run_1: starting" and first["attempt"] == 2
    assert first["logger"] == "fastagentic.engine" and first["level"] == "info"
    assert list(second)[:4] == ["timestamp", "level", "logger", "event"]
    assert second == {**second, "level": "warning", "logger": "fastagentic.app",
                      "event": "store slow", "seconds": 1.5}
    # Outside any request, run or span: no correlation fields at all.
    assert not {"trace_id", "span_id", "run_id", "user_id", "tenant_id"} & set(first)


def test_a_user_id_that_is_an_email_is_redacted(captured: io.StringIO) -> None:
    from fastagentic.core.context import bind_user, unbind_user

    token = bind_user(UserContext(user="carol@example.com", tenant="acme"))
    try:
        logging.getLogger("fastagentic.x").info("hello")
    finally:
        unbind_user(token)
    (record,) = records(captured)
    assert record["user_id"] == "[REDACTED]" and record["tenant_id"] == "acme"


def test_sampling_keeps_one_in_n_of_the_named_records_and_every_warning() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, stream=stream, uvicorn=False, sample=Sampling(
        every=5, events={"token %s", "chunk"}, loggers={"tests.noisy"}))
    try:
        streaming = logging.getLogger("fastagentic.stream")
        for i in range(12):
            streaming.info("token %s", i)
        streaming.warning("token %s", "late")
        for _ in range(6):
            structlog.get_logger("x").info("chunk", size=3)
        for i in range(3):
            logging.getLogger("tests.noisy.child").info("noise %d", i)
        streaming.info("other %s", 1)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
    kept = [(rec["event"], rec.get("sample_rate")) for rec in records(stream)]
    assert kept == [("token 0", 5), ("token 5", 5), ("token 10", 5), ("token late", None),
                    ("chunk", 5), ("chunk", 5), ("noise 0", 5), ("other 1", None)]


def test_console_format_is_readable_and_redacted_and_configuring_again_replaces() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    configure_logging(json=True, stream=io.StringIO(), uvicorn=False)
    handler = configure_logging(json=False, stream=stream, uvicorn=False)
    try:
        assert [h for h in root.handlers if h not in before] == [handler]
        structlog.get_logger("fastagentic.demo").info("hello world", user_email=EMAIL, n=3)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
    line = stream.getvalue().strip()
    with pytest.raises(ValueError):
        json.loads(line)
    assert "hello world" in line and "[fastagentic.demo]" in line and "n=3" in line
    assert "user_email=[REDACTED]" in line and EMAIL not in line


def test_auto_format_is_json_when_not_a_terminal() -> None:
    stream = io.StringIO()  # not a TTY
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(stream=stream, uvicorn=False)
    try:
        logging.getLogger("fastagentic.x").info("plain")
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()
    assert json.loads(stream.getvalue())["event"] == "plain"


# the redactor

@pytest.mark.parametrize(("pattern", "text"), [
    ("email", "write to alice.smith+test@mail.example.co.uk today"),
    ("card", "card 4111 1111 1111 1111 on file"),
    ("card", "card 4111-1111-1111-1111"),
    ("card", "4012888888881881"),
    ("card", "amex 3782 822463 10005"),
    ("card", "mastercard 5555555555554444 ok"),
    ("card", "order 12 4111111111111111"),
    ("phone", "call +44 20 7946 0958"),
    ("phone", "call +14155550123"),
    ("phone", "call (415) 555-0123 now"),
    ("phone", "call 415-555-0123"),
    ("ssn", "ssn 123-45-6789"),
    ("nino", "NI number AB 12 34 56 C"),
    ("iban", "IBAN GB82 WEST 1234 5698 7654 32"),
    ("iban", "GB82WEST12345698765432"),
    ("bearer", "Authorization: Bearer abc123.def-456"),
    ("jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N"),
    ("api_key", "key sk-proj-abcdefghijklmnop1234"),
    ("api_key", "sk-ant-api03-abcdefghijklmnopqrstuvwx"),
    ("api_key", "stripe sk_live_abcdefghijklmnop1234"),
    ("api_key", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("aws", "AKIAIOSFODNN7EXAMPLE"),
    ("assignment", "password=hunter22"),
    ("assignment", 'config {"client_secret": "s3cr3t"}'),
    ("assignment", "DB_PASSWORD: xyz123"),
    ("url_credentials", "postgres://bob:pa55word@db.host/app"),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
])
def test_each_pattern_finds_its_kind(pattern: str, text: str) -> None:
    only = Redactor(patterns=[pattern])
    assert "[REDACTED]" in only.redact_text(text), (pattern, text)
    assert "[REDACTED]" in redact_text(text)


@pytest.mark.parametrize("text", [
    "run run_0a1b2c3d4e5f60718293a4b5c6d7e8f9 attempt 1",
    "ts 1714567890.123456 ns 1714567890123456789",
    "ip 192.168.100.200 port 5432",
    "2024-01-15T10:00:00.123456Z",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "12345678-1234-1234-1234-123456789012",
    "amount 1234567890123456 cents",       # not a card: no issuer prefix
    "id 4111111111111112",                 # a Visa prefix, but the Luhn check fails
    "pi 3.1415926535897932",
    "version 1.2.3, page 1 of 20, rows 100-200",
    "seq 123456789 and 415 555 0123456",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "max_tokens=512 input_tokens: 57",
    "Basic information about bearer instruments",
    "ssn-like 000-12-3456 and 900-12-3456",
    "high through ghost, task_id=abc123",
    "2 + 3 = 5",
])
def test_ordinary_numbers_and_ids_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_fields_by_name_and_values_at_any_depth() -> None:
    value = {"user": "alice", "Authorization": "Bearer x", "X-Api-Key": "k", "openai_api_key": 1,
             "args": [{"email": EMAIL, "n": 4111111111111111, "ok": 42, "flag": True}],
             "pair": ("password=abc123", 3.5), "nothing": None}
    assert redact_value(value) == {
        "user": "alice", "Authorization": "[REDACTED]", "X-Api-Key": "[REDACTED]",
        "openai_api_key": "[REDACTED]",
        "args": [{"email": "[REDACTED]", "n": "[REDACTED]", "ok": 42, "flag": True}],
        "pair": ("password=[REDACTED]", 3.5), "nothing": None}
    assert value["args"][0]["email"] == EMAIL  # the input is left as it was


def test_a_custom_redactor() -> None:
    custom = Redactor(fields=["order_ref"], replacement="***",
                      patterns=["email", re.compile(r"ACME-\d{6}"),
                                Rule("ticket", re.compile(r"ticket #(?P<secret>\d+)"))])
    assert custom.redact_value({"order_ref": "o-1", "note": "ACME-123456 by a@b.io, ticket #42",
                                "card": CARD}) == {
        "order_ref": "***", "note": "*** by ***, ticket #***", "card": CARD}
    with pytest.raises(ConfigurationError, match="unknown redaction pattern"):
        Redactor(patterns=["emails"])


def test_luhn() -> None:
    assert luhn("4111111111111111") and luhn("79927398713")
    assert not luhn("4111111111111112")
    assert set(PATTERNS) >= {"email", "phone", "card", "ssn", "bearer", "jwt", "api_key", "aws"}
