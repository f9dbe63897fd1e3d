"""template.yaml's dashboard charts the metrics handler/observability.py emits, by their names,
and the Architecture parameter sets both functions' CPU."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from engine import StageTimings
from handler import observability
from handler.observability import latency_metric

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
NAMESPACE = "BackgroundRemover"


def emitted() -> set[str]:
    """Every metric name observability.py emits: its literal names, each stage's latency, ColdStart."""
    source = Path(observability.__file__).read_text()
    literal = set(re.findall(r'name="([A-Za-z]+)"', source))
    stages = {latency_metric(key) for key in StageTimings().as_dict()}
    return literal | stages | {"ColdStart"}  # Powertools' own, from capture_cold_start_metric


def dashboard() -> dict[str, Any]:
    body = TEMPLATE["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    document: dict[str, Any] = json.loads(re.sub(r"\$\{([^}]+)\}", r"\1", body))  # CloudFormation's substitutions
    return document


def charted() -> list[tuple[str, str, dict[str, Any]]]:
    """(metric name, stat, the widget's properties) of every metric of the namespace charted."""
    found = []
    for widget in dashboard()["widgets"]:
        properties = widget["properties"]
        for line in properties["metrics"]:
            options = line[-1] if isinstance(line[-1], dict) else {}
            if line[0] == NAMESPACE:
                found.append((line[1], options.get("stat", properties.get("stat", "")), properties))
            elif "expression" in options:
                found += [
                    (name, "Sum", properties) for name in re.findall(r'MetricName=\\?"(\w+)', options["expression"])
                ]
    return found


def test_every_charted_metric_is_one_the_handlers_emit() -> None:
    assert {name for name, _, _ in charted()} <= emitted()


def test_the_dashboard_shows_what_an_operator_looks_for() -> None:
    shown = {(name, stat) for name, stat, _ in charted()}
    assert {("ImagesProcessed", "Sum"), ("ImagesFailed", "Sum"), ("ColdStart", "Sum")} <= shown
    for key in StageTimings().as_dict():
        assert {(latency_metric(key), "p50"), (latency_metric(key), "p99")} <= shown
    assert {"Megapixels", "Uncertainty"} <= {name for name, _ in shown}
    per_minute = {name for name, stat, props in charted() if props.get("period") == 60 and stat == "Sum"}
    assert {"ImagesProcessed", "ImagesFailed"} <= per_minute


@pytest.mark.parametrize(
    ("alarm", "function", "service"),
    [("RemoverErrorsAlarm", "RemoverFunction", "worker"), ("ApiErrorsAlarm", "ApiFunction", "api")],
)
def test_each_functions_errors_and_the_images_it_could_not_process_raise_an_alarm(
    alarm: str, function: str, service: str
) -> None:
    """Lambda's Errors, and ImageErrors for what a function reports without raising (a batch's
    failed messages and tasks, the API's 500s): tests/integration/test_operations.py evaluates them."""
    metrics = {m["Id"]: m for m in TEMPLATE["Resources"][alarm]["Properties"]["Metrics"]}
    lambda_errors = metrics["invocation_errors"]["MetricStat"]["Metric"]
    assert lambda_errors["MetricName"] == "Errors" and lambda_errors["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": function}}
    ]
    image_errors = metrics["image_errors"]["MetricStat"]["Metric"]
    assert (image_errors["Namespace"], image_errors["MetricName"]) == (NAMESPACE, "ImageErrors")
    assert image_errors["Dimensions"] == [{"Name": "service", "Value": {"Fn::Sub": f"${{AWS::StackName}}-{service}"}}]
    variables = TEMPLATE["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == image_errors["Dimensions"][0]["Value"]
    assert metrics["errors"]["Expression"] == "FILL(invocation_errors, 0) + FILL(image_errors, 0)"


def test_the_architecture_parameter_sets_both_functions_cpu() -> None:
    spec = TEMPLATE["Parameters"]["Architecture"]
    assert spec["Default"] == "x86_64" and spec["AllowedValues"] == ["x86_64", "arm64"]
    assert TEMPLATE["Globals"]["Function"]["Architectures"] == [{"Ref": "Architecture"}]


def test_the_cold_starts_charted_are_this_stacks_only() -> None:
    """The SEARCH matched every service of the namespace, which every stack shares: a prod stack's
    dashboard counted a staging stack's cold starts in the same account and region."""
    body = TEMPLATE["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    (search,) = re.findall(r"SEARCH\('([^']*)'", body)
    services = re.findall(r'service=\\"([^"\\]+)\\"', search)
    assert sorted(services) == ["${AWS::StackName}-api", "${AWS::StackName}-worker"], search
    assert " OR " in search and 'MetricName=\\"ColdStart\\"' in search
