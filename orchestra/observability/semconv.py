"""Span and attribute names: the OpenTelemetry GenAI conventions, plus orchestra's own.

The GenAI names are spelled out here (they match
``opentelemetry.semconv._incubating.attributes.gen_ai_attributes``, checked by a test)
so that a rename upstream cannot silently change what dashboards receive.
"""

from __future__ import annotations

__all__ = [
    "AGENT_NAME",
    "CONVERSATION_ID",
    "ERROR_TYPE",
    "EVALUATION_EVENT",
    "EVALUATION_EXPLANATION",
    "EVALUATION_NAME",
    "EVALUATION_SCORE_LABEL",
    "INPUT_MESSAGES",
    "OPERATION_NAME",
    "ORCHESTRA_ATTEMPT",
    "ORCHESTRA_GOAL",
    "ORCHESTRA_STATEMENT",
    "ORCHESTRA_RUN_ID",
    "ORCHESTRA_TASK_DEPTH",
    "ORCHESTRA_RUN_STATUS",
    "ORCHESTRA_TASK_ID",
    "ORCHESTRA_TASK_OUTPUT",
    "ORCHESTRA_TASK_PARENT_ID",
    "ORCHESTRA_TASK_ROLE",
    "ORCHESTRA_TASK_STATUS",
    "ORCHESTRA_TASK_TITLE",
    "OPENINFERENCE_INPUT",
    "OPENINFERENCE_OUTPUT",
    "OPENINFERENCE_SPAN_KIND",
    "OUTPUT_MESSAGES",
    "PROJECT_NAME",
    "PROVIDER_NAME",
    "DECOMPOSITION_EVENT",
    "ESCALATION_EVENT",
    "INTEGRATION_EVENT",
    "LEAD_EVENT",
    "ORCHESTRA_TASK_KIND",
    "ORCHESTRA_TASK_LEAD",
    "REPLAN_EVENT",
    "REQUEST_MODEL",
    "RESPONSE_FINISH_REASONS",
    "RESPONSE_MODEL",
    "TOOL_CALL_ARGUMENTS",
    "TOOL_CALL_ID",
    "TOOL_CALL_RESULT",
    "TOOL_DESCRIPTION",
    "TOOL_NAME",
    "TOOL_TYPE",
    "USAGE_INPUT_TOKENS",
    "USAGE_OUTPUT_TOKENS",
    "WORKFLOW_NAME",
]

# Operations (gen_ai.operation.name) and the span names built from them.
OPERATION_NAME = "gen_ai.operation.name"
OP_CHAT = "chat"
OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_INVOKE_WORKFLOW = "invoke_workflow"

# GenAI attributes.
AGENT_NAME = "gen_ai.agent.name"
CONVERSATION_ID = "gen_ai.conversation.id"
WORKFLOW_NAME = "gen_ai.workflow.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
TOOL_NAME = "gen_ai.tool.name"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_DESCRIPTION = "gen_ai.tool.description"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
EVALUATION_EVENT = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
ERROR_TYPE = "error.type"

# Where Phoenix files a trace (a resource attribute of the tracer provider).
PROJECT_NAME = "openinference.project.name"
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
OPENINFERENCE_INPUT = "input.value"
OPENINFERENCE_OUTPUT = "output.value"
"""What Phoenix shows as a span's input and output (content: only when captured)."""

# orchestra's own: enough to rebuild the task tree from the spans alone.
ORCHESTRA_RUN_ID = "orchestra.run.id"
ORCHESTRA_GOAL = "orchestra.goal"
ORCHESTRA_STATEMENT = "orchestra.goal.statement"
"""The refined task statement (JSON; content, so only with capture on); with the suffixes
``.constraints``, ``.deliverables``, ``.acceptance_criteria``: how many it has of each."""
ORCHESTRA_TASK_ID = "orchestra.task.id"
ORCHESTRA_TASK_PARENT_ID = "orchestra.task.parent_id"
ORCHESTRA_TASK_DEPTH = "orchestra.task.depth"
ORCHESTRA_TASK_TITLE = "orchestra.task.title"
ORCHESTRA_TASK_ROLE = "orchestra.task.role"
ORCHESTRA_TASK_STATUS = "orchestra.task.status"
ORCHESTRA_ATTEMPT = "orchestra.task.attempt"
ORCHESTRA_TASK_OUTPUT = "orchestra.task.output"
ORCHESTRA_RUN_STATUS = "orchestra.run.status"
REPLAN_EVENT = "orchestra.replan"
ORCHESTRA_TASK_KIND = "orchestra.task.kind"
"""``leaf``, ``inner`` or ``team`` (see ``orchestra.core.tree.TaskKind``)."""
ORCHESTRA_TASK_LEAD = "orchestra.task.lead"
"""The role leading an inner task."""
LEAD_EVENT = "orchestra.lead_assigned"
INTEGRATION_EVENT = "orchestra.integration"
ESCALATION_EVENT = "orchestra.escalated"
DECOMPOSITION_EVENT = "orchestra.decomposed"
