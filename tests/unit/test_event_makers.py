"""The positional makers of the events the proxy builds on every request."""

from __future__ import annotations

import dataclasses

import pytest

from lbplay.core.events import (
    Attempt,
    RequestCompleted,
    make_attempt,
    make_request_completed,
)
from lbplay.core.positional import positional_maker


def test_make_attempt_is_the_dataclass_made_by_position() -> None:
    made = make_attempt("b1", "round robin", "ok", 200, 0.25)
    assert made == Attempt("b1", "round robin", "ok", 200, 0.25)
    assert type(made) is Attempt


def test_make_request_completed_sets_every_field_but_seq_in_order() -> None:
    attempt = Attempt("b2", "least connections", "ok", 503, 0.5)
    values = {
        "at": 3.0,
        "client": "10.0.0.7",
        "method": "POST",
        "path": "/cart?x=1",
        "status": 503,
        "latency": 0.5,
        "backend": "b2",
        "attempts": (attempt,),
        "reason": "least connections",
        "session": "cookie → b2",
        "route": "path /cart",
        "bytes": 12,
        "error": "boom",
    }
    made = make_request_completed(*values.values())
    assert made == RequestCompleted(seq=made.seq, **values)  # type: ignore[arg-type]
    # The keyword constructor and the maker take the sequence numbers from one counter.
    later = RequestCompleted(**values)  # type: ignore[arg-type]
    assert make_request_completed(*values.values()).seq == later.seq + 1
    # Every field is a parameter but the counted one.
    names = [f.name for f in dataclasses.fields(RequestCompleted) if f.name != "seq"]
    assert list(values) == names


def test_made_events_stay_frozen() -> None:
    made = make_attempt("b1", "r", "ok", 200, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.status = 500  # type: ignore[misc]


def test_a_maker_takes_exactly_the_fields_positionally() -> None:
    with pytest.raises(TypeError):
        make_attempt("b1", "r", "ok", 200)
    with pytest.raises(TypeError):
        make_attempt(backend="b1", reason="r", outcome="ok", status=200, latency=0.1)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        bytes: int  # a field named like a builtin
        left: tuple[int, ...] = dataclasses.field(default_factory=tuple)

    assert positional_maker(Pair)(5) == Pair(5, ())
