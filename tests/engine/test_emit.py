"""Events reach the run's sink, or LangGraph's custom stream when no sink is set."""

from __future__ import annotations

import asyncio
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from orchestra.core.events import EventBase, TaskStarted
from orchestra.engine.emit import Emitter, event_sink, queue_sink


class _State(TypedDict, total=False):
    done: bool


async def _node(state: _State) -> _State:
    Emitter("run-1")(TaskStarted, task_id="t1", role="writer", attempt=1)
    return {"done": True}


def _graph() -> Any:
    graph = StateGraph(_State)
    graph.add_node("work", _node)
    graph.add_edge(START, "work")
    graph.add_edge("work", END)
    return graph.compile()


async def test_without_a_sink_events_go_to_langgraphs_custom_stream():
    chunks = [c async for c in _graph().astream({}, stream_mode="custom")]
    assert [type(c) for c in chunks] == [TaskStarted]


async def test_with_a_sink_events_of_graph_nodes_reach_it_and_not_the_stream():
    got: list[EventBase] = []
    with event_sink(got.append):
        chunks = [c async for c in _graph().astream({}, stream_mode="custom")]
    assert chunks == []
    assert [(type(e), e.run_id) for e in got] == [(TaskStarted, "run-1")]


async def test_a_queue_sink_takes_events_from_other_threads_too():
    queue: asyncio.Queue[Any] = asyncio.Queue()
    put = queue_sink(queue)
    event = TaskStarted(run_id="r", task_id="t", role="x", attempt=1)
    put(event)
    await asyncio.to_thread(put, event)
    assert [await asyncio.wait_for(queue.get(), 5) for _ in range(2)] == [event, event]
