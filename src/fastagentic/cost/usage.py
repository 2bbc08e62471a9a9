"""Usage aggregates per user and tenant (per UTC day), and the HTTP API over them and the
budgets.

Every ``cost`` event a run records adds its tokens and amount to day counters of the run's
user and tenant in the store (``kv_add``: exact under concurrency, shared by every replica).

* ``GET /usage?from=YYYY-MM-DD&to=YYYY-MM-DD``: the caller's usage, their tenant's, and the
  budgets that apply to them with what is spent; ``?run_id=`` gives one of their runs' usage.
* ``GET /usage?tenant=acme`` / ``?user=tenant/user``: someone else's, for role ``admin``
  (and only within the admin's own tenant, unless the admin has no tenant).
* ``PUT /budgets/{per}/{subject}[?budget=name]`` ``{"usd": 25}`` (role ``admin``): raise or
  lower a budget for one run, user or tenant (``budget=`` names it when several are ``per``
  the same); ``{"usd": null}`` goes back to the configured amount.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..core.context import UserContext
from ..core.runs import RunRecord
from ..exceptions import BadRequest, Forbidden, InvalidInput, NotFound
from ..protocols.http import json_response, user_of
from .budget import PERS, SPENT_NS
from .prices import TOKEN_KINDS, to_nano, to_usd

USAGE_NS = "usage"
KEEP = 400 * 86400
ADMIN_ROLE = "admin"


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


class UsageLedger:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def record(self, run: RunRecord, data: dict[str, Any]) -> None:
        """Add one ``cost`` event to the run's user and tenant counters of today."""
        store = self.app.store
        day = _day(time.time())
        metrics: dict[str, int] = {}
        usd = (data.get("amount") or {}).get("usd")
        if isinstance(usd, int | float) and usd:
            metrics["usd"] = to_nano(usd)
        for kind, value in (data.get("tokens") or {}).items():
            if kind in TOKEN_KINDS and isinstance(value, int) and value:
                metrics[kind] = value
        if not metrics:
            return
        # Concurrent adds: a store that batches writes (SQLite) commits them together.
        await asyncio.gather(*(
            store.kv_add(USAGE_NS, f"{scope}\x1f{day}\x1f{metric}", value, ttl=KEEP)
            for scope in (f"u\x1f{run.principal}", f"t\x1f{run.tenant or '-'}")
            for metric, value in metrics.items()))

    async def total(self, scope: str, start: str, end: str) -> dict[str, Any]:
        totals: dict[str, int] = {}
        prefix = scope + "\x1f"
        for key, value in await self.app.store.kv_list(USAGE_NS, prefix):
            day, _, metric = key[len(prefix):].partition("\x1f")
            if start <= day <= end:
                totals[metric] = totals.get(metric, 0) + int(value)
        return {"usd": to_usd(totals.pop("usd", 0)),
                "tokens": {k: totals.get(k, 0) for k in TOKEN_KINDS if totals.get(k)}}


def _date(value: str | None, name: str, default: str) -> str:
    if not value:
        return default
    try:
        time.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
    return value


def _admin(user: UserContext) -> None:
    if ADMIN_ROLE not in user.roles:
        raise Forbidden(f"this needs the {ADMIN_ROLE!r} role")


def _same_tenant(admin: UserContext, tenant: str | None) -> None:
    if admin.tenant is not None and tenant != admin.tenant:
        raise NotFound("no such tenant")  # another tenant's figures do not exist for you


class UsageApi:
    def __init__(self, app: Any) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        return [Route("/usage", self.usage, methods=["GET"]),
                Route("/budgets/{per}/{subject:path}", self.set_budget, methods=["PUT"])]

    async def usage(self, request: Request) -> Response:
        app = self.app
        caller = user_of(request)
        query = request.query_params
        if query.get("run_id"):
            run = await app.engine.get(query["run_id"], caller)
            return json_response({"run_id": run.id, "usage": run.usage})
        today = _day(time.time())
        end = _date(query.get("to"), "to", today)
        start = _date(query.get("from"), "from", end[:8] + "01")
        if start > end:
            raise BadRequest("from must not be after to")
        principal, tenant, user_name = caller.principal_key, caller.tenant, caller.user
        if query.get("user") or query.get("tenant"):
            _admin(caller)
            if query.get("user"):
                principal = query["user"]
                tenant = principal.split("/", 1)[0] or None if "/" in principal else None
                user_name = principal.split("/", 1)[-1]
            else:
                tenant, principal = query["tenant"], None
            _same_tenant(caller, tenant)
        ledger = app.usage
        out: dict[str, Any] = {"from": start, "to": end, "tenant": tenant}
        if principal is not None:
            out["user"] = user_name
            out["usage"] = await ledger.total(f"u\x1f{principal}", start, end)
        out["tenant_usage"] = await ledger.total(f"t\x1f{tenant or '-'}", start, end)
        out["budgets"] = await self._budgets(principal, tenant)
        return json_response(out)

    async def _budgets(self, principal: str | None, tenant: str | None) -> list[dict[str, Any]]:
        budgets = self.app.budgets
        if budgets is None:
            return []
        probe = RunRecord(id="", endpoint="", status="", input=None,
                          principal=principal or "", tenant=tenant)
        out = []
        now = time.time()
        for budget in budgets.budgets:
            if budget.per == "run" or (budget.per == "user" and principal is None):
                continue
            subject = budget.subject(probe)
            key, _ = budgets.counter_key(budget, subject, now)
            window, ends = budget.window(now)
            spent = int(await self.app.store.kv_get(SPENT_NS, key) or 0)
            out.append({"budget": budget.label, "per": budget.per, "subject": subject,
                        "period": budget.period, "window": window or None,
                        "resets_at": None if ends == float("inf") else ends,
                        "limit_usd": await budgets.limit_usd(budget, subject),
                        "spent_usd": to_usd(spent), "on_exhausted": budget.on_exhausted})
        return out

    async def set_budget(self, request: Request) -> Response:
        caller = user_of(request)
        _admin(caller)
        per, subject = request.path_params["per"], request.path_params["subject"]
        if per not in PERS:
            raise NotFound(f"no budget kind {per!r} (use one of {', '.join(PERS)})")
        budgets = self.app.budgets
        if budgets is None or not any(b.per == per for b in budgets.budgets):
            raise NotFound(f"no {per} budget is configured")
        if per == "tenant":
            _same_tenant(caller, subject)
        elif per == "user":
            _same_tenant(caller, subject.split("/", 1)[0] or None if "/" in subject else None)
        else:
            run = await self.app.engine.get(subject)
            _same_tenant(caller, run.tenant)
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest("the body must be JSON: {\"usd\": number | null}") from None
        usd = body.get("usd", "missing") if isinstance(body, dict) else "missing"
        if usd is not None and (isinstance(usd, bool) or not isinstance(usd, int | float)
                                or usd < 0):
            raise InvalidInput("usd must be a number >= 0, or null to remove the override")
        try:
            budget = await budgets.set_limit(per, subject, usd, request.query_params.get("budget"))
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from None
        return json_response({"budget": budget.label, "per": per, "subject": subject,
                              "limit_usd": usd if usd is not None else budget.usd})
