"""The texts a guardrail is shown at each hook point, and how a rewrite is put back.

* ``on_request``: every string in the call's arguments (role ``user``), nested ones included.
* ``on_llm_start``: the text of the prompt's messages, with their roles: system prompts and
  instructions (``system``), user prompts and retry prompts (``user``), the strings in tool
  returns (``tool``) and earlier answers of the model (``assistant``).  PydanticAI messages
  (``parts``), LangChain messages (``type``) and chat-completion messages (``role``) are read.
* ``on_llm_end``: the text parts of the model's response (``assistant``), or the response
  itself when it is a string.
* ``on_response``: every string in the result (``assistant``); a Pydantic model result is
  read as its fields and built again when one of them is rewritten.

Images, files, tool call arguments and thinking parts are not texts here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

#: PydanticAI part kinds that carry text, and the chat role of each.
_PART_ROLES = {
    "system-prompt": "system",
    "user-prompt": "user",
    "retry-prompt": "user",
    "tool-return": "tool",
    "builtin-tool-return": "tool",
    "text": "assistant",
}
#: LangChain message types, and the chat role of each.
_TYPE_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool",
               "function": "tool"}


@dataclass(slots=True)
class Segment:
    """One text of a hook point: its chat ``role`` (``system``, ``user``, ``assistant`` or
    ``tool``) and the ``text``.  A guardrail's rewrite replaces it where it was found."""

    role: str
    text: str
    _put: Callable[[str], None] = field(repr=False, compare=False)

    def replace(self, text: str) -> None:
        self._put(text)
        self.text = text


def segments(hook: str, data: dict[str, Any]) -> list[Segment]:
    """The texts of ``data``, the payload of the hook point ``hook`` (see the module)."""
    if hook == "on_request":
        return list(_strings(data, "arguments", "user"))
    if hook == "on_llm_start":
        return list(_prompt(data.get("messages")))
    if hook == "on_llm_end":
        return list(_response(data))
    if hook == "on_response":
        return list(_result(data))
    return []


def _strings(container: Any, key: Any, role: str) -> Iterator[Segment]:
    """Every string in ``container[key]``, at any depth of dicts and lists."""
    value = container[key]
    if isinstance(value, str):
        yield Segment(role, value, _setter(container, key))
    elif isinstance(value, dict):
        for inner in list(value):
            yield from _strings(value, inner, role)
    elif isinstance(value, list):
        for index in range(len(value)):
            yield from _strings(value, index, role)


def _setter(container: Any, key: Any) -> Callable[[str], None]:
    def put(text: str) -> None:
        container[key] = text

    return put


def _prompt(messages: Any) -> Iterator[Segment]:
    if not isinstance(messages, list):
        return
    for message in messages:
        if isinstance(message, list):  # LangChain: one list of messages per prompt
            yield from _prompt(message)
        elif isinstance(message, dict):
            if isinstance(message.get("parts"), list):
                yield from _pydantic_ai_message(message)
            else:
                role = message.get("role") if isinstance(message.get("role"), str) else \
                    _TYPE_ROLES.get(message.get("type"), "user")
                yield from _content(message, "content", role)


def _pydantic_ai_message(message: dict[str, Any]) -> Iterator[Segment]:
    if isinstance(message.get("instructions"), str):
        yield Segment("system", message["instructions"], _setter(message, "instructions"))
    for part in message["parts"]:
        if not isinstance(part, dict):
            continue
        kind = part.get("part_kind")
        role = _PART_ROLES.get(kind)
        if role is None or "content" not in part:
            continue
        if role == "tool":  # what a tool returned: any JSON, its strings are text
            yield from _strings(part, "content", role)
        else:
            yield from _content(part, "content", role)


def _content(holder: dict[str, Any], key: str, role: str) -> Iterator[Segment]:
    """A message's content: a string, or a list of strings and typed items of which the
    ``{"type": "text", "text": ...}`` ones are text."""
    content = holder.get(key)
    if isinstance(content, str):
        yield Segment(role, content, _setter(holder, key))
    elif isinstance(content, list):
        for index, item in enumerate(content):
            if isinstance(item, str):
                yield Segment(role, item, _setter(content, index))
            elif isinstance(item, dict) and item.get("type") == "text" and \
                    isinstance(item.get("text"), str):
                yield Segment(role, item["text"], _setter(item, "text"))


def _response(data: dict[str, Any]) -> Iterator[Segment]:
    response = data.get("response")
    if isinstance(response, str):
        yield Segment("assistant", response, _setter(data, "response"))
        return
    parts = response.get("parts") if isinstance(response, dict) else \
        getattr(response, "parts", None)
    for part in parts or ():
        if isinstance(part, dict):
            if part.get("part_kind") == "text" and isinstance(part.get("content"), str):
                yield Segment("assistant", part["content"], _setter(part, "content"))
        elif getattr(part, "part_kind", None) == "text" and \
                isinstance(getattr(part, "content", None), str):
            yield Segment("assistant", part.content, _attribute_setter(part, "content"))


def _attribute_setter(holder: Any, name: str) -> Callable[[str], None]:
    def put(text: str) -> None:
        setattr(holder, name, text)

    return put


def _result(data: dict[str, Any]) -> Iterator[Segment]:
    result = data.get("result")
    if not isinstance(result, BaseModel):
        yield from _strings(data, "result", "assistant")
        return
    # A model's fields, as a dict; a rewrite builds the model again from it.
    fields = {"value": result.model_dump()}
    model = type(result)
    for segment in _strings(fields, "value", "assistant"):
        segment._put = _rebuilding(segment._put, data, fields, model)
        yield segment


def _rebuilding(put: Callable[[str], None], data: dict[str, Any], fields: dict[str, Any],
                model: type[BaseModel]) -> Callable[[str], None]:
    def rebuild(text: str) -> None:
        put(text)
        data["result"] = model.model_validate(fields["value"])

    return rebuild


__all__ = ["Segment", "segments"]
