"""The RISE label-state machine: every transition, every label, every weight, and the real data."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smokewatch.core.labels import (
    ADMIN_FINAL_STATES,
    GOLD_STATES,
    PARTIAL_STATES,
    State,
    citizen_next,
    citizen_replay,
    expert_next,
    final_label,
    gold_answer_right,
    is_valid_state,
    label_weight,
    researcher_state,
)

ALL = list(State)


def test_codes_are_rises() -> None:
    assert {s.name: int(s) for s in State} == {
        "BAD": -2,
        "NO_DATA": -1,
        "DISCORD": 3,
        "ONE_NO": 4,
        "ONE_YES": 5,
        "MEDIUM_NEG": 12,
        "MEDIUM_POS": 15,
        "STRONG_NEG": 16,
        "WEAK_POS": 19,
        "WEAK_NEG": 20,
        "STRONG_POS": 23,
        "GOLD_NEG": 32,
        "GOLD_POS": 47,
    }
    assert is_valid_state(23) and not is_valid_state(0) and not is_valid_state(21)


@pytest.mark.parametrize(
    ("state", "answer", "expected"),
    [(-1, 1, 5), (-1, 0, 4), (5, 1, 23), (5, 0, 3), (4, 1, 3), (4, 0, 16), (3, 1, 19), (3, 0, 20)],
)
def test_citizen_transitions(state: int, answer: int, expected: int) -> None:
    assert citizen_next(state, answer) == expected
    assert citizen_next(state, bool(answer)) == expected


@pytest.mark.parametrize("state", [s for s in ALL if s not in (State.NO_DATA, *PARTIAL_STATES)])
@pytest.mark.parametrize("answer", [0, 1])
def test_settled_states_do_not_move(state: State, answer: int) -> None:
    assert citizen_next(state, answer) is state


@pytest.mark.parametrize("answer", [2, -1, 0.5, "1", None])
def test_citizen_rejects_non_binary_answers(answer: object) -> None:
    with pytest.raises(ValueError, match="volunteer answer"):
        citizen_next(-1, answer)  # type: ignore[arg-type]


def test_citizen_rejects_unknown_state() -> None:
    with pytest.raises(ValueError):
        citizen_next(7, 1)


@given(st.lists(st.integers(0, 1), min_size=0, max_size=12))
def test_any_answer_sequence_ends_in_the_majority(answers: list[int]) -> None:
    state = citizen_replay(answers)
    if not answers:
        assert state == State.NO_DATA
        return
    if len(answers) == 1:
        assert state == (State.ONE_YES if answers[0] else State.ONE_NO)
        assert final_label(state, State.NO_DATA) is None
        return
    first, second = answers[0], answers[1]
    if first == second:
        assert state == (State.STRONG_POS if first else State.STRONG_NEG)
        assert final_label(state, State.NO_DATA) == first
    elif len(answers) == 2:
        assert state == State.DISCORD
        assert final_label(state, State.NO_DATA) is None
    else:
        majority = int(sum(answers[:3]) >= 2)
        assert majority == answers[2]
        assert state == (State.WEAK_POS if majority else State.WEAK_NEG)
        assert final_label(state, State.NO_DATA) == majority


def test_replay_from_a_start_state() -> None:
    assert citizen_replay([1], start=State.DISCORD) == State.WEAK_POS
    assert citizen_replay([0, 1, 1], start=State.GOLD_POS) == State.GOLD_POS


def test_replay_moves_an_experts_answer_by_the_expert_rule() -> None:
    assert citizen_replay([1], experts=[True]) == expert_next(State.NO_DATA, 1)
    assert citizen_replay([0, 1], experts=[False, True]) == expert_next(
        citizen_next(State.NO_DATA, 0), 1
    )
    assert final_label(citizen_replay([1], experts=[True]), State.NO_DATA) == 1
    assert citizen_replay([0, 1], experts=[False, False]) == citizen_replay([0, 1])
    with pytest.raises(ValueError, match="2 answers but 1 expert flags"):
        citizen_replay([0, 1], experts=[True])


@pytest.mark.parametrize(("answer", "expected"), [(1, 23), (0, 16), (True, 23), (False, 16)])
def test_researcher_answers(answer: int, expected: int) -> None:
    assert researcher_state(answer) == expected


@pytest.mark.parametrize("direct", [23, 16, 47, 32, -2, -1])
def test_researcher_sets_states_directly(direct: int) -> None:
    assert researcher_state(direct) == direct


# 19/20 too: the final label ignores a researcher's weak state, so it could not win
@pytest.mark.parametrize("bad", [3, 4, 5, 12, 15, 19, 20, 2, 99])
def test_researcher_rejects_other_codes(bad: int) -> None:
    with pytest.raises(ValueError, match="researcher answer"):
        researcher_state(bad)


def _expected_label(citizen: int, admin: int) -> int | None:
    """The rule as the issue states it, written independently of the implementation; a bad
    clip (-2 in either column) has no label, and an expert's medium states count (RISE's
    ``pos_labels``/``neg_labels`` hold 15 and 12)."""
    if -2 in (citizen, admin):
        return None
    if admin in (47, 23):
        return 1
    if admin in (32, 16):
        return 0
    if citizen in (23, 19, 15):
        return 1
    if citizen in (16, 20, 12):
        return 0
    return None


@pytest.mark.parametrize(("citizen", "admin"), list(itertools.product(ALL, ALL)))
def test_final_label_every_pair(citizen: State, admin: State) -> None:
    assert final_label(citizen, admin) == _expected_label(citizen, admin)


WEIGHTS = {
    # (citizen, admin): weight
    (23, -1): 1.0, (16, -1): 1.0, (19, -1): 0.66, (20, -1): 0.66,
    (23, 23): 1.0, (16, 23): 0.5, (20, 23): 0.66, (19, 23): 0.83,
    (-1, 23): 0.75, (3, 23): 0.75, (4, 23): 0.75, (5, 23): 0.75,
    (16, 16): 1.0, (23, 16): 0.5, (19, 16): 0.66, (20, 16): 0.83,
    (-1, 16): 0.75, (3, 16): 0.75, (4, 16): 0.75, (5, 16): 0.75,
}  # fmt: skip


@pytest.mark.parametrize(("pair", "weight"), list(WEIGHTS.items()))
def test_weights(pair: tuple[int, int], weight: float) -> None:
    assert label_weight(*pair) == pytest.approx(weight)


@pytest.mark.parametrize(
    ("citizen", "admin"),
    [(-1, -1), (3, -1), (4, -1), (5, -1), (-2, -1), (23, -2), (16, -2), (-2, 23), (-2, 47)],
)
def test_no_label_no_weight(citizen: int, admin: int) -> None:
    """Undecided, or bad: two volunteers' "smoke" on a clip a researcher marked unusable is
    no label to train on, count or score."""
    assert final_label(citizen, admin) is None
    assert label_weight(citizen, admin) is None


# RISE's expert transitions (``label_state_machine``, client_type 1)
@pytest.mark.parametrize(
    ("state", "answer", "expected"),
    [
        (-1, 1, 23), (-1, 0, 16),
        (5, 1, 23), (5, 0, 20),
        (4, 1, 19), (4, 0, 16),
        (3, 1, 15), (3, 0, 12),
    ],
)  # fmt: skip
def test_expert_transitions(state: int, answer: int, expected: int) -> None:
    assert expert_next(state, answer) == expected
    assert expert_next(state, bool(answer)) == expected


@pytest.mark.parametrize("state", [23, 16, 19, 20, 15, 12, 47, 32, -2])
def test_expert_leaves_settled_states(state: int) -> None:
    assert expert_next(state, 1) == state and expert_next(state, 0) == state


def test_medium_states_weigh_as_the_weak_ones() -> None:
    """An expert settled a discord: a label, weighted as a third volunteer's settling."""
    assert (final_label(15, -1), label_weight(15, -1)) == (1, 0.66)
    assert (final_label(12, -1), label_weight(12, -1)) == (0, 0.66)
    assert label_weight(15, 23) == label_weight(19, 23) == 0.83
    assert label_weight(12, 23) == label_weight(20, 23) == 0.66


def test_weight_exists_exactly_when_label_does() -> None:
    for citizen, admin in itertools.product(ALL, ALL):
        assert (label_weight(citizen, admin) is None) == (final_label(citizen, admin) is None)


def test_final_admin_states() -> None:
    assert ADMIN_FINAL_STATES == {47, 32, 23, 16, 19, 20, 15, 12, -2}


@pytest.mark.rise
def test_reproduces_every_published_label_and_weight(rise_dir) -> None:  # type: ignore[no-untyped-def]
    """All 12,567 records of RISE's split files: label and weight from the two states."""
    checked = 0
    for path in sorted((rise_dir / "split").glob("metadata_*_split_0_by_camera.json")):
        for record in json.loads(path.read_text()):
            s, a = record["label_state"], record["label_state_admin"]
            assert final_label(s, a) == record["label"], record
            assert label_weight(s, a) == pytest.approx(record["weight"]), record
            checked += 1
    assert checked == 12567


@pytest.mark.parametrize(
    ("admin", "answer", "right"),
    [
        (State.GOLD_POS, 1, True),
        (State.GOLD_POS, 0, False),
        (State.GOLD_NEG, 0, True),
        (State.GOLD_NEG, 1, False),
        (State.GOLD_POS, True, True),
    ],
)
def test_gold_answers(admin: State, answer: int, right: bool) -> None:
    assert gold_answer_right(admin, answer) is right


@pytest.mark.parametrize("admin", [s for s in State if s not in GOLD_STATES])
def test_only_gold_standards_check_answers(admin: State) -> None:
    assert gold_answer_right(admin, 1) is None and gold_answer_right(admin, 0) is None


def test_gold_answers_are_binary() -> None:
    with pytest.raises(ValueError, match="1 \\(smoke\\) or 0"):
        gold_answer_right(State.GOLD_POS, 2)
    assert GOLD_STATES == {State.GOLD_POS, State.GOLD_NEG} <= ADMIN_FINAL_STATES
