"""The a2a-sdk (1.3.0) echo agent for bench/a2a_send.py: the baseline.

The SDK's documented server shape: an ``AgentExecutor`` behind ``DefaultRequestHandler`` with an
``InMemoryTaskStore``, JSON-RPC at ``/`` (1.0 and, as the SDK's samples enable it, 0.3), the
card at ``/.well-known/agent-card.json`` (also the health check the bench waits on).  The agent
answers every message with a task: the Task first (the SDK requires it before any update), an
artifact with one text part, the user's text as is, then COMPLETED.

    python -m uvicorn --app-dir bench/apps a2a_sdk_echo:app
"""

from __future__ import annotations

from a2a.helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part
from starlette.applications import Starlette

# The card's URL is not used by the bench (it POSTs to the server it started); a placeholder.
BASE_URL = "http://127.0.0.1:8000/"


class Echo(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None and context.task_id and context.context_id
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await event_queue.enqueue_event(new_task_from_user_message(context.message))
        await updater.add_artifact([Part(text=context.get_user_input())], name="echo")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id and context.context_id
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


card = AgentCard(
    name="echo", description="Echoes the user's text.", version="1.0.0",
    supported_interfaces=[
        AgentInterface(url=BASE_URL, protocol_binding="JSONRPC", protocol_version="1.0"),
        AgentInterface(url=BASE_URL, protocol_binding="JSONRPC", protocol_version="0.3"),
    ],
    capabilities=AgentCapabilities(streaming=True),
    default_input_modes=["text/plain"], default_output_modes=["text/plain"],
    skills=[AgentSkill(id="echo", name="Echo", description="Echoes the user's text.",
                       tags=["echo"])],
)
handler = DefaultRequestHandler(agent_executor=Echo(), task_store=InMemoryTaskStore(),
                                agent_card=card)
app = Starlette(routes=[*create_agent_card_routes(card),
                        *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=True)])
