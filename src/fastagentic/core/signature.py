"""Turn a user function's type hints into validated input and output schemas.

One :class:`CallSignature` per definition: it validates raw JSON (or Python objects) into the
function's arguments before user code runs, and serializes the return value.  The same schemas
feed OpenAPI now and MCP/A2A later.
"""

from __future__ import annotations

import copy
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic.fields import FieldInfo

from ..exceptions import BadRequest, ConfigurationError, InvalidInput
from .context import Injected


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _injected_kind(tp: Any) -> type | None:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, Injected):
        return tp
    return None


def validation_details(exc: ValidationError, prefix: str = "body") -> list[dict[str, Any]]:
    details = []
    for err in exc.errors(include_url=False, include_context=False):
        item = {"loc": [prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        if "input" in err and err["type"] != "missing":
            item["input"] = err["input"]
        details.append(item)
    return details


@dataclass(slots=True)
class CallSignature:
    """How to validate input for, call, and serialize the output of one user function."""

    input_model: type[BaseModel]
    body_param: str | None  # set when the whole body is one model parameter
    params: tuple[str, ...]
    injected: dict[str, type]
    output_type: Any
    output_adapter: TypeAdapter
    #: Derived values computed once (schemas), never mutated by readers.
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        model_name: str,
        input_model: type[BaseModel] | None = None,
        output_type: Any = inspect.Parameter.empty,
    ) -> CallSignature:
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:  # unresolvable forward references
            raise ConfigurationError(f"cannot resolve the type hints of {fn!r}: {exc}") from exc
        sig = inspect.signature(fn)
        fields: dict[str, Any] = {}
        injected: dict[str, type] = {}
        params: list[str] = []
        for name, param in sig.parameters.items():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise ConfigurationError(f"{fn.__qualname__}: *args/**kwargs cannot be described")
            tp = hints.get(name, Any)
            kind = _injected_kind(tp)
            if kind is not None:
                injected[name] = kind
                continue
            params.append(name)
            default = ... if param.default is inspect.Parameter.empty else param.default
            if isinstance(default, FieldInfo):
                fields[name] = (tp, default)
            else:
                fields[name] = (tp, default)
        body_param = None
        if input_model is not None:
            if len(params) > 1:
                raise ConfigurationError(
                    f"{fn.__qualname__}: with input_model= the function takes one argument"
                )
            body_param = params[0] if params else None
        elif len(params) == 1 and _is_model(fields[params[0]][0]):
            # FastAPI's rule: a single model parameter is the whole body.
            body_param = params[0]
            input_model = fields[params[0]][0]
        else:
            # Unknown arguments and non-finite numbers (1e999 overflows to inf) are refused.
            input_model = create_model(
                model_name, __config__=ConfigDict(extra="forbid", allow_inf_nan=False), **fields
            )
        if output_type is inspect.Parameter.empty:
            output_type = hints.get("return", Any)
            if inspect.isasyncgenfunction(fn):
                # An async generator's answer is the text it streams.
                output_type = str
        if output_type is None or output_type is type(None):
            output_type = type(None)
        return cls(
            input_model=input_model,
            body_param=body_param,
            params=tuple(params),
            injected=injected,
            output_type=output_type,
            output_adapter=TypeAdapter(output_type),
        )

    def validate_json(self, raw: bytes | str) -> BaseModel:
        if not raw or (isinstance(raw, bytes) and not raw.strip()):
            raw = b"{}"
        try:
            return self.input_model.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if errors and errors[0]["type"] == "json_invalid":
                raise BadRequest(f"Malformed JSON body: {errors[0]['msg']}") from None
            raise InvalidInput("Invalid arguments", details=validation_details(exc)) from None

    def validate_python(self, data: Any) -> BaseModel:
        if isinstance(data, self.input_model):
            return data
        try:
            return self.input_model.model_validate(data if data is not None else {})
        except ValidationError as exc:
            raise InvalidInput("Invalid arguments", details=validation_details(exc)) from None

    def kwargs(self, model: BaseModel, injections: dict[type, Any] | None = None) -> dict[str, Any]:
        if self.body_param is not None:
            kwargs = {self.body_param: model}
        else:
            kwargs = {name: getattr(model, name) for name in self.params}
        if self.injected:
            injections = injections or {}
            for name, kind in self.injected.items():
                for provided_kind, value in injections.items():
                    if issubclass(provided_kind, kind):
                        kwargs[name] = value
                        break
                else:
                    kwargs[name] = None
        return kwargs

    def dump_output(self, value: Any) -> Any:
        """The JSON-able form of a return value."""
        return self.output_adapter.dump_python(value, mode="json")

    def dump_output_json(self, value: Any) -> bytes:
        return self.output_adapter.dump_json(value)

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (a fresh copy: callers may change it)."""
        if "input" not in self.cache:
            self.cache["input"] = self.input_model.model_json_schema()
        return copy.deepcopy(self.cache["input"])

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of the return value (a fresh copy: callers may change it)."""
        if "output" not in self.cache:
            self.cache["output"] = self.output_adapter.json_schema(mode="serialization")
        return copy.deepcopy(self.cache["output"])

