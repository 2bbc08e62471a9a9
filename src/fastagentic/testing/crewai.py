"""A scripted, offline CrewAI LLM for tests and examples (no network, no API key).

CrewAI drives it with its text (ReAct) protocol.  Each reply is chosen by the number of
assistant messages already in the agent's conversation (the first reply answers a conversation
with none), from ``script`` (one list for every agent, or a list per agent role) or from a
function of the messages::

    llm = ScriptedLLM(model="scripted-research", script=[
        {"tool": "lookup", "args": {"q": "pricing"}},   # reply 1: use a tool
        "Pricing starts at $10.",                       # reply 2: the final answer
    ])
    llm = ScriptedLLM(script={"Researcher": [...], "Writer": ["A short text."]})
    llm = ScriptedLLM(respond=lambda messages, role: "Done.")

A reply is a string (the final answer) or a tool call ``{"tool": name, "args": {...}}``.  It is
streamed word by word as CrewAI ``LLMStreamChunkEvent``s and reported with token usage (input
tokens estimated as characters / 4, output tokens = chunks), like CrewAI's own providers.

The choice depends only on the conversation, never on state kept in the object, so a copy of
the LLM (CrewAI copies agents and their LLMs) or a fresh one put back on every agent after a
resume answers exactly as the original would.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from ..exceptions import MissingDependency

try:
    from crewai.events.types.llm_events import LLMCallType
    from crewai.llms.base_llm import BaseLLM, llm_call_context
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency(
        'ScriptedLLM needs CrewAI: pip install "fastagentic[crewai]"') from exc

Reply = str | dict[str, Any]

_WORDS = re.compile(r"\s*\S+|\s+")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(str(b.get("text", "")) if isinstance(b, dict) else str(b)
                       for b in content)
    return "" if content is None else str(content)


def react(reply: Reply) -> str:
    """A reply in CrewAI's text protocol: a tool call (``Action`` / ``Action Input``) or a
    ``Final Answer``."""
    if isinstance(reply, dict):
        name = reply["tool"]
        return (f"Thought: I should use the {name} tool\nAction: {name}\n"
                f"Action Input: {json.dumps(reply.get('args') or {})}")
    return f"Thought: I now know the final answer\nFinal Answer: {reply}"


class ScriptedLLM(BaseLLM):
    """Replies from ``script`` (by turn, optionally per agent role) or ``respond``."""

    # A plain "base" type: CrewAI's own checkpoints can load it (it refuses unknown types).
    llm_type: str = "base"
    model: str = "scripted"
    provider: str = "scripted"
    script: list[Any] | dict[str, list[Any]] = Field(default_factory=list)
    #: ``respond(messages, agent_role) -> Reply``; wins over ``script``.
    respond: Callable[[list[dict[str, Any]], str | None], Reply] | None = Field(
        default=None, exclude=True)
    #: Seconds to wait before each streamed chunk (to make streams observable in tests).
    delay: float = 0.0
    context_window: int = 1_000_000

    def supports_function_calling(self) -> bool:
        return False  # CrewAI then uses its text (ReAct) protocol

    def supports_stop_words(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        return self.context_window

    def get_input_tokens_count(self, messages: Any, tools: Any = None,
                               response_model: Any = None) -> int:
        return (len(self._prompt(messages)) + 3) // 4

    @staticmethod
    def _prompt(messages: Any) -> str:
        if isinstance(messages, str):
            return messages
        return "\n".join(_text(m.get("content")) for m in messages)

    def reply_for(self, messages: list[dict[str, Any]], role: str | None) -> Reply:
        """The scripted reply to a conversation (of the agent with this role)."""
        if self.respond is not None:
            return self.respond(messages, role)
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        script = self.script
        if isinstance(script, dict):
            if role not in script:
                raise ValueError(f"ScriptedLLM: no script for the agent {role!r} "
                                 f"(scripted: {', '.join(map(repr, script))})")
            script = script[role]
        if turn >= len(script):
            raise ValueError(f"ScriptedLLM: no reply scripted for turn {turn + 1} of "
                             f"{role or 'the agent'} (the script has {len(script)})")
        return script[turn]

    def call(self, messages: Any, tools: Any = None, callbacks: Any = None,
             available_functions: Any = None, from_task: Any = None, from_agent: Any = None,
             response_model: Any = None) -> str:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        role = getattr(from_agent, "role", None)
        text = react(self.reply_for(messages, role))
        with llm_call_context():
            self._emit_call_started_event(messages=messages, from_task=from_task,
                                          from_agent=from_agent)
            chunks = _WORDS.findall(text)
            for chunk in chunks:
                if self.delay:
                    time.sleep(self.delay)
                self._emit_stream_chunk_event(chunk, from_task=from_task,
                                              from_agent=from_agent)
            prompt = self.get_input_tokens_count(messages)
            usage = {"prompt_tokens": prompt, "completion_tokens": len(chunks),
                     "total_tokens": prompt + len(chunks)}
            self._track_token_usage_internal(usage)
            self._emit_call_completed_event(response=text, call_type=LLMCallType.LLM_CALL,
                                            from_task=from_task, from_agent=from_agent,
                                            messages=messages, usage=usage)
        return text

    async def acall(self, messages: Any, tools: Any = None, callbacks: Any = None,
                    available_functions: Any = None, from_task: Any = None,
                    from_agent: Any = None, response_model: Any = None) -> str:
        return await asyncio.to_thread(self.call, messages, tools, callbacks,
                                       available_functions, from_task, from_agent,
                                       response_model)


__all__ = ["Reply", "ScriptedLLM", "react"]
