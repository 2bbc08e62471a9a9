"""A crew for the kill -9 test: research (``lookup``), then write (``draft``, ``publish``).

Every real execution of a tool appends ``<tool>`` to the file named by ``CREW_SIDE_EFFECTS``.
The first ``publish`` of the file's life writes ``publish-started`` and then waits a minute
(the test kills the process then); a later one finishes at once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from crewai import Agent, Crew, Task
from crewai.tools import BaseTool
from pydantic import BaseModel

from fastagentic import App
from fastagentic.adapters.crewai import CrewAIAdapter
from fastagentic.testing.crewai import ScriptedLLM

EFFECTS = Path(os.environ.get("CREW_SIDE_EFFECTS", ".fastagentic/crew-side-effects.txt"))


def record(line: str) -> None:
    with EFFECTS.open("a") as f:
        f.write(line + "\n")


class Query(BaseModel):
    q: str


class Lookup(BaseTool):
    name: str = "lookup"
    description: str = "Look a fact up."
    args_schema: type[BaseModel] = Query

    def _run(self, q: str) -> str:
        record("lookup")
        return f"fact about {q}"


class Draft(BaseTool):
    name: str = "draft"
    description: str = "Write a draft."
    args_schema: type[BaseModel] = Query

    def _run(self, q: str) -> str:
        record("draft")
        return f"draft on {q}"


class Publish(BaseTool):
    name: str = "publish"
    description: str = "Publish a text."
    args_schema: type[BaseModel] = Query

    def _run(self, q: str) -> str:
        first = "publish-started" not in (EFFECTS.read_text() if EFFECTS.exists() else "")
        record("publish-started")
        if first:
            time.sleep(60)  # killed here
        record("publish")
        return f"published {q}"


llm = ScriptedLLM(model="scripted-steps", script={
    "Researcher": [{"tool": "lookup", "args": {"q": "pricing"}}, "Pricing starts at $10."],
    "Writer": [{"tool": "draft", "args": {"q": "pricing"}},
               {"tool": "publish", "args": {"q": "pricing"}}, "Published."],
})
researcher = Agent(role="Researcher", goal="Find facts", backstory="Thorough.", llm=llm,
                   tools=[Lookup()])
writer = Agent(role="Writer", goal="Write and publish", backstory="Careful.", llm=llm,
               tools=[Draft(), Publish()])
crew = Crew(agents=[researcher, writer], tasks=[
    Task(name="research", description="Research {message}.", expected_output="Facts.",
         agent=researcher),
    Task(name="write", description="Write about {message} and publish it.",
         expected_output="Done.", agent=writer),
])

app = App(title="Crew steps", version="1.0.0")


@app.agent_endpoint("/crew", runnable=CrewAIAdapter(crew))
async def steps(message: str) -> str:
    """Research, then write and publish."""
