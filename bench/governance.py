"""Governance overhead: the quickstart ``add`` tool with JWT auth + a Redis rate limit + the
audit log on, vs the same app with all of it off.

Two uvicorn servers of the same app (bench/apps/governed_quickstart.py) run side by side, on
the same kind of store (SQLite by default, so the audit log is durable):

* governed: ``FASTAGENTIC_OIDC_ISSUER/AUDIENCE/JWKS_URL`` (an RS256 issuer served by this
  script on 127.0.0.1: discovery and JWKS), a per-user rate limit counted in Redis
  (``FASTAGENTIC_RATE_LIMIT_STORE=redis://127.0.0.1:6379/15``, a limit never reached) and
  ``FASTAGENTIC_AUDIT=1`` (one hash-chained entry per call);
* plain: the same app and store, nothing configured.

``wrk`` (a separate process) POSTs ``{"a": 2, "b": 3}`` to ``/tools/add`` with a bearer token
minted here, alternating between the servers over several rounds.  Reported: the median
requests/s of each and the ratio governed / plain (goal >= 0.8), with each round's own ratio
for context; and, as a second view of the same runs, each server's CPU time per request (all
its threads, from ``/proc``): a server saturates one core (the GIL), so the ratio of CPU per
request tracks the ratio of requests/s, and the difference is what governance costs a call.
On a shared 2-CPU machine one 5-second run of the same server moves by +-10%, so the default is
five rounds: the median of three still swung by 0.1 between runs.

    .venv/bin/python bench/governance.py [--duration 5] [--rounds 5] [--store sqlite|memory]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import APPS, ROOT, Server, fmt_int, header, median, request, verdict, versions  # noqa: E402
from rest_overhead import interleaved  # noqa: E402

GOAL = 0.8
PATH = "/tools/add"
AUDIENCE = "bench-api"
REDIS = "redis://127.0.0.1:6379/15"


class Issuer:
    """An OIDC issuer on 127.0.0.1: discovery, JWKS, and tokens signed with its RSA key."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "bench-1", "use": "sig", "alg": "RS256"}]}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, subject: str, tenant: str) -> str:
        import jwt

        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": subject, "tenant_id": tenant,
                  "scope": "openid tools", "iat": now, "exp": now + 3600}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-1"})


def check(name: str, server: Server, token: str | None) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, body = request("POST", server.url + PATH, {"a": 2, "b": 3}, headers=headers)
    if status != 200 or json.loads(body) != {"result": 5}:
        raise SystemExit(f"{name}: POST {PATH} answered {status} {body!r}")
    print(f"  check {name:<9} POST {PATH} -> {status} {body.decode()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--parts", default="jwt,ratelimit,audit",
                        help="what the governed server turns on (to see each one's cost)")
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    args = parser.parse_args()
    if not os.path.exists(args.wrk):
        raise SystemExit(f"wrk not found at {args.wrk} (apt-get install wrk)")
    import redis

    redis.Redis.from_url(REDIS).flushdb()  # db 15: this bench's own

    header("Governance overhead: POST /tools/add with JWT + Redis rate limit + audit vs off")
    print(versions("fastagentic", "pyjwt", "limits", "redis", "starlette", "uvicorn"))
    issuer = Issuer()
    token = issuer.token("bench-user", "bench-tenant")
    with tempfile.TemporaryDirectory(prefix="fa-bench-gov-") as tmp:
        def store(name: str) -> str:
            return "memory://" if args.store == "memory" else f"sqlite:///{tmp}/{name}.db"

        parts = set(args.parts.split(","))
        env = {"FASTAGENTIC_DURABLE_STORE": store("g"),
               "BENCH_GOVERNED": "1" if "ratelimit" in parts else "0",
               "FASTAGENTIC_RATE_LIMIT_STORE": REDIS,
               "FASTAGENTIC_AUDIT": "1" if "audit" in parts else "0"}
        if "jwt" in parts:
            env.update(FASTAGENTIC_OIDC_ISSUER=issuer.url, FASTAGENTIC_OIDC_AUDIENCE=AUDIENCE)
        governed = Server("governed", "governed_quickstart:app", APPS, health_path="/health",
                          env=env)
        plain = Server("plain", "governed_quickstart:app", APPS, health_path="/health",
                       env={"BENCH_GOVERNED": "0", "FASTAGENTIC_DURABLE_STORE": store("p")})
        print(f"store: {args.store}; issuer {issuer.url} (RS256, discovery + JWKS)")
        lua = os.path.join(tmp, "post_add.lua")
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = \'{"a": 2, "b": 3}\'\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["Authorization"] = "Bearer {token}"\n')
        with governed, plain:
            status, _ = request("POST", governed.url + PATH, {"a": 2, "b": 3})
            if status != 401 and "jwt" in parts:
                raise SystemExit(f"governed server accepted a call without a token ({status})")
            print("  check governed without a token -> 401")
            check("governed", governed, token)
            check("plain", plain, None)
            print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
                  f"(separate process), warm-up {args.warmup:g}s each, {args.rounds} rounds "
                  "interleaved")
            cpu: dict[str, list[float]] = {}  # CPU per request, where /proc tells it (Linux)
            results = interleaved(args, lua, {"governed": governed, "plain": plain},
                                  cpu if os.path.exists("/proc/self/stat") else None)
        if args.store == "sqlite" and "audit" in parts:  # verify the audit log it kept
            import subprocess

            out = subprocess.run(
                [sys.executable, "-m", "fastagentic", "audit", "verify", "--store",
                 store("g")], capture_output=True, text=True, cwd=ROOT)
            print(f"audit verify (governed store): exit {out.returncode}: "
                  f"{(out.stdout or out.stderr).strip().splitlines()[-1:]}")
    g, p = median(results["governed"]), median(results["plain"])
    ratio = g / p
    rounds = [a / b for a, b in zip(results["governed"], results["plain"], strict=True)]
    print("\neach round's governed / plain: " + ", ".join(f"{r:.3f}" for r in rounds))
    print(f"\nmedian: governed {fmt_int(g)} req/s, plain {fmt_int(p)} req/s")
    if cpu:
        cg, cp = median(cpu["governed"]), median(cpu["plain"])
        print(f"server CPU per request (median): governed {cg:.1f} µs, plain {cp:.1f} µs: "
              f"governance costs {cg - cp:.1f} µs a call; plain / governed {cp / cg:.3f}")
    print(f"ratio governed / plain: {ratio:.3f} (goal >= {GOAL}) {verdict(ratio >= GOAL)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
