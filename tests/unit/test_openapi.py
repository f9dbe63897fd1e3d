"""docs/openapi.yaml, the HTTP API for users' tools: a valid OpenAPI 3.1 document that lists every
error code the code can answer under its status, every option and every finding's header.

The codes are collected from the code, not from a hand list: every `InputError` (engine) and
`PermanentError` (handler) subclass at the status `handler.api_entry.HTTP_STATUS` gives it (422 when
none matches, as `_refused` does), every `DeploymentError` subclass at 500, and every literal
`error_response(STATUS, "code", ...)` in handler/. A new code without its entry fails here.
docs/operations.md, the runbook, names every reason a failed cold start logs, collected alike.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from samtranslator.yaml_helper import yaml_parse

from engine import Cutout, DeploymentError, InputError, Options, UnknownModelError
from handler import settings as handler_settings
from handler.errors import PermanentError

ROOT = Path(__file__).resolve().parents[2]
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
UNMATCHED_STATUS = 422  # _refused's status for a caller's error that HTTP_STATUS does not name
DEPLOYMENT_STATUS = 500  # broken_deployment's
LITERAL = re.compile(r'error_response\(\s*(\d{3}),\s*"([a-z_]+)"')


@pytest.fixture(scope="module")
def api_entry() -> Iterator[ModuleType]:
    """handler.api_entry reads its settings when imported, as a cold start does: imported for this
    module's tests, then forgotten, so that later tests import it afresh under their own environment."""
    fresh = "handler.api_entry" not in sys.modules
    module = importlib.import_module("handler.api_entry")
    yield module
    if fresh:
        sys.modules.pop("handler.api_entry", None)
        delattr(sys.modules["handler"], "api_entry")
        handler_settings.load_settings.cache_clear()


def _subclasses(base: type) -> set[type]:
    found = {base}
    for sub in base.__subclasses__():
        found |= _subclasses(sub)
    return found


def _status(kind: type, http_status: dict[type, int]) -> int:
    return next((status for known, status in http_status.items() if issubclass(kind, known)), UNMATCHED_STATUS)


def emitted_codes(api_entry: ModuleType) -> set[tuple[int, str]]:
    """(status, code) of every error the API can answer, from the error classes and handler/'s literals."""
    kinds = _subclasses(InputError) | _subclasses(PermanentError)
    refused = {(_status(kind, api_entry.HTTP_STATUS), kind.code) for kind in kinds}
    broken = {(DEPLOYMENT_STATUS, kind.code) for kind in _subclasses(DeploymentError)}
    literal = {
        (int(status), code)
        for path in (ROOT / "handler").glob("*.py")
        for status, code in LITERAL.findall(path.read_text())
    }
    return refused | broken | literal


def documented_codes() -> set[tuple[int, str]]:
    """(status, code) of every `x-error-codes` entry of every operation's responses."""
    responses = SPEC["components"]["responses"]
    found: set[tuple[int, str]] = set()
    for operations in SPEC["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                found |= {(int(status), code) for code in response.get("x-error-codes", [])}
    return found


def test_the_document_is_valid_openapi_3_1() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_every_error_code_the_code_can_answer_is_documented_under_its_status(api_entry: ModuleType) -> None:
    emitted, documented = emitted_codes(api_entry), documented_codes()
    assert emitted - documented == set(), "answered by the code, missing from docs/openapi.yaml"
    assert documented - emitted == set(), "in docs/openapi.yaml, answered by no code"


def test_the_code_collection_sees_the_known_codes(api_entry: ModuleType) -> None:
    emitted = emitted_codes(api_entry)
    assert {(400, "invalid_option"), (413, "payload_too_large"), (500, "model_not_found")} <= emitted
    assert (501, "uploads_not_configured") in emitted  # a literal in handler/api_entry.py


@pytest.mark.parametrize("route", ["/remove", "/uploads"])
def test_every_option_is_a_query_parameter(route: str) -> None:
    parameters = SPEC["components"]["parameters"]
    names = {parameters[p["$ref"].rsplit("/", 1)[1]]["name"] if "$ref" in p else p["name"]
             for p in SPEC["paths"][route]["post"]["parameters"]}  # fmt: skip
    assert {f.name for f in fields(Options)} <= names


def test_every_finding_has_its_header_on_each_cut_out_reply(api_entry: ModuleType) -> None:
    cutout = Cutout(b"", 1, 1, 1, 1, "m", uncertainty=0.0, foreground=0.0)
    expected = {api_entry._header(name) for name in cutout.findings()} | {"X-Model", "Server-Timing"}
    for status in ("200", "303"):
        headers = set(SPEC["paths"]["/remove"]["post"]["responses"][status]["headers"])
        assert expected <= headers, status
    assert "X-Estimated-Error" in expected


def test_the_stored_results_findings_are_the_findings_the_json_reply_carries() -> None:
    cutout = Cutout(b"", 1, 1, 1, 1, "m", uncertainty=0.0, foreground=0.0)
    documented = SPEC["components"]["schemas"]["StoredResult"]["properties"]["findings"]["properties"]
    assert set(documented) == set(cutout.findings())


def test_server_timing_names_every_timing_the_reply_carries() -> None:
    timings = Cutout(b"", 1, 1, 1, 1, "m", uncertainty=0.0, foreground=0.0).timings.as_dict()
    description = SPEC["components"]["headers"]["Server-Timing"]["description"]
    assert all(name.removesuffix("_ms") in description for name in timings)


def test_the_deployed_server_is_the_templates_stage() -> None:
    """The deployed server's URL ends in the stage template.yaml deploys (ApiUrl's path), so that a
    tool reading this document calls the routes there."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    stage = template["Resources"]["Api"]["Properties"]["StageName"]
    deployed = [server["url"] for server in SPEC["servers"] if "execute-api" in server["url"]]
    assert deployed == [f"https://{{api}}.execute-api.{{region}}.amazonaws.com/{stage}"]


def test_the_runbook_names_every_reason_a_failed_cold_start_logs() -> None:
    """The runbook's row for `the function cannot start`: every concrete DeploymentError's code (a
    bad variable's invalid_setting, a broken default model's), and unknown_model, which a `model=`
    in DEFAULT_OPTIONS that the image lacks raises at start (handler.startup loads that model). It
    named neither model_error nor unknown_model."""
    rows = [line for line in (ROOT / "docs" / "operations.md").read_text().splitlines()
            if line.startswith("|") and "`the function cannot start`" in line]  # fmt: skip
    assert len(rows) == 1
    named = set(re.findall(r"`([a-z_]+)`", rows[0].split("|")[1]))
    concrete = _subclasses(DeploymentError) - {DeploymentError}
    assert named == {kind.code for kind in concrete} | {UnknownModelError.code}


def test_the_error_table_of_api_md_puts_each_code_under_the_status_the_api_answers(api_entry: ModuleType) -> None:
    """docs/api.md's table of the API's errors: every code it names is answered under a status of
    its row, and a row of the caller's statuses names every code the API answers with them (the
    500 row names no code: the deployment's; 422 leaves out the S3 worker's own refusals)."""
    emitted = emitted_codes(api_entry)
    known = {code for _, code in emitted}
    rows = [line.split("|")[1:3] for line in (ROOT / "docs" / "api.md").read_text().splitlines()
            if re.match(r"\| \d{3}\b", line)]  # fmt: skip
    assert {"400", "413", "415", "422", "501"} <= {s for statuses, _ in rows for s in re.findall(r"\d{3}", statuses)}
    for statuses, codes in rows:
        numbers = {int(status) for status in re.findall(r"\d{3}", statuses)}
        named = set(re.findall(r"`([a-z_]+)`", codes)) & known  # not limit_bytes and such fields
        answered = {code for status, code in emitted if status in numbers}
        assert named <= answered, f"{statuses.strip()}: named in docs/api.md, not answered so"
        if numbers & {400, 404, 405, 413, 415, 501}:
            assert answered <= named, f"{statuses.strip()}: answered, missing from docs/api.md's table"
