"""A test app whose declared example output is wrong: ``fastagentic test`` must fail on it."""

from fastagentic import App, Example, tool

app = App(title="Wrong example", version="1.0.0")


@tool(examples=[Example({"a": 2, "b": 2}, output=4)])
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


@tool(examples=[Example({"a": 1, "b": 2}, output=4)])
def add(a: int, b: int) -> int:
    """Add two integers (the declared example says 1 + 2 = 4: wrong)."""
    return a + b
