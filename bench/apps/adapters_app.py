"""Bench app: agents of each framework that stream ``n`` tokens (``POST /<framework>``).

The same agents are imported by ``bench/adapters.py`` to consume each framework's own stream
directly in-process (the baseline).  Tokens are ``t0``, ``t1``, ... ``t9``, ``t0``, ...
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph import START, MessagesState, StateGraph
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from fastagentic import App
from fastagentic.adapters.langgraph import LangGraphAdapter
from fastagentic.adapters.pydanticai import PydanticAIAdapter
from fastagentic.testing.langchain import ScriptedChatModel


def token(i: int) -> str:
    return f"t{i % 10}"


class StreamIn(BaseModel):
    n: int = 10_000


def requested(text: str) -> int:
    return StreamIn.model_validate_json(text).n


# PydanticAI: a FunctionModel streaming n text chunks.


async def pydanticai_stream(messages: list[Any], info: AgentInfo):  # noqa: ANN201
    prompt = next(p.content for m in messages if isinstance(m, ModelRequest)
                  for p in m.parts if isinstance(p, UserPromptPart))
    for i in range(requested(prompt)):
        yield token(i)


agent = Agent(FunctionModel(stream_function=pydanticai_stream, model_name="bench"))


# LangGraph: one node calling a chat model that streams n chunks.


def langgraph_reply(messages: list[BaseMessage]) -> Any:
    first = next(m for m in messages if isinstance(m, HumanMessage))
    return "".join(token(i) if i == 0 else " " + token(i)
                   for i in range(requested(str(first.content))))


model = ScriptedChatModel(respond=langgraph_reply, model_name="bench")


async def call_model(state: MessagesState) -> dict[str, Any]:
    return {"messages": [await model.ainvoke(state["messages"])]}


graph = StateGraph(MessagesState)
graph.add_node("agent", call_model)
graph.add_edge(START, "agent")

app = App(title="Adapter bench", version="1.0.0")


@app.agent_endpoint("/pydanticai", runnable=PydanticAIAdapter(
    agent, prompt=lambda body: body.model_dump_json()))
async def pydanticai(body: StreamIn) -> str: ...


@app.agent_endpoint("/langgraph", runnable=LangGraphAdapter(
    graph, input=lambda body: {"messages": [{"role": "user",
                                              "content": body.model_dump_json()}]}))
async def langgraph(body: StreamIn) -> str: ...
