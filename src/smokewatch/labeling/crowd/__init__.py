"""Crowd studies (the paper's MTurk study, built in): fixed tasks of 12 clips and 4 gold
standards, each answered by K different paid workers, who qualify by passing the tutorial and
finish with a signed completion code. ``work`` holds the rules, ``codes`` the codes."""

from __future__ import annotations

from smokewatch.labeling.crowd.codes import CodeError, Completion, issue_code, verify_code
from smokewatch.labeling.crowd.work import (
    PLATFORMS,
    CrowdError,
    Given,
    close_study,
    create_study,
    crowd_client_id,
    give_task,
    join_study,
    list_studies,
    qualified,
    study_report,
    submit_task,
)

__all__ = [
    "PLATFORMS",
    "CodeError",
    "Completion",
    "CrowdError",
    "Given",
    "close_study",
    "create_study",
    "crowd_client_id",
    "give_task",
    "issue_code",
    "join_study",
    "list_studies",
    "qualified",
    "study_report",
    "submit_task",
    "verify_code",
]
