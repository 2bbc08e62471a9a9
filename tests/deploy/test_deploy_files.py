"""The deployment files, checked without Docker or a cluster (neither runs on this machine).

The Dockerfile is parsed into stages and instructions; the compose file and the Helm chart's
Chart.yaml and values.yaml are loaded as YAML; every ``.Values`` path a chart template reads must
exist in values.yaml.  Rendering the chart is in test_helm_render.py (it needs ``helm``).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "deploy" / "compose.yaml"
CHART = ROOT / "deploy" / "helm" / "fastagentic"


# -- Dockerfile -------------------------------------------------------------------------------

def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order: comments dropped, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def stages(text: str) -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """The global ``ARG`` defaults and the build stages (each starting with its FROM)."""
    args: dict[str, str] = {}
    found: list[list[tuple[str, str]]] = []
    for keyword, value in instructions(text):
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, value))
        elif keyword == "ARG":
            name, _, default = value.partition("=")
            args[name] = default
    return args, found


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed), value
    return parsed


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, POSIX) out of the build context."""
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")], "exceptions are not modelled here"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        anywhere = pattern.startswith("**/")
        bare = pattern[3:] if anywhere else pattern
        for prefix in prefixes:
            candidates = [prefix]
            if anywhere:
                segments = prefix.split("/")
                candidates = ["/".join(segments[i:]) for i in range(len(segments))]
            if any(fnmatch.fnmatchcase(c, bare) for c in candidates):
                return True
    return False


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    args, found = stages(DOCKERFILE.read_text())
    assert len(found) >= 2, "a build stage and a runtime stage"
    for stage in found:
        base = stage[0][1].split(" AS ")[0].split(" as ")[0].strip()
        base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert base == "python:3.11-slim"
    final = found[-1]
    copies = [value for keyword, value in final if keyword == "COPY"]
    assert any(c.startswith("--from=build ") and "/opt/venv" in c for c in copies), copies
    assert not any(keyword == "ADD" for stage in found for keyword, _ in stage), \
        "COPY only: nothing fetched from URLs or unpacked implicitly"


def test_dockerfile_installs_the_built_wheel_with_the_store_extras() -> None:
    _, found = stages(DOCKERFILE.read_text())
    build = " ".join(value for keyword, value in found[0] if keyword == "RUN")
    assert "pip wheel" in build
    match = re.search(r'"fastagentic\[([\w,]+)\] @ file://\$\{wheel\}"', build)
    assert match, build
    extras = set(match.group(1).split(","))
    assert extras == {"redis", "postgres", "s3"}
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert extras <= set(declared["optional-dependencies"])
    assert declared["scripts"]["fastagentic"], "the ENTRYPOINT's console script"


def test_final_stage_runs_unprivileged_without_build_tools() -> None:
    _, found = stages(DOCKERFILE.read_text())
    final = found[-1]
    keywords = [keyword for keyword, _ in final]
    assert "USER" in keywords
    user = [value for keyword, value in final if keyword == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0", "")
    last_run = max(i for i, k in enumerate(keywords) if k == "RUN")
    assert keywords.index("USER") > last_run, "USER after every install step"
    assert max(i for i, k in enumerate(keywords) if k == "COPY") < keywords.index("USER")
    runs = " ".join(value for keyword, value in final if keyword == "RUN")
    for tool in ("apt-get install", "gcc", "build-essential", "pip install", "curl", "wget"):
        assert tool not in runs, f"{tool} in the runtime stage"


def test_final_stage_serves_fastagentic_with_a_python_healthcheck() -> None:
    _, found = stages(DOCKERFILE.read_text())
    final = dict((keyword, value) for keyword, value in found[-1])
    assert final["EXPOSE"].split() == ["8000"]
    assert exec_form(final["ENTRYPOINT"]) == ["fastagentic"]
    cmd = exec_form(final["CMD"])
    assert cmd[:2] == ["run", "app.py"]
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--port") + 1] == "8000"
    check = final["HEALTHCHECK"]
    assert "CMD" in check and "curl" not in check and "wget" not in check
    probe = exec_form(check[check.index("CMD") + 3:].strip())
    assert probe[0] == "python"
    assert "http://127.0.0.1:8000/health/live" in probe[-1]


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    _, found = stages(DOCKERFILE.read_text())
    args = {value.partition("=")[0]: value.partition("=")[2]
            for stage in found for keyword, value in stage if keyword == "ARG"}
    sources = []
    for stage in found:
        for keyword, value in stage:
            if keyword == "COPY" and not value.startswith("--from="):
                parts = [p for p in shlex.split(value) if not p.startswith("--")]
                sources += parts[:-1]
    sources = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], s) for s in sources]
    assert {"pyproject.toml", "README.md", "src", "examples/quickstart/app.py"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source), f"{source} is excluded by .dockerignore"
    for kept_out in (".git", ".venv", ".fastagentic/fastagentic.db", "tests/conftest.py",
                     "src/fastagentic/__pycache__/app.cpython-311.pyc", "examples/x/.env"):
        assert dockerignored(kept_out), kept_out


# -- compose ----------------------------------------------------------------------------------

def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def interpolated_default(value: str) -> str:
    """``${NAME:-default}`` as Compose reads it with NAME unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_compose_has_api_worker_migrate_and_the_two_stores() -> None:
    services = compose()["services"]
    assert {"api", "worker", "migrate", "postgres", "redis"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    for name in ("postgres", "redis", "api", "worker"):
        test = services[name]["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
    build = services["api"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert (ROOT / interpolated_default(build["args"]["APP"])).is_file()


def test_compose_commands_and_start_order() -> None:
    services = compose()["services"]
    api, worker, migrate = services["api"]["command"], services["worker"]["command"], \
        services["migrate"]["command"]
    assert api[0] == "run" and "--no-worker" in api
    assert api[api.index("--host") + 1] == "0.0.0.0"
    assert worker[0] == "worker" and worker[worker.index("--concurrency") + 1] == "16"
    assert migrate[:2] == ["store", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_probes_and_drain() -> None:
    services = compose()["services"]
    api, worker = services["api"], services["worker"]
    assert "/health/ready" in api["healthcheck"]["test"][-1]
    port = worker["command"][worker["command"].index("--health-port") + 1]
    assert f"http://127.0.0.1:{port}/health/ready" in worker["healthcheck"]["test"][-1]
    drain = float(worker["command"][worker["command"].index("--drain") + 1])
    grace = worker["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > drain
    for name in ("api", "worker", "migrate"):
        assert services[name]["read_only"] is True and "/tmp" in services[name]["tmpfs"]


def test_compose_store_urls_point_at_its_services() -> None:
    services = compose()["services"]
    env = services["api"]["environment"]
    assert services["worker"]["environment"] == env
    durable = interpolated_default(env["FASTAGENTIC_DURABLE_STORE"])
    assert re.match(r"postgresql://\w+:[^@]+@postgres:5432/\w+$", durable), durable
    assert env["FASTAGENTIC_RATE_LIMIT_STORE"].startswith("redis://redis:6379/")
    migrate = services["migrate"]["command"]
    assert migrate[migrate.index("--store") + 1] == env["FASTAGENTIC_DURABLE_STORE"]
    postgres = services["postgres"]["environment"]
    user, password = re.match(r"postgresql://(\w+):([^@]+)@", durable).groups()
    assert postgres["POSTGRES_USER"] == user
    assert interpolated_default(postgres["POSTGRES_PASSWORD"]) == password


# -- Helm chart -------------------------------------------------------------------------------

def values() -> dict[str, Any]:
    loaded = yaml.safe_load((CHART / "values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def has_path(tree: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "fastagentic" and chart["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart["appVersion"] == declared


def test_templates_read_only_values_that_exist() -> None:
    tree = values()
    templates = sorted((CHART / "templates").glob("*"))
    assert templates
    checked = 0
    for template in templates:
        text = template.read_text()
        for match in re.finditer(r"\.Values((?:\.[A-Za-z_]\w*)+)", text):
            path = match.group(1).lstrip(".").split(".")
            assert has_path(tree, path), f"{template.name}: .Values.{'.'.join(path)}"
            checked += 1
        # hpa.yaml and pdb.yaml: `$values := index $.Values $component` for api and worker
        for match in re.finditer(r"\$values((?:\.[A-Za-z_]\w*)+)", text):
            path = match.group(1).lstrip(".").split(".")
            for component in ("api", "worker"):
                assert has_path(tree, [component, *path]), \
                    f"{template.name}: .Values.{component}.{'.'.join(path)}"
                checked += 1
    assert checked > 50


def test_chart_has_every_piece() -> None:
    names = {p.name for p in (CHART / "templates").iterdir()}
    assert {"_helpers.tpl", "NOTES.txt"} <= names
    text = {name: (CHART / "templates" / name).read_text() for name in names}
    kinds = {kind for body in text.values() for kind in re.findall(r"^kind: (\w+)", body, re.M)}
    assert kinds == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
                     "Secret", "Job", "ServiceAccount"}
    assert "apiVersion: autoscaling/v2\n" in text["hpa.yaml"]
    assert "apiVersion: policy/v1\n" in text["pdb.yaml"]
    assert "helm.sh/hook: pre-install,pre-upgrade" in text["migrate-job.yaml"]
    for name in ("api-deployment.yaml", "worker-deployment.yaml"):
        body = text[name]
        assert "path: /health/ready" in body and "path: /health/live" in body, name
        assert "mountPath: /tmp" in body and "terminationGracePeriodSeconds" in body, name


def test_values_are_safe_by_default() -> None:
    tree = values()
    assert tree["podSecurityContext"]["runAsNonRoot"] is True
    assert tree["podSecurityContext"]["runAsUser"] != 0
    assert tree["securityContext"]["readOnlyRootFilesystem"] is True
    assert tree["securityContext"]["allowPrivilegeEscalation"] is False
    worker = tree["worker"]
    assert worker["terminationGracePeriodSeconds"] > worker["drainSeconds"]
    for component in ("api", "worker"):
        assert tree[component]["resources"]["requests"], component
        assert tree[component]["autoscaling"]["enabled"] is True, component
        assert tree[component]["pdb"]["enabled"] is True, component
    assert tree["secret"]["durableStore"] == "", "no store URL (nor password) in the chart"
