"""Keeping the conversation under the character budget."""

from __future__ import annotations

from coder.context import ELIDED, compact, size


def conversation(turns: int, output_chars: int):
    messages = [{"role": "system", "content": "S" * 100}, {"role": "user", "content": "U" * 100}]
    for i in range(turns):
        messages.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": "c%d" % i, "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]})
        messages.append({"role": "tool", "tool_call_id": "c%d" % i, "content": str(i) * output_chars})
    return messages


def test_small_conversations_are_sent_unchanged():
    messages = conversation(3, 100)
    assert compact(messages, 10000) is messages


def test_old_outputs_are_elided_first_and_turns_kept():
    messages = conversation(30, 5000)
    out = compact(messages, 60000, keep_last=6)
    assert size(out) <= 60000
    assert len(out) == len(messages)  # every tool call keeps its answer
    assert out[:2] == messages[:2]
    assert out[-6:] == messages[-6:]
    assert ELIDED in out[3]["content"]
    assert messages[3]["content"] == "0" * 5000  # the stored trajectory is untouched


def test_huge_recent_outputs_are_clipped_too():
    messages = conversation(3, 200000)
    out = compact(messages, 20000, keep_last=10)
    assert size(out) < 40000
