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
from pydantic_core import from_json

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
    #: A JSON Schema given as is (``@tool(input_schema=...)``): it is advertised, and the
    #: arguments are validated against it, instead of the type hints.
    raw_schema: dict[str, Any] | None = None
    takes_extra: bool = False
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
        raw_schema: dict[str, Any] | None = None,
    ) -> CallSignature:
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:  # unresolvable forward references
            raise ConfigurationError(f"cannot resolve the type hints of {fn!r}: {exc}") from exc
        sig = inspect.signature(fn)
        fields: dict[str, Any] = {}
        injected: dict[str, type] = {}
        params: list[str] = []
        takes_extra = False
        for name, param in sig.parameters.items():
            if param.kind == param.VAR_KEYWORD and raw_schema is not None:
                takes_extra = True  # the schema describes the arguments
                continue
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
        if raw_schema is not None:
            _check_raw_schema(fn, raw_schema)
            # Validation is the schema's; the model only carries the values to the function.
            input_model = create_model(
                model_name, __config__=ConfigDict(extra="allow"),
                **{name: (Any, None if spec[1] is ... else spec[1])
                   for name, spec in fields.items()})
        elif input_model is not None:
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
            raw_schema=raw_schema,
            takes_extra=takes_extra,
        )

    def validate_json(self, raw: bytes | str) -> BaseModel:
        if not raw or (isinstance(raw, bytes) and not raw.strip()):
            raw = b"{}"
        if self.raw_schema is not None:
            try:
                data = from_json(raw)
            except ValueError as exc:
                raise BadRequest(f"Malformed JSON body: {exc}") from None
            return self.validate_python(data)
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
        if self.raw_schema is not None:
            validate_against_schema(self.raw_schema, {} if data is None else data)
            return self.input_model.model_validate(data if data is not None else {})
        try:
            return self.input_model.model_validate(data if data is not None else {})
        except ValidationError as exc:
            raise InvalidInput("Invalid arguments", details=validation_details(exc)) from None

    def kwargs(self, model: BaseModel, injections: dict[type, Any] | None = None) -> dict[str, Any]:
        if self.body_param is not None:
            kwargs = {self.body_param: model}
        else:
            kwargs = {name: getattr(model, name) for name in self.params}
            if self.raw_schema is not None:
                # Only the arguments the caller gave (the function's defaults apply otherwise).
                given = model.model_fields_set | set(model.model_extra or {})
                kwargs = {k: v for k, v in kwargs.items() if k in given}
                if self.takes_extra:
                    kwargs.update(model.model_extra or {})
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
        if self.raw_schema is not None:
            return copy.deepcopy(self.raw_schema)
        if "input" not in self.cache:
            self.cache["input"] = self.input_model.model_json_schema()
        return copy.deepcopy(self.cache["input"])

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of the return value (a fresh copy: callers may change it)."""
        if "output" not in self.cache:
            self.cache["output"] = self.output_adapter.json_schema(mode="serialization")
        return copy.deepcopy(self.cache["output"])



def _check_raw_schema(fn: Callable[..., Any], schema: dict[str, Any]) -> None:
    import jsonschema

    if schema.get("type") != "object":
        raise ConfigurationError(f"{fn.__qualname__}: input_schema must be an object schema")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ConfigurationError(f"{fn.__qualname__}: invalid input_schema: {exc.message}"
                                 ) from None


def validate_against_schema(schema: dict[str, Any], data: Any,
                            message: str = "Invalid arguments") -> None:
    """JSON Schema 2020-12 validation; failures are ``InvalidInput`` with FastAPI-shaped
    details (``loc``, ``msg``, ``type``)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidInput(message, details=[
            {"loc": ["body", *e.absolute_path], "msg": e.message, "type": e.validator}
            for e in errors])
