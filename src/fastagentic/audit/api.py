"""``GET /audit``: the audit log for callers with role ``admin``.

Query: ``after_seq`` (entries after it), ``since`` (ISO 8601), ``action`` (repeatable; shell
patterns such as ``budget.*``), ``limit`` (1-1000, default 100).  The answer is
``{"entries": [...], "next_after_seq": N | null}``: pass ``next_after_seq`` back for the next
page (null: no more).  An admin of a tenant sees that tenant's entries only; an admin without
a tenant sees every entry.  Each read is itself recorded (``audit.read``).  404 while the audit
log is off.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import Forbidden, NotFound
from ..protocols.http import int_param, json_response, user_of
from .reader import Filter, entries

ADMIN_ROLE = "admin"


class AuditApi:
    def __init__(self, app: Any) -> None:
        self.app = app

    def routes(self) -> list[Route]:
        return [Route("/audit", self.read, methods=["GET"])]

    async def read(self, request: Request) -> Response:
        app = self.app
        if not app.audit.enabled:
            raise NotFound("the audit log is off (App(audit=True) or FASTAGENTIC_AUDIT=1)")
        caller = user_of(request)
        query = request.query_params
        where = Filter(after_seq=int_param(query.get("after_seq"), "after_seq", default=0),
                       since=query.get("since") or None,
                       actions=tuple(query.getlist("action")))
        limit = int_param(query.get("limit"), "limit", default=100, minimum=1, maximum=1000)
        context = {"transport": "rest", "after_seq": where.after_seq, "limit": limit,
                   "since": query.get("since"), "actions": list(where.actions)}
        if ADMIN_ROLE not in caller.roles:
            await app.audit.record("audit.read", actor=caller, decision="deny",
                                   reason=f"needs the {ADMIN_ROLE!r} role", context=context)
            raise Forbidden(f"reading the audit log needs the {ADMIN_ROLE!r} role")
        found: list[dict[str, Any]] = []
        more = False
        async for entry in entries(app.store, where):
            if caller.tenant is not None and (entry.get("actor") or {}).get("tenant") \
                    != caller.tenant:
                continue
            if len(found) == limit:
                more = True
                break
            found.append(entry)
        await app.audit.record("audit.read", actor=caller, context=context)
        return json_response({"entries": found,
                              "next_after_seq": found[-1]["seq"] if more else None})
