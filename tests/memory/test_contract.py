"""The memory contract, run against the embedded store and a chromadb server."""

from __future__ import annotations

import pytest

from orchestra.memory import Memory, MemoryScope, MemorySource
from orchestra.memory.records import content_hash

DOCS = {
    "billing": "The March invoice was paid on the third of April by bank transfer.",
    "pets": "Our office cat is called Pixel and sleeps on the printer.",
    "travel": "The team offsite will take place in Lisbon in early June.",
    "security": "Rotate the database passwords every ninety days.",
    "hiring": "We are looking for two backend engineers with Rust experience.",
    "food": "Lunch on Fridays is pizza from the place across the street.",
}
PARAPHRASES = {
    "When did we settle the bill for March?": "billing",
    "What is the name of the feline at work?": "pets",
    "In which city will the staff trip be held?": "travel",
    "How often must credentials be changed?": "security",
    "Which developer roles are open?": "hiring",
    "What do we eat at the end of the week?": "food",
}


def test_a_paraphrase_finds_the_right_document_first(memory: Memory):
    ids = {
        key: memory.add(text, team="acme", source="document", title=key).id
        for key, text in DOCS.items()
    }
    for query, key in PARAPHRASES.items():
        hits = memory.search(query, team="acme", k=3)
        assert hits[0].record.id == ids[key], (query, [h.record.title for h in hits])
        assert hits[0].score > hits[1].score


def test_every_record_carries_its_provenance(memory: Memory):
    record = memory.add(
        "Tool said: 42 rows",
        team="acme",
        scope="run",
        source="tool_result",
        run_id="run-1",
        task_id="count",
        role="analyst",
        tool="sql",
    )
    [hit] = memory.search("rows", team="acme", run_id="run-1")
    for found in (record, hit.record):
        assert (found.scope, found.source, found.team, found.run_id) == (
            MemoryScope.RUN,
            MemorySource.TOOL_RESULT,
            "acme",
            "run-1",
        )
        assert (found.task_id, found.role, found.tool) == ("count", "analyst", "sql")
        assert found.content_hash == content_hash("Tool said: 42 rows")
        assert found.created_at is not None
    assert memory.get([record.id])[0] == record


def test_equal_content_is_stored_once_per_scope(memory: Memory):
    first = memory.add("Pixel is the office cat.", team="acme")
    again = memory.add("Pixel  is the office\ncat.", team="acme")
    assert again.id == first.id and memory.count() == 1
    memory.add("Pixel is the office cat.", team="acme", scope="global")
    memory.add("Pixel is the office cat.", team="other")
    assert memory.count() == 3


def test_scopes_decide_who_sees_what(memory: Memory):
    memory.add("run one note", team="acme", scope="run", run_id="r1")
    memory.add("team acme note", team="acme", scope="team")
    memory.add("team other note", team="other", scope="team")
    memory.add("global note", team="other", scope="global")

    def seen(**kw):
        return sorted(h.record.text for h in memory.search("note", k=10, **kw))

    assert seen(team="acme", run_id="r1") == ["global note", "run one note", "team acme note"]
    assert seen(team="acme", run_id="r2") == ["global note", "team acme note"]
    assert seen(team="other") == ["global note", "team other note"]
    assert seen(team="acme", run_id="r1", scopes=["run"]) == ["run one note"]
    assert seen(team="acme", scopes=[]) == []
    with pytest.raises(ValueError, match="run id"):
        memory.add("orphan", team="acme", scope="run")


def test_forget_by_id_run_and_filter(memory: Memory):
    a = memory.add("alpha", team="acme", scope="run", run_id="r1")
    memory.add("beta", team="acme", scope="run", run_id="r1")
    memory.add("gamma", team="acme", source="document")
    memory.add("delta", team="acme", source="note")
    assert memory.forget(ids=[a.id]) == 1
    assert memory.forget(run_id="r1") == 1
    assert memory.forget(where={"source": "document"}) == 1
    assert [h.record.text for h in memory.search("delta", team="acme")] == ["delta"]
    with pytest.raises(ValueError):
        memory.forget()


def test_documents_are_chunked_with_their_title(memory: Memory):
    text = "\n\n".join(
        f"Paragraph {i}. " + f"Words about topic number {i}. " * 12 for i in range(6)
    )
    records = memory.add_documents({"handbook": text}, team="acme", chunk_chars=800)
    assert len(records) > 1 and all(r.title == "handbook" for r in records)
    assert all(len(r.text) <= 800 for r in records)
    assert sum(len(r.text) for r in records) >= len(text) * 0.95


def test_a_relevance_threshold_drops_weak_matches(memory: Memory):
    memory.add(DOCS["pets"], team="acme")
    memory.add(DOCS["security"], team="acme")
    strong = memory.search("the office cat", team="acme", k=5, min_score=0.4)
    assert [h.record.text for h in strong] == [DOCS["pets"]]


def test_a_local_store_reopens_with_its_embedding_function(tmp_path):
    first = Memory.local(tmp_path / "mem")
    first.add(DOCS["travel"], team="acme")
    again = Memory.local(tmp_path / "mem")
    assert again.count() == 1
    assert again.search("retreat location", team="acme")[0].record.text == DOCS["travel"]
