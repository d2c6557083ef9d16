"""Flows built on a real LangFlow for the tests, from the server's own component templates.

Each ``create_*_flow(client)`` saves one flow through LangFlow's API and returns a
:class:`BuiltFlow` naming its components. ``client`` is a :class:`tests.real_langflow.server.LangFlowAdmin`.
No flow needs a network or an LLM key: where a model would answer, the custom component
:data:`FAKE_LLM_CODE` ("Fake LLM") answers instead, reporting token usage and a model name
the way LangFlow's model components do.

Names get a short random suffix: LangFlow refuses a second flow of the same name (400).
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field

from tests.real_langflow.server import LangFlowAdmin

#: The usage the Fake LLM reports for every answer, and the model name it claims.
FAKE_USAGE = {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}
FAKE_MODEL = "gpt-4o-mini"
FAKE_PREFIX = "answer: "

#: A component standing in for an LLM: it answers "answer: <input>" and reports FAKE_USAGE.
#: LangFlow reads the model name from a ``model_name`` attribute of the component that feeds
#: a Chat Output (lfx/base/io/chat.py) and sums upstream usage from each component's
#: ``_token_usage`` (lfx/graph/vertex/base.py), which is what its model components set.
FAKE_LLM_CODE = f"""
from lfx.custom import Component
from lfx.io import MessageTextInput, Output
from lfx.schema.message import Message
from lfx.schema.properties import Usage


class FakeLLM(Component):
    display_name = "Fake LLM"
    description = "Answers like a language model without one: a fixed reply and fixed token usage."
    name = "FakeLLM"

    inputs = [
        MessageTextInput(name="input_value", display_name="Input"),
        MessageTextInput(name="model_name", display_name="Model name", value="{FAKE_MODEL}"),
    ]
    outputs = [Output(display_name="Message", name="text_output", method="answer")]

    def answer(self) -> Message:
        usage = Usage(**{FAKE_USAGE!r})
        self._token_usage = usage
        message = Message(text="{FAKE_PREFIX}" + (self.input_value or ""))
        message.properties.usage = usage
        return message
"""

#: A component whose run always raises: a flow that fails inside LangFlow (HTTP 500).
FAILING_CODE = """
from lfx.custom import Component
from lfx.io import MessageTextInput, Output
from lfx.schema.message import Message


class AlwaysFails(Component):
    display_name = "Always Fails"
    description = "Raises on every run."
    name = "AlwaysFails"

    inputs = [MessageTextInput(name="input_value", display_name="Input")]
    outputs = [Output(display_name="Message", name="text_output", method="fail")]

    def fail(self) -> Message:
        raise ValueError("the test component failed on purpose")
"""

#: When the ScheduleTrigger flow's trigger would fire: 03:17 on 1 January, far from any test run,
#: so LangFlow's own dispatcher never runs the flow during the suite. A zone away from UTC shows
#: which zone LangFlow's times (``next_fire_at``) are given in.
TRIGGER_CRON = "17 3 1 1 *"
TRIGGER_TIMEZONE = "America/New_York"


@dataclass(frozen=True)
class BuiltFlow:
    """A flow saved on the real LangFlow, and the ids of its components by role."""

    id: str
    name: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    others: dict[str, str] = field(default_factory=dict)  # e.g. {"llm": "FakeLLM-ab123"}


def run_request(flow: BuiltFlow, text: str) -> dict:
    """The body the product sends to run ``flow`` (automagik.langflow.client): the text as a
    tweak of the input component, and the output component whose answer is wanted (the first)."""
    return {
        "input_type": "chat",
        "output_type": "chat",
        "output_component": flow.outputs[0],
        "tweaks": {flow.inputs[0]: {"input_value": text}},
    }


class _Graph:
    """Nodes and edges of one flow, built from the server's templates."""

    def __init__(self, client: LangFlowAdmin):
        self.client = client
        self.nodes: list[dict] = []
        self.edges: list[dict] = []
        self._templates: dict[str, dict] = {}

    def add(self, template: dict, node_type: str, **values) -> str:
        """A node of ``node_type``, some template values set; its id is ``<Type>-<5 chars>``, as LangFlow's."""
        node_id = f"{node_type}-{uuid.uuid4().hex[:5]}"
        node = copy.deepcopy(template)
        for name, value in values.items():
            node["template"][name]["value"] = value
        self._templates[node_id] = node
        self.nodes.append(
            {
                "id": node_id,
                "type": "genericNode",
                "position": {"x": 300 * len(self.nodes), "y": 0},
                "data": {"id": node_id, "type": node_type, "node": node},
            }
        )
        return node_id

    def builtin(self, node_type: str, **values) -> str:
        return self.add(self.client.component_template(node_type), node_type, **values)

    def custom(self, code: str) -> str:
        node_type, template = self.client.custom_component(code)
        return self.add(template, node_type)

    def connect(self, source: str, target: str, *, target_id: str | None = None) -> None:
        """An edge from ``source``'s first output to ``target``'s ``input_value``.

        ``target_id`` replaces the target's id in the edge only, to build a broken flow.
        """
        source_node, target_node = self._templates[source], self._templates[target]
        output = source_node["outputs"][0]
        field_name = "input_value"
        target_field = target_node["template"][field_name]
        end = target_id or target
        source_handle = {
            "dataType": source.split("-", 1)[0],
            "id": source,
            "name": output["name"],
            "output_types": output["types"],
        }
        target_handle = {
            "fieldName": field_name,
            "id": end,
            "inputTypes": target_field.get("input_types") or [],
            "type": target_field["type"],
        }
        self.edges.append(
            {
                "id": f"e-{source}-{end}",
                "source": source,
                "target": end,
                # The canvas stores each handle twice: as a string (the UI's own encoding; plain
                # JSON is accepted) and as an object, which is what the graph builder reads.
                "sourceHandle": json.dumps(source_handle),
                "targetHandle": json.dumps(target_handle),
                "data": {"sourceHandle": source_handle, "targetHandle": target_handle},
            }
        )

    def save(self, name: str, *, inputs=(), outputs=(), others=None) -> BuiltFlow:
        unique = f"{name} {uuid.uuid4().hex[:6]}"
        flow = self.client.create_flow(unique, {"nodes": self.nodes, "edges": self.edges})
        return BuiltFlow(flow["id"], unique, tuple(inputs), tuple(outputs), dict(others or {}))


def create_echo_flow(client: LangFlowAdmin) -> BuiltFlow:
    """ChatInput -> ChatOutput: answers its input. One input and one output, chosen by sync itself."""
    graph = _Graph(client)
    chat_in, chat_out = graph.builtin("ChatInput"), graph.builtin("ChatOutput")
    graph.connect(chat_in, chat_out)
    return graph.save("Echo", inputs=[chat_in], outputs=[chat_out])


def create_two_outputs_flow(client: LangFlowAdmin) -> BuiltFlow:
    """ChatInput -> Fake LLM -> ChatOutput (outputs[0], "answer: <input>"), and ChatInput ->
    ChatOutput (outputs[1], the input as is): two outputs, so sync asks which one to read."""
    graph = _Graph(client)
    chat_in, llm = graph.builtin("ChatInput"), graph.custom(FAKE_LLM_CODE)
    answer_out, echo_out = graph.builtin("ChatOutput"), graph.builtin("ChatOutput")
    graph.connect(chat_in, llm)
    graph.connect(llm, answer_out)
    graph.connect(chat_in, echo_out)
    return graph.save("Two outputs", inputs=[chat_in], outputs=[answer_out, echo_out], others={"llm": llm})


def create_usage_flow(client: LangFlowAdmin) -> BuiltFlow:
    """ChatInput -> Fake LLM -> ChatOutput: the answer's message carries FAKE_USAGE and FAKE_MODEL
    (``results.message.properties.usage`` and ``.source.source``)."""
    graph = _Graph(client)
    chat_in, llm, chat_out = graph.builtin("ChatInput"), graph.custom(FAKE_LLM_CODE), graph.builtin("ChatOutput")
    graph.connect(chat_in, llm)
    graph.connect(llm, chat_out)
    return graph.save("Usage", inputs=[chat_in], outputs=[chat_out], others={"llm": llm})


def create_schedule_trigger_flow(
    client: LangFlowAdmin, cron: str = TRIGGER_CRON, timezone: str = TRIGGER_TIMEZONE
) -> BuiltFlow:
    """A ChatInput -> ChatOutput flow that also holds a ``ScheduleTrigger`` node feeding a second
    ChatOutput; saving it makes LangFlow create one schedule trigger (``GET /api/v1/triggers``).

    The chat branch keeps the flow runnable (and schedulable) from outside like any other;
    ``others["trigger"]`` is the trigger node's id and ``outputs[1]`` the output it feeds.
    """
    graph = _Graph(client)
    chat_in, chat_out = graph.builtin("ChatInput"), graph.builtin("ChatOutput")
    trigger = graph.builtin("ScheduleTrigger", cron_expression=cron, timezone=timezone)
    trigger_out = graph.builtin("ChatOutput")
    graph.connect(chat_in, chat_out)
    graph.connect(trigger, trigger_out)
    return graph.save(
        "Scheduled in LangFlow", inputs=[chat_in], outputs=[chat_out, trigger_out], others={"trigger": trigger}
    )


def create_broken_flow(client: LangFlowAdmin) -> BuiltFlow:
    """ChatInput -> ChatOutput whose edge points at a vertex that is not in the graph: LangFlow
    answers every run with 404 "Vertex ... not found"."""
    graph = _Graph(client)
    chat_in, chat_out = graph.builtin("ChatInput"), graph.builtin("ChatOutput")
    graph.connect(chat_in, chat_out, target_id="ChatOutput-missing")
    return graph.save("Broken", inputs=[chat_in], outputs=[chat_out])


def create_failing_flow(client: LangFlowAdmin) -> BuiltFlow:
    """ChatInput -> Always Fails -> ChatOutput: every run fails inside LangFlow (HTTP 500)."""
    graph = _Graph(client)
    chat_in, failing, chat_out = graph.builtin("ChatInput"), graph.custom(FAILING_CODE), graph.builtin("ChatOutput")
    graph.connect(chat_in, failing)
    graph.connect(failing, chat_out)
    return graph.save("Failing", inputs=[chat_in], outputs=[chat_out], others={"failing": failing})
