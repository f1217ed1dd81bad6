"""Who labeled each clip of a metadata file: researchers, citizens, or both (paper, Sec. 3.3).

RISE keeps two states per clip (``core.labels``): the citizens' (``label_state``) and the
researchers' (``label_state_admin``). A side *took part* when its state is anything but "no
data": the citizens' when a volunteer answered at all (one answer, a discord or a settled
label), the researchers' when a researcher set a label that ``core.labels.final_label`` takes
(smoke, no smoke, or a gold standard). A clip marked bad on either side has no label
(``final_label``), whoever answered it: it is unlabeled, not a source's. On RISE's
2020-02-24 metadata this gives the paper's 5,230 researcher-only, 4,777 collaborative and
2,560 citizen-only clips. A collaborative clip need not have a settled citizen label (one
volunteer answer counts); agreement and Cohen's kappa compare the two sides only where both
settled one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from smokewatch.core.clip import Clip
from smokewatch.core.labels import (
    NEGATIVE_STATES,
    PARTIAL_STATES,
    POSITIVE_STATES,
    State,
    final_label,
)

__all__ = ["SOURCES", "LabelSources", "label_sources", "source_of"]

#: The sources of a label, in the paper's order.
SOURCES = ("researcher-only", "collaborative", "citizen-only")

_CITIZEN_ANSWERED = frozenset({*PARTIAL_STATES, *POSITIVE_STATES, *NEGATIVE_STATES})


def source_of(citizen: int, admin: int) -> str | None:
    """Which of :data:`SOURCES` labeled a clip with these states; None when the clip has no
    label (:func:`~smokewatch.core.labels.final_label`): nobody answered, citizens are
    undecided with no researcher label, or either side marked it bad."""
    if final_label(citizen, admin) is None:
        return None
    if final_label(State.NO_DATA, admin) is None:  # the label is the citizens'
        return "citizen-only"
    return "collaborative" if citizen in _CITIZEN_ANSWERED else "researcher-only"


@dataclass(frozen=True, slots=True)
class LabelSources:
    """How a metadata file's clips were labeled, and how far citizens and researchers agree.

    ``counts``: clips per source (:data:`SOURCES`); ``unlabeled``: clips with no final label
    (never answered, marked bad, or citizens undecided with no researcher label).
    ``both``: clips where citizens and researchers each settled a label; ``agree``: how many
    of those match; ``agreement`` = agree / both; ``kappa``: Cohen's kappa over them (None
    when undefined: no such clip, or one class only). ``confusion``: researcher label ×
    citizen label counts, keys ``"r1c0"`` (researcher smoke, citizens no smoke) and so on.
    """

    total: int
    counts: dict[str, int]
    unlabeled: int
    both: int
    agree: int
    agreement: float | None
    kappa: float | None
    confusion: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def label_sources(clips: Iterable[Clip]) -> LabelSources:
    """Count each clip's source and compare the two sides' settled labels."""
    from sklearn.metrics import cohen_kappa_score

    counts = dict.fromkeys(SOURCES, 0)
    unlabeled = total = 0
    citizen_labels: list[int] = []
    researcher_labels: list[int] = []
    for clip in clips:
        total += 1
        source = source_of(clip.label_state, clip.label_state_admin)
        if source is None:
            unlabeled += 1
            continue
        counts[source] += 1
        by_citizens = final_label(clip.label_state, State.NO_DATA)
        by_researchers = final_label(State.NO_DATA, clip.label_state_admin)
        if by_citizens is not None and by_researchers is not None:
            citizen_labels.append(by_citizens)
            researcher_labels.append(by_researchers)
    both = len(citizen_labels)
    pairs = list(zip(researcher_labels, citizen_labels, strict=True))
    confusion = {f"r{r}c{c}": pairs.count((r, c)) for r in (1, 0) for c in (1, 0)}
    agree = confusion["r1c1"] + confusion["r0c0"]
    kappa: float | None = None
    if len(set(citizen_labels) | set(researcher_labels)) == 2:
        value = float(cohen_kappa_score(citizen_labels, researcher_labels))
        kappa = None if value != value else value  # NaN: one side gave one class only
    return LabelSources(
        total=total,
        counts=counts,
        unlabeled=unlabeled,
        both=both,
        agree=agree,
        agreement=agree / both if both else None,
        kappa=kappa,
        confusion=confusion,
    )
