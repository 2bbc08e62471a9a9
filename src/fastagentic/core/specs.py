"""One spec per definition.  Every protocol view is generated from these."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from ..exceptions import ConfigurationError
from .signature import CallSignature

if TYPE_CHECKING:
    from ..adapters.base import BaseAdapter

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
TEMPLATE_VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class Example:
    """A declared example: an input and, optionally, the output it must produce."""

    input: dict[str, Any]
    output: Any = inspect.Parameter.empty

    @property
    def has_output(self) -> bool:
        return self.output is not inspect.Parameter.empty


def _examples(raw: list[Any] | None) -> tuple[Example, ...]:
    out = []
    for item in raw or ():
        if isinstance(item, Example):
            out.append(item)
        elif isinstance(item, dict):
            out.append(Example(input=item))
        else:
            raise ConfigurationError(f"an example must be a dict or Example, got {item!r}")
    return tuple(out)


def _check_name(kind: str, name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigurationError(
            f"invalid {kind} name {name!r}: use 1-128 letters, digits, '_', '-' or '.'"
        )
    return name


def _describe(fn: Callable[..., Any], description: str | None) -> str:
    if description is not None:
        return description
    return inspect.cleandoc(fn.__doc__ or "")


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_.\-]+", name) if part)


@dataclass(slots=True)
class Spec:
    kind: str = field(init=False, default="")
    name: str
    title: str | None
    description: str
    fn: Callable[..., Any]
    signature: CallSignature
    tags: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    icons: tuple[dict[str, Any], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    #: With authentication configured: the caller needs every one of these scopes ...
    scopes: tuple[str, ...] = ()
    #: ... and at least one of these roles (none listed: any role).
    roles: tuple[str, ...] = ()
    #: Callable without credentials (its REST routes are public; a caller who sends
    #: credentials is still identified).
    public: bool = False


TASK_SUPPORT = ("forbidden", "optional", "required")


@dataclass(slots=True)
class ToolSpec(Spec):
    annotations: dict[str, Any] = field(default_factory=dict)
    #: Whether MCP clients may (``optional``), must or must not (``forbidden``, the default,
    #: as in MCP) run it as a task.
    task_support: str = "forbidden"

    def __post_init__(self) -> None:
        self.kind = "tool"


Completer = Callable[[str], Any]  # value typed so far -> candidates (or an awaitable of them)


@dataclass(slots=True)
class ResourceSpec(Spec):
    uri: str = ""
    mime_type: str | None = None
    #: Argument completion: a list of values, or a function of the typed prefix.
    completions: dict[str, list[str] | Completer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = "resource"

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(TEMPLATE_VAR_RE.findall(self.uri))

    @property
    def is_template(self) -> bool:
        return bool(self.variables)


@dataclass(slots=True)
class PromptSpec(Spec):
    completions: dict[str, list[str] | Completer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.kind = "prompt"


@dataclass(frozen=True, slots=True)
class Skill:
    """How an agent endpoint appears in the A2A agent card (``@agent_endpoint(a2a_skill=...)``).

    Unset fields come from the endpoint: ``id`` its name, ``name`` its title, ``description``
    its docstring, ``tags`` and ``examples`` its tags and examples.  ``public=False`` lists the
    skill only on the extended card (authenticated callers).
    """

    id: str | None = None
    name: str | None = None
    description: str | None = None
    tags: tuple[str, ...] | list[str] | None = None
    examples: tuple[str, ...] | list[str] | None = None
    input_modes: tuple[str, ...] | list[str] | None = None
    output_modes: tuple[str, ...] | list[str] | None = None
    public: bool = True


RESERVED_SKILL_IDS = frozenset({"tasks", "v1", "extendedAgentCard", "card", ".well-known"})


@dataclass(slots=True)
class AgentSpec(Spec):
    path: str = ""
    adapter: BaseAdapter | None = None
    stream: bool = True
    durable: bool = True
    mcp_tool: str | None = None
    a2a_skill: Skill = field(default_factory=Skill)
    default: bool = False

    @property
    def skill_id(self) -> str:
        return self.a2a_skill.id or self.name

    def __post_init__(self) -> None:
        self.kind = "agent"


class CommonOptions(TypedDict, total=False):
    """Options every decorator takes."""

    name: str | None
    title: str | None
    description: str | None
    tags: list[str] | None
    examples: list[Any] | None
    icons: list[dict[str, Any]] | None
    meta: dict[str, Any] | None
    scopes: list[str] | None
    roles: list[str] | None
    public: bool


def _common(kind: str, fn: Callable[..., Any], options: CommonOptions,
            default_name: str | None = None) -> dict[str, Any]:
    unknown = set(options) - set(CommonOptions.__annotations__)
    if unknown:
        raise ConfigurationError(f"unknown {kind} option(s): {', '.join(sorted(unknown))}")
    return {
        "name": _check_name(kind, options.get("name") or default_name or fn.__name__),
        "title": options.get("title"),
        "description": _describe(fn, options.get("description")),
        "fn": fn,
        "tags": tuple(options.get("tags") or ()),
        "examples": _examples(options.get("examples")),
        "icons": tuple(options.get("icons") or ()),
        "meta": dict(options.get("meta") or {}),
        "scopes": _names(kind, "scopes", options.get("scopes")),
        "roles": _names(kind, "roles", options.get("roles")),
        "public": bool(options.get("public", False)),
    }


def _names(kind: str, option: str, values: Any) -> tuple[str, ...]:
    """``scopes=``/``roles=``: a list of non-empty strings without spaces."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out = tuple(values)
    for value in out:
        if not isinstance(value, str) or not value or any(c.isspace() for c in value):
            raise ConfigurationError(f"{kind} {option}= takes names without spaces, got "
                                     f"{value!r}")
    return out


def make_tool(
    fn: Callable[..., Any],
    *,
    annotations: dict[str, Any] | None = None,
    task_support: str = "forbidden",
    input_schema: dict[str, Any] | None = None,
    **options: Unpack[CommonOptions],
) -> ToolSpec:
    common = _common("tool", fn, options)
    if task_support not in TASK_SUPPORT:
        raise ConfigurationError(f"task_support must be one of {', '.join(TASK_SUPPORT)}")
    signature = CallSignature.from_function(fn, model_name=f"{_camel(common['name'])}Input",
                                            raw_schema=input_schema)
    return ToolSpec(**common, signature=signature, annotations=dict(annotations or {}),
                    task_support=task_support)


def make_resource(
    fn: Callable[..., Any],
    uri: str | None = None,
    *,
    mime_type: str | None = None,
    complete: dict[str, list[str] | Completer] | None = None,
    **options: Unpack[CommonOptions],
) -> ResourceSpec:
    common = _common("resource", fn, options)
    name = common["name"]
    signature = CallSignature.from_function(fn, model_name=f"{_camel(name)}Params")
    if uri is None:
        uri = f"resource://{name}" + "".join(f"/{{{p}}}" for p in signature.params)
    variables = TEMPLATE_VAR_RE.findall(uri)
    if set(variables) != set(signature.params):
        raise ConfigurationError(
            f"resource {name!r}: URI template variables {sorted(variables)} must match the "
            f"function's parameters {sorted(signature.params)}"
        )
    return ResourceSpec(**common, signature=signature, uri=uri, mime_type=mime_type,
                        completions=_completions("resource", name, complete, variables))


def make_prompt(fn: Callable[..., Any], *,
                complete: dict[str, list[str] | Completer] | None = None,
                **options: Unpack[CommonOptions]) -> PromptSpec:
    common = _common("prompt", fn, options)
    signature = CallSignature.from_function(fn, model_name=f"{_camel(common['name'])}Arguments")
    return PromptSpec(**common, signature=signature,
                      completions=_completions("prompt", common["name"], complete,
                                               signature.params))


def _completions(kind: str, name: str, complete: dict[str, Any] | None,
                 arguments: Any) -> dict[str, Any]:
    for argument, source in (complete or {}).items():
        if argument not in arguments:
            raise ConfigurationError(f"{kind} {name!r}: complete= names {argument!r}, which "
                                     f"is not one of its arguments {sorted(arguments)}")
        if not (callable(source) or isinstance(source, list | tuple)):
            raise ConfigurationError(f"{kind} {name!r}: complete[{argument!r}] must be a list "
                                     "or a function of the typed prefix")
    return dict(complete or {})


def make_agent(
    fn: Callable[..., Any],
    path: str,
    *,
    runnable: BaseAdapter | None = None,
    input_model: Any = None,
    output_model: Any = inspect.Parameter.empty,
    stream: bool = True,
    durable: bool = True,
    mcp_tool: str | None = None,
    a2a_skill: str | Skill | None = None,
    default: bool = False,
    **options: Unpack[CommonOptions],
) -> AgentSpec:
    from ..adapters.base import BaseAdapter
    from ..adapters.function import FunctionAdapter

    if not path.startswith("/") or path.endswith("/") or "{" in path:
        raise ConfigurationError(f"agent endpoint path {path!r} must look like '/chat'")
    common = _common("agent", fn, options, default_name=path.strip("/").replace("/", "_"))
    name = common["name"]
    signature = CallSignature.from_function(
        fn, model_name=f"{_camel(name)}Input", input_model=input_model, output_type=output_model
    )
    if runnable is None:
        adapter: BaseAdapter = FunctionAdapter(fn, signature)
    elif isinstance(runnable, BaseAdapter):
        adapter = runnable
    else:
        raise ConfigurationError(
            f"agent {name!r}: runnable= must be an adapter (a BaseAdapter), got {type(runnable)!r}"
        )
    if a2a_skill is None:
        skill = Skill()
    elif isinstance(a2a_skill, str):
        skill = Skill(id=a2a_skill)
    elif isinstance(a2a_skill, Skill):
        skill = a2a_skill
    else:
        raise ConfigurationError(f"agent {name!r}: a2a_skill= must be a skill id or a Skill")
    skill_id = skill.id or name
    if skill_id in RESERVED_SKILL_IDS or not NAME_RE.match(skill_id) or ":" in skill_id:
        raise ConfigurationError(
            f"agent {name!r}: {skill_id!r} cannot be an A2A skill id (it must be a valid name "
            f"and not one of {', '.join(sorted(RESERVED_SKILL_IDS))})")
    return AgentSpec(**common, signature=signature, path=path, adapter=adapter, stream=stream,
                     durable=durable, mcp_tool=mcp_tool, a2a_skill=skill, default=default)
