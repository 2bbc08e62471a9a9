"""``fastagentic test APP``: valid, consistent schemas, and the declared examples run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from ..core.specs import AgentSpec, PromptSpec, ResourceSpec, Spec, ToolSpec


@dataclass
class Finding:
    kind: str
    name: str
    check: str
    ok: bool
    detail: str = ""


def _schema_checks(spec: Spec) -> list[Finding]:
    import jsonschema

    out = []
    for which, make in (("input schema", spec.signature.input_schema),
                        ("output schema", spec.signature.output_schema)):
        try:
            schema = make()
            jsonschema.Draft202012Validator.check_schema(schema)
            out.append(Finding(spec.kind, spec.name, which, True))
        except Exception as exc:  # a schema that cannot be produced or is invalid
            out.append(Finding(spec.kind, spec.name, which, False, str(exc)))
    if not spec.description:
        out.append(Finding(spec.kind, spec.name, "description", False,
                           "no description (clients and models see an empty one)"))
    return out


async def _run_examples(app: Any) -> list[Finding]:
    from ..testing import app_client

    findings = []
    async with app_client(app, durable_store="memory://") as client:
        for spec in app.registry.all():
            for i, example in enumerate(spec.examples, 1):
                label = f"example {i}"
                try:
                    ok, detail = await _run_one(client, spec, example)
                except Exception as exc:
                    ok, detail = False, f"{type(exc).__name__}: {exc}"
                findings.append(Finding(spec.kind, spec.name, label, ok, detail))
    return findings


async def _run_one(client: Any, spec: Spec, example: Any) -> tuple[bool, str]:
    if isinstance(spec, ToolSpec):
        response = await client.post(f"/tools/{spec.name}", json=example.input)
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}: {response.text[:200]}"
        got = response.json()["result"]
    elif isinstance(spec, ResourceSpec):
        response = await client.get(f"/resources/{spec.name}", params=example.input)
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}: {response.text[:200]}"
        got = response.json() if "json" in response.headers.get("content-type", "") \
            else response.text
    elif isinstance(spec, PromptSpec):
        response = await client.post(f"/prompts/{spec.name}", json=example.input)
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}: {response.text[:200]}"
        got = response.json()["messages"]
    elif isinstance(spec, AgentSpec):
        response = await client.post(spec.path, json=example.input)
        if response.status_code != 200:
            return False, f"HTTP {response.status_code}: {response.text[:200]}"
        body = response.json()
        if body["status"] == "input_required":
            return True, "paused for input (as designed)"
        if body["status"] != "completed":
            return False, f"run {body['status']}: {body.get('error')}"
        got = body["output"]
    else:  # pragma: no cover - every kind is handled above
        return False, "unknown kind"
    if example.has_output:
        expected = spec.signature.dump_output(example.output)
        if got != expected:
            return False, f"expected {expected!r}, got {got!r}"
        return True, "output matches"
    return True, "ran"


def check_app(app: Any, console: Console) -> int:
    findings: list[Finding] = []
    for spec in app.registry.all():
        findings.extend(_schema_checks(spec))
    try:
        from ..protocols import openapi

        document = openapi.build(app)
        try:
            from openapi_spec_validator import validate
        except ImportError:
            findings.append(Finding("app", "openapi", "generated", True,
                                    "install fastagentic[test] to validate it too"))
        else:
            validate(document)
            findings.append(Finding("app", "openapi", "OpenAPI 3.1 valid", True))
    except Exception as exc:
        findings.append(Finding("app", "openapi", "OpenAPI 3.1 valid", False, str(exc)))
    findings.extend(asyncio.run(_run_examples(app)))
    table = Table(title=f"{app.settings.title}: {len(app.registry.all())} definitions")
    for column in ("kind", "name", "check", "result", "detail"):
        table.add_column(column)
    failed = 0
    for f in findings:
        # A missing description is a warning, not a failure.
        warn = f.check == "description"
        failed += 0 if (f.ok or warn) else 1
        result = "[green]ok[/green]" if f.ok else ("[yellow]warn[/yellow]" if warn
                                                    else "[red]FAIL[/red]")
        table.add_row(f.kind, f.name, f.check, result, f.detail)
    console.print(table)
    console.print(f"{len(findings) - failed} passed, {failed} failed")
    return 1 if failed else 0
