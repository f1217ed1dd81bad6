"""The RISE label-state machine: the one place where answers become label states and labels.

RISE stores two states per clip. The *citizen* state advances with volunteer answers: two
agreeing answers settle a clip ("strong"), a disagreement ("discord") asks a third volunteer
whose answer settles it ("weak"). The *researcher* (admin) state is separate and never
overwritten by volunteers; when set, it wins in the final label. The weight of a label says
how much the two sources agree, and is what the published split files carry.

Everything here is a pure function over integers so the labeling service, the dataset tools
and the analysis code share exactly one implementation. The codes and rules reproduce RISE's
published dataset (all 12,567 labels and weights of the 2020-02-24 snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

__all__ = [
    "State",
    "ADMIN_FINAL_STATES",
    "ADMIN_STATES",
    "CITIZEN_STATES",
    "PARTIAL_STATES",
    "GOLD_STATES",
    "gold_answer_right",
    "POSITIVE_STATES",
    "NEGATIVE_STATES",
    "RESEARCHER_ONLY_STATES",
    "citizen_next",
    "citizen_replay",
    "expert_next",
    "researcher_state",
    "final_label",
    "label_weight",
    "is_valid_state",
]


class State(IntEnum):
    """Label-state codes, as stored in RISE's database and metadata files."""

    BAD = -2  #: unusable clip (e.g. camera glitch); never offered, never labeled
    NO_DATA = -1  #: no answer yet
    DISCORD = 3  #: two volunteers disagreed; a third answer is needed
    ONE_NO = 4  #: one volunteer said no smoke
    ONE_YES = 5  #: one volunteer said smoke
    MEDIUM_NEG = 12  #: discord settled by an expert's "no smoke"
    MEDIUM_POS = 15  #: discord settled by an expert's "smoke"
    STRONG_NEG = 16  #: two volunteers (or a researcher) said no smoke
    WEAK_POS = 19  #: discord settled by a third "smoke"
    WEAK_NEG = 20  #: discord settled by a third "no smoke"
    STRONG_POS = 23  #: two volunteers (or a researcher) said smoke
    GOLD_NEG = 32  #: gold standard without smoke (set by researchers)
    GOLD_POS = 47  #: gold standard with smoke (set by researchers)


#: Citizen transitions: (state, answer) -> next state; absent pairs leave the state unchanged.
_CITIZEN_NEXT: dict[tuple[State, int], State] = {
    (State.NO_DATA, 1): State.ONE_YES,
    (State.NO_DATA, 0): State.ONE_NO,
    (State.ONE_YES, 1): State.STRONG_POS,
    (State.ONE_YES, 0): State.DISCORD,
    (State.ONE_NO, 1): State.DISCORD,
    (State.ONE_NO, 0): State.STRONG_NEG,
    (State.DISCORD, 1): State.WEAK_POS,
    (State.DISCORD, 0): State.WEAK_NEG,
}

#: Expert transitions (RISE's ``client_type`` 1): one expert answer weighs as much as two
#: volunteers' on a fresh clip; after one volunteer it agrees (strong) or settles (weak); on a
#: discord it settles it (medium).
_EXPERT_NEXT: dict[tuple[State, int], State] = {
    (State.NO_DATA, 1): State.STRONG_POS,
    (State.NO_DATA, 0): State.STRONG_NEG,
    (State.ONE_YES, 1): State.STRONG_POS,
    (State.ONE_YES, 0): State.WEAK_NEG,
    (State.ONE_NO, 1): State.WEAK_POS,
    (State.ONE_NO, 0): State.STRONG_NEG,
    (State.DISCORD, 1): State.MEDIUM_POS,
    (State.DISCORD, 0): State.MEDIUM_NEG,
}

#: States a researcher may set directly (besides the answers 1 and 0).
_RESEARCHER_DIRECT = frozenset(
    {
        State.STRONG_POS,
        State.STRONG_NEG,
        State.GOLD_POS,
        State.GOLD_NEG,
        State.BAD,
        State.NO_DATA,
    }
)

#: The states each column can hold: volunteers' and experts' answers move the citizens'
#: column (bad may be set there too); researchers set theirs directly, never a weak or medium
#: state (see :func:`researcher_state`).
CITIZEN_STATES = frozenset(set(_CITIZEN_NEXT.values()) | set(_EXPERT_NEXT.values())) | {
    State.NO_DATA,
    State.BAD,
}
ADMIN_STATES = _RESEARCHER_DIRECT

#: Researcher states that take a clip out of the volunteers' pages.
ADMIN_FINAL_STATES = frozenset(
    {
        State.GOLD_POS,
        State.GOLD_NEG,
        State.STRONG_POS,
        State.STRONG_NEG,
        State.WEAK_POS,
        State.WEAK_NEG,
        State.MEDIUM_POS,
        State.MEDIUM_NEG,
        State.BAD,
    }
)

#: Citizen states with some answers but no decision: offered before unlabeled clips.
PARTIAL_STATES = frozenset({State.DISCORD, State.ONE_NO, State.ONE_YES})

#: Researcher states of the gold standards: the clips whose answers check a volunteer's page.
GOLD_STATES = frozenset({State.GOLD_POS, State.GOLD_NEG})


def gold_answer_right(admin: int, answer: int | bool) -> bool | None:
    """Whether a volunteer's answer on a gold standard is the known one (smoke on a positive,
    no smoke on a negative); None when the clip (``admin``: its researcher state) is not gold.

    RISE takes a page's answers only when every gold standard on it is answered right.
    """
    if admin == State.GOLD_POS:
        return _answer(answer) == 1
    if admin == State.GOLD_NEG:
        return _answer(answer) == 0
    return None


#: Settled "smoke" and "no smoke", whoever settled it (the gallery's positives and negatives;
#: gold standards are not among them).
POSITIVE_STATES = frozenset({State.STRONG_POS, State.MEDIUM_POS, State.WEAK_POS})
NEGATIVE_STATES = frozenset({State.STRONG_NEG, State.MEDIUM_NEG, State.WEAK_NEG})

#: Researcher states that only researchers may see: which clips check volunteers, and which
#: are unusable. Public answers never show or count these clips.
RESEARCHER_ONLY_STATES = frozenset({State.GOLD_POS, State.GOLD_NEG, State.BAD})

_POSITIVE_ADMIN = frozenset({State.GOLD_POS, State.STRONG_POS})
_NEGATIVE_ADMIN = frozenset({State.GOLD_NEG, State.STRONG_NEG})
_POSITIVE_CITIZEN = frozenset({State.STRONG_POS, State.WEAK_POS, State.MEDIUM_POS})
_NEGATIVE_CITIZEN = frozenset({State.STRONG_NEG, State.WEAK_NEG, State.MEDIUM_NEG})

#: Weight of a researcher's label given the citizens' state: how far the crowd agreed.
#: RISE's data holds no medium state (an expert settled a discord), so RISE's weights for
#: them are unknown; here they weigh as the weak states (a discord settled by a third answer).
_RESEARCHER_WEIGHT: dict[State, dict[State, float]] = {
    State.STRONG_POS: {
        State.STRONG_POS: 1.0,
        State.WEAK_POS: 0.83,
        State.MEDIUM_POS: 0.83,
        State.WEAK_NEG: 0.66,
        State.MEDIUM_NEG: 0.66,
        State.STRONG_NEG: 0.5,
    },
    State.STRONG_NEG: {
        State.STRONG_NEG: 1.0,
        State.WEAK_NEG: 0.83,
        State.MEDIUM_NEG: 0.83,
        State.WEAK_POS: 0.66,
        State.MEDIUM_POS: 0.66,
        State.STRONG_POS: 0.5,
    },
}
_RESEARCHER_UNDETERMINED_WEIGHT = 0.75
_CITIZEN_WEIGHT: dict[State, float] = {
    State.STRONG_POS: 1.0,
    State.STRONG_NEG: 1.0,
    State.WEAK_POS: 0.66,
    State.WEAK_NEG: 0.66,
    State.MEDIUM_POS: 0.66,
    State.MEDIUM_NEG: 0.66,
}


def is_valid_state(code: int) -> bool:
    """True if ``code`` is one of RISE's label-state codes."""
    return code in State._value2member_map_


def _answer(answer: int | bool) -> int:
    if isinstance(answer, bool):
        return int(answer)
    if answer not in (0, 1):
        raise ValueError(f"a volunteer answer is 1 (smoke) or 0 (no smoke), got {answer!r}")
    return answer


def citizen_next(state: int, answer: int | bool) -> State:
    """The citizen state after one volunteer answer (1 smoke, 0 no smoke).

    States outside the two-plus-one voting path (settled, gold, bad) are returned unchanged:
    the answer is still worth recording in the label history, it just moves nothing.
    """
    current = State(state)
    return _CITIZEN_NEXT.get((current, _answer(answer)), current)


def expert_next(state: int, answer: int | bool) -> State:
    """The citizen state after one expert's answer (RISE's expert transitions): alone it
    settles a fresh clip, agrees with or overrules one volunteer, or settles a discord.

    Like :func:`citizen_next`, states off the voting path are returned unchanged."""
    current = State(state)
    return _EXPERT_NEXT.get((current, _answer(answer)), current)


def citizen_replay(
    answers: Iterable[int | bool],
    start: int = State.NO_DATA,
    *,
    experts: Iterable[bool] | None = None,
) -> State:
    """The citizen state after a sequence of answers, from ``start`` (default: no data).

    ``experts``: per answer, whether an expert gave it (default: none did). The service moves
    an expert's answer by :func:`expert_next`, so a replay that treated it as a volunteer's
    would leave undecided clips the service had settled."""
    state = State(start)
    given = list(answers)
    by_expert = [False] * len(given) if experts is None else list(experts)
    if len(by_expert) != len(given):
        raise ValueError(f"{len(given)} answers but {len(by_expert)} expert flags")
    for answer, expert in zip(given, by_expert, strict=True):
        state = expert_next(state, answer) if expert else citizen_next(state, answer)
    return state


def researcher_state(answer: int) -> State:
    """The admin state a researcher's answer sets: 1 -> strong pos, 0 -> strong neg.

    Researchers may also set a state directly (gold, bad, or back to no data). Not the weak
    states 19/20: the final label counts a researcher's strong and gold states only (RISE's
    rule, checked against its published labels), so a researcher's 19 would not win.
    """
    if isinstance(answer, bool):
        answer = int(answer)
    if answer == 1:
        return State.STRONG_POS
    if answer == 0:
        return State.STRONG_NEG
    if answer in State._value2member_map_ and State(answer) in _RESEARCHER_DIRECT:
        return State(answer)
    allowed = ", ".join(str(int(s)) for s in sorted(_RESEARCHER_DIRECT))
    raise ValueError(f"a researcher answer is 1, 0 or one of {allowed}; got {answer!r}")


def final_label(citizen: int, admin: int) -> int | None:
    """The clip's label (1 smoke, 0 no smoke) or None when undecided or bad; researchers win.

    A clip marked bad (either state -2) has no label whatever else was said of it: it is
    unusable, so it must not be trained on, counted or scored."""
    if State.BAD in (citizen, admin):
        return None
    if admin in _POSITIVE_ADMIN:
        return 1
    if admin in _NEGATIVE_ADMIN:
        return 0
    if citizen in _POSITIVE_CITIZEN:
        return 1
    if citizen in _NEGATIVE_CITIZEN:
        return 0
    return None


def label_weight(citizen: int, admin: int) -> float | None:
    """How much to trust the final label, as RISE's published split files weigh it.

    A researcher's strong label is weighted by how far the citizens agreed with it
    (0.75 when the citizens had not decided); a citizen-only label weighs 1 when two
    volunteers agreed and 0.66 when a third (or an expert) settled a discord. None when there
    is no label (undecided or bad); gold standards weigh 1.
    """
    if final_label(citizen, admin) is None:
        return None
    if admin in (State.GOLD_POS, State.GOLD_NEG):
        return 1.0
    if admin in _RESEARCHER_WEIGHT:
        by_citizen = _RESEARCHER_WEIGHT[State(admin)]
        return by_citizen.get(State(citizen), _RESEARCHER_UNDETERMINED_WEIGHT)
    return _CITIZEN_WEIGHT[State(citizen)]
