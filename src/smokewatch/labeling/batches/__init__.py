"""Batches: the 16 clips (RISE's number) a user is given to label at a time, and their answers.

One idea per module: ``policy`` (what a batch holds), ``draw`` (choosing its clips in one
index-range statement), ``give`` (storing it for its user), ``submit`` (taking its answers
back once, as the kind of batch it was given as), ``answers`` (the writes that move states and
append the label history), ``statements`` (their SQL, built once).

The two requests (``get_batch``, ``send_batch``) are written as plans (``db.Plan``: generators
that yield groups of statements and get their rows back), so that the same code runs in a
session and on the event loop, in two database round trips each on PostgreSQL.
"""

from __future__ import annotations

from smokewatch.labeling.batches.answers import BatchError, set_researcher_states
from smokewatch.labeling.batches.draw import DrawnBatch
from smokewatch.labeling.batches.give import GivenBatch, give_batch_plan
from smokewatch.labeling.batches.policy import BatchPolicy
from smokewatch.labeling.batches.submit import Score, submit_batch_plan

__all__ = [
    "BatchError",
    "BatchPolicy",
    "DrawnBatch",
    "GivenBatch",
    "Score",
    "give_batch_plan",
    "set_researcher_states",
    "submit_batch_plan",
]
