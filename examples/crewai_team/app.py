"""A CrewAI crew served by fastagentic, offline.

Two agents, two tasks: a product researcher looks the product up in the catalog (a CrewAI
``BaseTool``), then a copywriter writes one line of product copy from the research.  The LLM is
fastagentic's ``ScriptedLLM`` (no network, no keys); give the agents any CrewAI LLM
(``LLM(model="openai/gpt-5")``) for a real one.

    fastagentic run examples/crewai_team/app.py
    curl -s localhost:8000/copy -H 'content-type: application/json' \\
        -d '{"message": "a line for our kettle"}'
    # the stream: tasks and agents as node_start/node_end, tokens, the catalog tool call, costs
    curl -sN localhost:8000/copy -H 'accept: text/event-stream' \\
        -H 'content-type: application/json' -d '{"message": "a line for our teapot"}'

CrewAI is told to stay quiet and local before it is imported: no telemetry, no tracing, and
its files (the kickoff output database) under ``.fastagentic/crewai``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_DISABLE_TRACKING", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")
os.environ.setdefault("CREWAI_STORAGE_DIR", str(Path(".fastagentic", "crewai").resolve()))

from crewai import Agent, Crew, Task
from crewai.tools import BaseTool
from pydantic import BaseModel, Field

from fastagentic import App
from fastagentic.adapters.crewai import CrewAIAdapter
from fastagentic.testing.crewai import Reply, ScriptedLLM

CATALOG = {
    "kettle": "Kettle K2: 1.7 litres, boils in 3 minutes, 49 EUR",
    "teapot": "Teapot T1: cast iron, keeps tea hot for an hour, 35 EUR",
    "mug": "Mug M3: double-walled glass, 12 EUR",
}


class CatalogQuery(BaseModel):
    product: str = Field(description="The product's name, e.g. kettle")


class CatalogTool(BaseTool):
    name: str = "catalog"
    description: str = "The catalog entry of a product: its name, features and price."
    args_schema: type[BaseModel] = CatalogQuery

    def _run(self, product: str) -> str:
        return CATALOG.get(product.strip().lower(), f"no product called {product!r}")


def _observation(messages: list[dict[str, Any]]) -> str | None:
    """The catalog's answer, once the researcher has asked (CrewAI appends it to the
    assistant's message as ``Observation: ...``)."""
    for message in reversed(messages):
        found = re.search(r"Observation: (.*)", str(message.get("content", "")))
        if message.get("role") == "assistant" and found:
            return found.group(1).strip()
    return None


def _task_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")


def script(messages: list[dict[str, Any]], role: str | None) -> Reply:
    """What the offline LLM answers: the researcher asks the catalog, then reports; the writer
    turns the research (its task's context) into one line of copy."""
    text = _task_text(messages)
    if role == "Product researcher":
        observation = _observation(messages)
        if observation is None:
            named = [p for p in CATALOG if p in text.lower()]
            return {"tool": "catalog", "args": {"product": named[0] if named else "unknown"}}
        return f"Catalog entry: {observation}."
    context = re.search(r"Catalog entry: (.*?)\.\s*$", text, re.MULTILINE)
    facts = context.group(1) if context else "a product we love"
    return f"New in the shop: {facts}. Order today!"


llm = ScriptedLLM(model="offline-copywriter", respond=script)

researcher = Agent(role="Product researcher", goal="Find the facts about a product",
                   backstory="You check every claim against the catalog.", llm=llm,
                   tools=[CatalogTool()])
writer = Agent(role="Copywriter", goal="Write one line of product copy",
               backstory="Short, friendly, accurate.", llm=llm)
research = Task(name="research", description="Find the catalog facts for this request: {message}",
                expected_output="The product's catalog entry.", agent=researcher)
write = Task(name="write", description="Write one line of shop copy for this request: {message}",
             expected_output="One sentence.", agent=writer)
crew = Crew(agents=[researcher, writer], tasks=[research, write])

app = App(title="CrewAI product copy", version="1.0.0",
          description="A CrewAI crew (research, then copy) served by fastagentic.")


@app.agent_endpoint("/copy", mcp_tool="product_copy", runnable=CrewAIAdapter(crew))
async def product_copy(message: str) -> str:
    """One line of product copy: the researcher checks the catalog, the writer writes."""
