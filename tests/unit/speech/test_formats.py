# SPDX-License-Identifier: GPL-3.0-or-later
"""Which formats are asked for, in which order, and what is remembered per server."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from companion.speech.formats import AUTO_ORDER, FormatMemory, FormatPlan, memory_path, server_key


def test_auto_asks_for_wav_first() -> None:
    plan = FormatPlan(setting="auto", server="http://x", memory=None)
    assert plan.candidates() == list(AUTO_ORDER) and AUTO_ORDER[0] == "wav"
    assert "aac" not in plan.candidates()


def test_a_chosen_format_comes_first_and_is_not_replaced() -> None:
    plan = FormatPlan(setting="mp3", server="http://x", memory=None)
    assert plan.candidates()[0] == "mp3" and sorted(plan.candidates()) == sorted(AUTO_ORDER)
    plan.worked("wav")
    assert plan.candidates()[0] == "mp3"


def test_refused_formats_go_last_and_what_worked_first(tmp_path: Path) -> None:
    memory = FormatMemory(tmp_path / "m.json")
    plan = FormatPlan(setting="auto", server="http://a", memory=memory)
    plan.refused("wav", "HTTP 422")
    assert plan.candidates() == ["pcm", "mp3", "flac", "opus", "wav"]
    plan.worked("mp3")
    assert plan.candidates()[0] == "mp3"
    # A new session (a new plan, a new memory object reading the file) starts where this ended.
    again = FormatPlan(setting="auto", server="http://a", memory=FormatMemory(tmp_path / "m.json"))
    assert again.candidates() == ["mp3", "pcm", "flac", "opus", "wav"]
    other = FormatPlan(setting="auto", server="http://b", memory=FormatMemory(tmp_path / "m.json"))
    assert other.candidates() == list(AUTO_ORDER)
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["servers"]["http://a"] == {"format": "mp3", "refused": ["wav"]}


def test_a_damaged_memory_costs_only_the_memory(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    plan = FormatPlan(setting="auto", server="http://a", memory=FormatMemory(path))
    assert plan.candidates() == list(AUTO_ORDER)
    plan.worked("flac")
    assert json.loads(path.read_text())["servers"]["http://a"]["format"] == "flac"
    assert any(p.name.startswith("m.json.corrupt-") for p in tmp_path.iterdir())


def test_an_unwritable_memory_never_stops_speech(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    plan = FormatPlan(setting="auto", server="s", memory=FormatMemory(blocker / "m.json"))
    plan.worked("pcm")  # cannot be saved; logged at info
    assert plan.candidates()[0] == "pcm"


def test_the_memory_lives_in_the_state_folder(_private_config_dir: Path) -> None:
    assert memory_path() == _private_config_dir / "state" / "speech_formats.json"


def test_server_key_has_no_user_or_query() -> None:
    assert server_key("http://user:secret@127.0.0.1:8000/v1/?token=x") == "http://127.0.0.1:8000/v1"
    assert server_key("https://api.example.com/v1") == "https://api.example.com/v1"


@given(
    events=st.lists(
        st.tuples(st.sampled_from(["worked", "refused"]), st.sampled_from(AUTO_ORDER)), max_size=12
    ),
    setting=st.sampled_from(["auto", "wav", "mp3", "opus", "flac", "pcm"]),
)
def test_every_format_is_always_offered_once(events: list[tuple[str, str]], setting: str) -> None:
    plan = FormatPlan(setting=setting, server="s", memory=None)
    for what, fmt in events:
        if what == "worked":
            plan.worked(fmt)
        else:
            plan.refused(fmt, "test")
    candidates = plan.candidates()
    assert sorted(candidates) == sorted(AUTO_ORDER)
    if setting != "auto":
        assert candidates[0] == setting
