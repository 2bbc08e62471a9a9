"""The agent delegated to in the two-process delegation tests (served over A2A)."""

from fastagentic import App, RunContext

app = App(title="worker", version="1.0.0")

GLOSSARY = {"hello": "bonjour", "thanks": "merci"}


@app.tool
def glossary(word: str) -> str:
    """Translates one word."""
    return GLOSSARY.get(word, word)


@app.agent_endpoint("/translate", a2a_skill="translate")
async def translate(text: str, ctx: RunContext) -> str:
    """Translates a word to French."""
    await ctx.token("Translating. ")
    return await ctx.call_tool("glossary", {"word": text}, call_id="glossary-1")


@app.agent_endpoint("/greet", a2a_skill="greet")
async def greet(text: str, ctx: RunContext) -> str:
    """Asks for a name, then greets."""
    name = await ctx.ask("What is your name?")
    return f"{text}, {name}"


@app.agent_endpoint("/inspect", a2a_skill="inspect")
async def inspect(text: str, ctx: RunContext) -> dict:
    """Tells what the delegating side sent along."""
    info = ctx.a2a
    return {"text": text, "trace": ctx.labels.get("trace"), "caller": ctx.labels.get("caller"),
            "metadata": info.metadata if info else None, "user": ctx.user.user}
