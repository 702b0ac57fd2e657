"""Interview prompts as data: every shipped prompt loads, its model design builds as
a real Lab config, its model answer carries the explainer's corrections; a broken
file is one error naming its file and line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lbplay.course.interview import (
    DIMENSIONS,
    PHASES,
    PromptError,
    find_prompt,
    load_prompt,
    load_prompts,
    prompts_dir,
)
from lbplay.errors import ConfigError

SHIPPED = prompts_dir()
REST = SHIPPED / "01-rest-api.toml"


def test_every_shipped_prompt_loads_with_everything_it_needs() -> None:
    prompts = load_prompts()
    assert len(prompts) >= 5
    assert [p.number for p in prompts] == sorted(p.number for p in prompts)
    for prompt in prompts:
        assert [p.key for p in prompt.phases] == list(PHASES)
        assert [r.dimension for r in prompt.rubric] == list(DIMENSIONS)
        assert len(prompt.follow_ups) >= 3
        assert len(prompt.red_flags) >= 4
        assert prompt.model_answer.count("**") >= 14  # a paragraph per dimension, at least
        config = prompt.incident.lab(prompt.model_design)
        assert len(config.all_backends()) == sum(p.servers for p in prompt.model_design.pools)
        assert prompt.incident.length <= 15, "a prove run of one design stays short"


def test_the_source_question_is_there_once_and_corrected() -> None:
    prompts = load_prompts()
    [source] = [p for p in prompts if p.source]
    assert source.id == "rest-api"
    assert source.prompt.startswith(
        "Design a load balancing solution for a REST API with 10 backend servers."
    )
    answer = source.model_answer
    # L7 costs microseconds, not the explainer's 5-10 ms (quoted only to be corrected).
    assert "microseconds" in answer
    assert re.search(r"not the 5–10 ms", answer)
    # Detection takes interval × threshold, and the answer says how long that is.
    assert "interval × threshold" in answer
    assert "about 30 s" in answer
    # "Session replication" is a shared store.
    assert "shared store" in answer
    assert "not\nreplication between servers" in answer or "not replication" in answer
    assert set(source.source_errors) == {3, 5}
    design = source.model_design.main
    assert (design.servers, design.sessions, design.algorithm) == (
        10,
        "shared",
        "least_connections",
    )
    assert design.health is not None
    assert (design.health.interval, design.health.fall) == (10, 3)


def test_find_prompt_by_id_or_number() -> None:
    prompts = load_prompts()
    assert find_prompt(prompts, "rest-api").number == 1
    assert find_prompt(prompts, "2").id == prompts[1].id
    with pytest.raises(ConfigError, match="no interview prompt 'nope' \\(prompts: rest-api"):
        find_prompt(prompts, "nope")


def broken(tmp_path: Path, old: str, new: str, *, count: int = 1) -> Path:
    """The shipped REST prompt with ``old`` replaced by ``new``, as ``01-rest-api.toml``."""
    text = REST.read_text()
    assert text.count(old) >= count, old
    path = tmp_path / "01-rest-api.toml"
    path.write_text(text.replace(old, new, count))
    return path


def line_of(path: Path, fragment: str, occurrence: int = 0) -> int:
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1) if fragment in line]
    return found[occurrence]


@pytest.mark.parametrize(
    ("old", "new", "marker", "message"),
    [
        ('title = "A REST', 'titel = "A REST', "titel =", "no setting 'titel' in a prompt"),
        (
            'dimension = "monitoring"',
            'dimension = "monitor"',
            'dimension = "monitor"',
            "rubric[4].dimension must be one of architecture",
        ),
        ('key = "deep-dive"', 'key = "wrap-up"', "[[phases]]", "phases must be, in order"),
        ("minutes = 15", "minutes = 90", "minutes = 90", "phases[2].minutes must be 1 to 60"),
        ('id = "averages"', 'id = "sticky-is-ha"', 'id = "sticky-is-ha"#1', "two red flags"),
        (
            "health = { interval = 10, timeout = 2, rise = 2, fall = 3 }",
            "health = { interval = 10, timeout = 2, rise = 2 }",
            "health = { interval = 10",
            "model_design.pools[0].health.fall: a health check needs fall",
        ),
        (
            'algorithm = "least_connections"',
            'algorithm = "least_conection"',
            'algorithm = "least_conection"',
            "unknown algorithm 'least_conection'",
        ),
        ('servers = "1/3"', 'servers = "one third"', 'servers = "one third"', 'a share ("1/3")'),
        ("ms = 1000", "ms = 0", "ms = 0", "incident.steps[1].ms must be a number from 1 to"),
        ('action = "kill"', 'action = "explode"', 'action = "explode"', "action must be one of"),
        ("at = 5.0", "at = 9.5", "[[incident.steps]]", "after the end of the window"),
        ("source_errors = [3, 5]", "source_errors = [3, 9]", "source_errors", "1 to 7"),
    ],
)
def test_a_broken_prompt_names_its_file_and_line(
    tmp_path: Path, old: str, new: str, marker: str, message: str
) -> None:
    path = broken(tmp_path, old, new)
    with pytest.raises(PromptError) as caught:
        load_prompt(path, "rest-api", 1)
    error = caught.value
    assert error.path == path
    assert message in error.message
    fragment, _, occurrence = marker.partition("#")
    assert error.line == line_of(path, fragment, int(occurrence or 0)), str(error)
    assert str(error).startswith(f"{path}:{error.line}: ")
    assert "\n" not in str(error)


def test_a_follow_up_without_what_to_listen_for(tmp_path: Path) -> None:
    path = broken(
        tmp_path, 'listen_for = """A server that fails fast', 'heard = """A server that fails fast'
    )
    with pytest.raises(PromptError, match=r"follow_ups\[1\] has no key 'heard'") as caught:
        load_prompt(path, "rest-api", 1)
    assert caught.value.line == line_of(path, "heard =")


def test_invalid_toml_and_stray_files(tmp_path: Path) -> None:
    path = broken(tmp_path, 'title = "A REST', "title = A REST")
    with pytest.raises(PromptError, match="not valid TOML") as caught:
        load_prompt(path, "rest-api", 1)
    assert caught.value.line == 3
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "01-rest-api.toml").write_text(REST.read_text())
    (folder / "rest-api-copy.toml").write_text(REST.read_text())
    with pytest.raises(PromptError, match=r"use NN-<id>\.toml"):
        load_prompts(folder)
    (folder / "rest-api-copy.toml").unlink()
    (folder / "01-another.toml").write_text(REST.read_text())
    with pytest.raises(PromptError, match="two prompts are number 01"):
        load_prompts(folder)
