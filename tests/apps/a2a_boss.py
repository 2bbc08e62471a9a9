"""The delegating agent in the two-process delegation tests: its remote agents are the skills
of the worker app at ``$A2A_WORKER_URL``."""

import os

from fastagentic import App, RunContext

app = App(title="boss", version="1.0.0")

WORKER = os.environ["A2A_WORKER_URL"]
for skill in ("translate", "greet", "inspect"):
    app.agents.add_remote(skill, f"{WORKER}/a2a/{skill}",
                          binding=os.environ.get("A2A_BINDING") or None)


@app.agent_endpoint("/boss", a2a_skill="boss")
async def boss(agent: str, text: str, ctx: RunContext, task_id: str | None = None) -> dict:
    """Hands the text to one of the worker's skills."""
    await ctx.token("Delegating. ")
    result = await ctx.delegate(agent, text, task_id=task_id, metadata={"from": "boss"})
    return {"result": result.to_dict(), "streamed": ctx.streamed_text}
