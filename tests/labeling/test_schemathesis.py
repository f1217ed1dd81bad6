"""Property-based fuzzing of the whole API from its OpenAPI schema: no input gives a 5xx.

Schemathesis generates requests (bodies, query strings, headers) for every operation in the
schema; a real researcher token is put in where a request carries a token field, so the
generated data reaches past authentication into the handlers too.
"""

from __future__ import annotations

from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from service_helpers import make_settings, seed

from smokewatch.labeling.app import create_app
from smokewatch.labeling.db import open_database
from smokewatch.labeling.users import add_account


def test_no_generated_request_gives_a_server_error(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'fuzz.db'}")
    db = open_database(settings)
    seed(db, plain=30)
    with db.write() as s:
        add_account(s, "fuzzer", "fuzzing password")
    app = create_app(settings, database=db)
    with TestClient(app) as client:
        login = {"name": "fuzzer", "password": "fuzzing password"}
        token = client.post("/api/v1/login_password", json=login).json()["user_token"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    failures: list[str] = []
    calls = 0

    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=30,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            nonlocal calls
            if (
                isinstance(case.body, dict)
                and "user_token" in case.body
                and len(case.body) % 2 == 0
            ):
                case.body["user_token"] = token  # half the time a real token, else what was made
            if isinstance(case.query, dict) and "user_token" in case.query:
                case.query["user_token"] = token
            response = case.call()
            calls += 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path} body={case.body!r} -> {response.status_code}"
                )

        fuzz()
    db.dispose()
    assert calls > 200
    assert not failures, failures[:5]
