"""template.yaml's ApiAuth: IAM (the default) signs every route; API_KEY wants x-api-key on
/remove and /uploads under a usage plan with throttling and a quota, and leaves the page open.
Checked on the template as written (conditions resolved as CloudFormation would) and on SAM's
own translation of it for each value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from local.api_gateway import key_refused, matched_route
from local.template_config import route_security

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TEXT = (ROOT / "template.yaml").read_text()
TEMPLATE = yaml_parse(TEMPLATE_TEXT)
ROUTES = ("GET /", "HEAD /", "POST /remove", "POST /uploads")
# Every other method and path reaches the function too (405 with Allow, a coded 404), never API
# Gateway's own 403 "Missing Authentication Token"; as well guarded as the work.
CATCH_ALL = ("ANY /", "ANY /remove", "ANY /uploads", "ANY /{proxy+}")
ANY_METHOD = "x-amazon-apigateway-any-method"
KEY_RESOURCES = {"ApiUsagePlan": "AWS::ApiGateway::UsagePlan", "ApiKey": "AWS::ApiGateway::ApiKey",
                 "ApiUsagePlanKey": "AWS::ApiGateway::UsagePlanKey"}  # fmt: skip


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def translated(parameters: dict[str, str]) -> dict[str, Any]:
    """SAM's translation of the template (what CloudFormation receives), as `sam deploy` makes it."""
    template = yaml_parse(TEMPLATE_TEXT)
    for function in ("RemoverFunction", "ApiFunction"):  # what `sam build` fills in
        template["Resources"][function]["Properties"]["ImageUri"] = "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"
    result: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    return result


def test_the_parameter_offers_iam_by_default_and_api_key() -> None:
    spec = TEMPLATE["Parameters"]["ApiAuth"]
    assert spec["Default"] == "IAM" and spec["AllowedValues"] == ["IAM", "API_KEY"]
    environment = TEMPLATE["Resources"]["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["API_AUTH"] == {"Ref": "ApiAuth"}, "the page learns whether to ask for a key"


def test_iam_signs_every_route() -> None:
    assert route_security(TEMPLATE) == {route: {"sigv4"} for route in ROUTES + CATCH_ALL}
    assert route_security(TEMPLATE, {"ApiAuth": "IAM"}) == route_security(TEMPLATE)


def test_api_key_guards_the_work_and_leaves_the_page_open() -> None:
    assert route_security(TEMPLATE, {"ApiAuth": "API_KEY"}) == {
        "GET /": set(),
        "HEAD /": set(),  # an uptime check of the page needs no key either
        "POST /remove": {"api_key"},
        "POST /uploads": {"api_key"},
        **{route: {"api_key"} for route in CATCH_ALL},
    }
    schemes = TEMPLATE["Resources"]["Api"]["Properties"]["DefinitionBody"]["components"]["securitySchemes"]
    assert schemes["api_key"] == {"type": "apiKey", "name": "x-api-key", "in": "header"}
    assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"


def test_the_usage_plan_throttles_and_caps_the_key_only_with_api_key() -> None:
    resources = TEMPLATE["Resources"]
    for logical_id, kind in KEY_RESOURCES.items():
        assert resources[logical_id]["Type"] == kind and resources[logical_id]["Condition"] == "KeyedApi"
    plan = resources["ApiUsagePlan"]["Properties"]
    assert plan["Throttle"] == {"BurstLimit": 20, "RateLimit": 10}
    assert plan["Quota"] == {"Limit": {"Ref": "ApiKeyQuota"}, "Period": "DAY"}
    assert TEMPLATE["Conditions"]["KeyedApi"] == {"Fn::And": [{"Condition": "ApiEnabled"}, {"Condition": "ApiKeyAuth"}]}


@pytest.mark.parametrize("auth", ["IAM", "API_KEY"])
def test_sam_translates_both_variants_into_one_rest_api_with_every_route(
    auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # SAM's arn generator wants one; nothing is called
    resources = translated({"ApiAuth": auth})["Resources"]
    apis = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert len(apis) == 1
    body = apis[0]["Properties"]["Body"]
    methods_and_paths = {
        f"{'ANY' if m == ANY_METHOD else m.upper()} {p}" for p, ms in body["paths"].items() for m in ms
    }
    assert methods_and_paths == set(ROUTES + CATCH_ALL)
    assert all("x-amazon-apigateway-integration" in spec for methods in body["paths"].values()
               for spec in methods.values())  # fmt: skip
    assert body["x-amazon-apigateway-binary-media-types"] == ["*/*"]
    permissions = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Permission" and "Api" in str(r)]
    assert len(permissions) >= len(ROUTES + CATCH_ALL)
    assert resources["ApiUsagePlan"]["Properties"]["ApiStages"][0]["Stage"] == {"Ref": "Apiv1Stage"}


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [("GET", "/", "GET /"), ("HEAD", "/", "HEAD /"), ("POST", "/", "ANY /"), ("GET", "/remove", "ANY /remove"),
     ("POST", "/remove", "POST /remove"), ("GET", "/nope/deeper", "ANY /{proxy+}")],
)  # fmt: skip
def test_the_local_gateway_picks_routes_as_api_gateway_does_and_guards_the_catch_alls(
    method: str, path: str, route: str
) -> None:
    routes = route_security(TEMPLATE, {"ApiAuth": "API_KEY"})
    assert matched_route(routes, method, path) == route
    assert key_refused(routes, ["k"], method, path, None) is (route not in {"GET /", "HEAD /"})
    assert not key_refused(routes, ["k"], method, path, "k")
