"""Guardrails: input and output validators on the hooks, which allow, block or rewrite.

A :class:`Guardrail` checks texts (:mod:`.texts` says which ones each hook point has):
``check_input`` before the work is done, ``check_output`` on what it produced.
``add_guardrail(app, guardrail)`` runs it on:

* input: ``on_request`` (the call's text arguments, on every transport) and ``on_llm_start``
  (the prompt of each model call, in runs);
* output: ``on_llm_end`` (each model response) and ``on_response`` (a call's result, a run's
  output).

A :class:`Verdict` allows, blocks or rewrites.  A block raises ``Reject(reason)``, so the
caller gets a ``hook_rejected`` error on REST, SSE, WebSocket, MCP and A2A alike (a run fails
with it).  A rewrite replaces the text where it was found: the tool or agent gets the new
arguments, the model the new prompt, the caller the new result.

A guardrail that cannot decide (its service is down, it has a bug) refuses: ``fail_open =
True`` lets the text through instead, with a warning in the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..core.lifecycle import Reject
from ..exceptions import ConfigurationError
from .texts import Segment, segments

if TYPE_CHECKING:
    from ..core.lifecycle import HookEvent

logger = logging.getLogger("fastagentic.guardrails")

Stage = Literal["input", "output"]

#: The hook points of each stage.
STAGES: dict[str, tuple[str, ...]] = {
    "input": ("on_request", "on_llm_start"),
    "output": ("on_llm_end", "on_response"),
}
_STAGE_OF = {hook: stage for stage, hooks in STAGES.items() for hook in hooks}


@dataclass(frozen=True, slots=True)
class Verdict:
    """A guardrail's decision on one text: ``allow``, ``block`` (with a ``reason`` the caller
    is told) or ``rewrite`` (to ``text``)."""

    action: Literal["allow", "block", "rewrite"]
    reason: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ("allow", "block", "rewrite"):
            raise ValueError(f"a verdict is allow, block or rewrite, not {self.action!r}")
        if self.action == "rewrite" and not isinstance(self.text, str):
            raise ValueError("a rewrite verdict needs the new text")

    @classmethod
    def allow(cls) -> Verdict:
        return ALLOW

    @classmethod
    def block(cls, reason: str) -> Verdict:
        return cls("block", reason=reason)

    @classmethod
    def rewrite(cls, text: str, reason: str | None = None) -> Verdict:
        return cls("rewrite", reason=reason, text=text)


ALLOW = Verdict("allow")


class Guardrail:
    """Override ``check_input`` and/or ``check_output`` (returning None allows too).

    Each text of a hook point is checked on its own, in order, up to the first block.  A
    text is checked once per run and stage: the conversation a model is shown again at its
    next call, or a run's output that was the model's last answer, is not asked about twice
    (the first verdict stands).  A guardrail that judges a whole conversation at once
    overrides :meth:`screen` instead (``LakeraGuard`` does).
    """

    #: How the guardrail is named in reasons and logs (default: the class name).
    name: str | None = None
    #: When the guardrail fails (raises), let the text through instead of refusing it.
    fail_open: bool = False
    #: How many verdicts :meth:`screen` remembers (per run, stage and text).
    remembered = 2048

    async def check_input(self, text: str, event: HookEvent) -> Verdict | None:
        """A text going in: the caller's arguments, a model's prompt."""
        return None

    async def check_output(self, text: str, event: HookEvent) -> Verdict | None:
        """A text coming out: a model's response, a call's result or a run's output."""
        return None

    async def screen(self, stage: Stage, texts: list[Segment], event: HookEvent
                     ) -> list[Verdict | None]:
        """The verdicts on ``texts`` (one per text, in order; it may stop at a block)."""
        check = self.check_input if stage == "input" else self.check_output
        memory = self._memory()
        verdicts: list[Verdict | None] = []
        for segment in texts:
            key = (event.run_id, stage, segment.role, _digest(segment.text)) \
                if event.run_id else None
            verdict = memory.get(key) if key is not None else None
            if verdict is None:
                verdict = await check(segment.text, event) or ALLOW
                if key is not None and verdict.action != "block":
                    memory[key] = verdict
                    if len(memory) > self.remembered:
                        memory.popitem(last=False)
            verdicts.append(verdict)
            if verdict.action == "block":
                break
        return verdicts

    def _memory(self) -> OrderedDict[Any, Verdict]:
        memory = self.__dict__.get("_verdicts")
        if memory is None:
            memory = self.__dict__["_verdicts"] = OrderedDict()
        return memory

    @property
    def label(self) -> str:
        return self.name or type(self).__name__


class GuardrailHook:
    """The hook that runs ``guardrail`` at one point (what ``add_guardrail`` registers)."""

    def __init__(self, guardrail: Guardrail, stage: Stage) -> None:
        self.guardrail = guardrail
        self.stage = stage

    async def __call__(self, event: HookEvent) -> None:
        texts = segments(event.hook, event.data)
        if not texts:
            return
        guardrail, stage = self.guardrail, self.stage
        try:
            verdicts = await guardrail.screen(stage, texts, event)
        except Reject:
            raise
        except Exception as exc:
            if guardrail.fail_open:
                logger.warning("guardrail %s could not check the %s of %s (%s): let through "
                               "(it fails open)", guardrail.label, stage, event.target,
                               _describe(exc))
                return
            logger.warning("guardrail %s could not check the %s of %s (%s): refused",
                           guardrail.label, stage, event.target, _describe(exc))
            raise Reject(f"{guardrail.label} could not check the {stage}, so it was refused"
                         ) from exc
        for segment, verdict in zip(texts, verdicts, strict=False):
            if verdict is None or verdict.action == "allow":
                continue
            if verdict.action == "block":
                reason = verdict.reason or f"refused by the {guardrail.label} guardrail"
                logger.info("guardrail %s blocked the %s of %s (%s): %s", guardrail.label,
                            stage, event.target, event.hook, reason)
                raise Reject(reason)
            segment.replace(verdict.text or "")
            logger.info("guardrail %s rewrote a text (%s) of %s (%s)%s", guardrail.label,
                        segment.role, event.target, event.hook,
                        f": {verdict.reason}" if verdict.reason else "")


def _digest(text: str) -> bytes:
    """A text as a memory key (texts can be long: tool returns, documents)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def add_guardrail(app: Any, guardrail: Guardrail, *,
                  on: Iterable[str] = ("input", "output")) -> Guardrail:
    """Run ``guardrail`` on ``app``'s hooks: ``on`` names stages (``input``, ``output``) or
    single hook points (``on_request``, ``on_llm_start``, ``on_llm_end``, ``on_response``).
    Hooks run in the order they were added: a guardrail added after a hook sees what the hook
    made of the data."""
    if not isinstance(guardrail, Guardrail):
        raise ConfigurationError(
            f"{guardrail!r} is not a guardrail (subclass fastagentic.guardrails.Guardrail)")
    if isinstance(on, str):
        on = (on,)
    points: list[tuple[str, Stage]] = []
    for name in on:
        if name in STAGES:
            points.extend((hook, name) for hook in STAGES[name])  # type: ignore[misc]
        elif name in _STAGE_OF:
            points.append((name, _STAGE_OF[name]))  # type: ignore[arg-type]
        else:
            raise ConfigurationError(
                f"a guardrail runs on input, output, {', '.join(_STAGE_OF)}; not {name!r}")
    if not points:
        raise ConfigurationError("add_guardrail: on= names no stage or hook point")
    for hook, stage in dict.fromkeys(points):
        app.add_hook(hook, GuardrailHook(guardrail, stage))
    return guardrail


__all__ = ["ALLOW", "STAGES", "Guardrail", "GuardrailHook", "Stage", "Verdict",
           "add_guardrail"]
