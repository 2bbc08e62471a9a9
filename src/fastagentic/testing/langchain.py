"""A scripted LangChain chat model: offline tests and examples for LangChain and LangGraph.

langchain-core's fake chat models cannot stream tool calls; this one can.  Each reply is chosen
by the number of AI messages already in the conversation (the first reply answers a
conversation with none), or by a function of the messages::

    model = ScriptedChatModel(script=[
        [{"name": "lookup", "args": {"q": "pricing"}}],   # reply 1: a tool call
        "Pricing starts at $10.",                         # reply 2: text, streamed word by word
    ])
    model = ScriptedChatModel(respond=lambda messages: f"You said {messages[-1].content}")

A reply is a string (text), a list of tool calls (``{"name", "args", "id"?}``; ids default to
``call_<reply>_<index>``, so a re-run gives the same ids) or an ``AIMessage``.  Usage is
reported on the last chunk (input tokens estimated as characters / 4, output tokens = chunks).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from ..exceptions import MissingDependency

try:
    from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise MissingDependency(
        'ScriptedChatModel needs langchain-core: pip install "fastagentic[langchain]"') from exc

Reply = str | list[dict[str, Any]] | AIMessage

_WORDS = re.compile(r"\s*\S+|\s+")


class ScriptedChatModel(BaseChatModel):
    """Replies from ``script`` (by turn) or ``respond`` (a function of the messages)."""

    script: list[Any] = []
    respond: Callable[[list[BaseMessage]], Reply] | None = None
    model_name: str = "scripted"
    #: Seconds to wait before each streamed chunk (to make streams observable in tests).
    delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        return self  # the script decides which tools are called

    def _reply(self, messages: list[BaseMessage]) -> tuple[int, Reply]:
        turn = sum(isinstance(m, AIMessage) for m in messages)
        if self.respond is not None:
            return turn, self.respond(messages)
        if turn >= len(self.script):
            raise ValueError(f"ScriptedChatModel: no reply scripted for turn {turn + 1} "
                             f"(the script has {len(self.script)})")
        return turn, self.script[turn]

    def _chunks(self, messages: list[BaseMessage]) -> Iterator[AIMessageChunk]:
        turn, reply = self._reply(messages)
        meta = {"model_name": self.model_name, "finish_reason": "stop"}
        count = 0
        if isinstance(reply, AIMessage):
            text, calls = reply.text, list(reply.tool_calls)
        elif isinstance(reply, str):
            text, calls = reply, []
        else:
            text, calls = "", list(reply)
        for word in _WORDS.findall(text):
            count += 1
            yield AIMessageChunk(content=word)
        for index, call in enumerate(calls):
            args = json.dumps(call.get("args") or {})
            half = len(args) // 2
            call_id = call.get("id") or f"call_{turn + 1}_{index}"
            count += 2
            yield AIMessageChunk(content="", tool_call_chunks=[
                {"name": call["name"], "args": args[:half], "id": call_id, "index": index}])
            yield AIMessageChunk(content="", tool_call_chunks=[
                {"name": None, "args": args[half:], "id": None, "index": index}])
        if calls:
            meta["finish_reason"] = "tool_calls"
        prompt = sum(len(str(m.content)) for m in messages)
        usage = {"input_tokens": max(1, prompt // 4), "output_tokens": count,
                 "total_tokens": max(1, prompt // 4) + count}
        yield AIMessageChunk(content="", usage_metadata=usage, response_metadata=meta,
                             chunk_position="last")

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            if self.delay:
                await asyncio.sleep(self.delay)
            # (LangChain reports each chunk to the callbacks itself.)
            yield ChatGenerationChunk(message=chunk)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(messages):
            yield ChatGenerationChunk(message=chunk)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None,
                  **kwargs: Any) -> ChatResult:
        merged: AIMessageChunk | None = None
        for chunk in self._chunks(messages):
            merged = chunk if merged is None else merged + chunk
        assert merged is not None
        message = AIMessage(content=merged.content, tool_calls=merged.tool_calls,
                            usage_metadata=merged.usage_metadata,
                            response_metadata=merged.response_metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])


__all__ = ["Reply", "ScriptedChatModel"]
