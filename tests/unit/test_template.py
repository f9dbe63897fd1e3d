"""template.yaml: lint-clean, and the properties a reviewer checks (least privilege, locked-down
buckets, image functions wired to the documented entry points, filters for every format)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from engine import INPUT_SUFFIXES
from handler.keys import PREFIX_MAX_BYTES
from handler.settings import HandlerSettings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ENTRY_POINTS = {"RemoverFunction": "handler.s3_entry.lambda_handler", "ApiFunction": "handler.api_entry.lambda_handler"}


def functions() -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}


def test_both_functions_are_images_of_infra_dockerfile_with_the_documented_commands():
    assert TEMPLATE["Transform"] == "AWS::Serverless-2016-10-31"
    assert set(functions()) == set(ENTRY_POINTS)
    for name, function in functions().items():
        assert function["Properties"]["PackageType"] == "Image"
        assert function["Metadata"]["DockerContext"] == "."
        assert function["Metadata"]["Dockerfile"] == "infra/Dockerfile"
        assert (ROOT / function["Metadata"]["Dockerfile"]).is_file()
        assert function["Properties"]["ImageConfig"]["Command"] == [ENTRY_POINTS[name]]


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS.values()))
def test_each_entry_point_exists(entry_point: str):
    module, function = entry_point.rsplit(".", 1)
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
    assert function in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


@pytest.mark.parametrize("bucket", ["InputBucket", "OutputBucket"])
def test_buckets_are_encrypted_private_and_tls_only(bucket: str):
    properties = RESOURCES[bucket]["Properties"]
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (policy,) = [
        r
        for r in RESOURCES.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    deny = policy["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_one_eventbridge_rule_matches_every_supported_suffix_in_any_case():
    """S3's notification filters are case-sensitive (one per suffix and case still missed `.Jpg`);
    the rule's `equals-ignore-case` suffixes are exactly the engine's input suffixes."""
    notification = RESOURCES["InputBucket"]["Properties"]["NotificationConfiguration"]
    assert notification == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    pattern = RESOURCES["ObjectCreatedRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "InputBucket"}]
    matchers = pattern["detail"]["object"]["key"]
    assert {m["suffix"]["equals-ignore-case"] for m in matchers} == set(INPUT_SUFFIXES)
    targets = RESOURCES["ObjectCreatedRule"]["Properties"]["Targets"]["Fn::If"]
    assert targets[0] == "QueueEnabled"
    assert targets[1][0]["Arn"] == {"Fn::GetAtt": ["BufferQueue", "Arn"]}
    direct = targets[2][0]
    assert direct["Arn"] == {"Fn::GetAtt": ["RemoverFunction", "Arn"]}
    assert direct["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}
    permission = RESOURCES["ObjectCreatedInvokePermission"]
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": ["ObjectCreatedRule", "Arn"]}


def statements(function: str) -> list[dict[str, Any]]:
    policies = RESOURCES[function]["Properties"]["Policies"]
    return [statement for policy in policies if "Statement" in policy for statement in policy["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resource_text(resource: Any) -> str:
    return json.dumps(resource)


def test_worker_reads_only_the_input_prefix_and_writes_only_the_output_prefixes():
    by_action: dict[str, list[str]] = {}
    for statement in statements("RemoverFunction"):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action
            by_action.setdefault(action, []).extend(resource_text(r) for r in as_list(statement["Resource"]))
    assert set(by_action) == {"s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:PutObject"}
    assert by_action["s3:PutObject"] == [
        '{"Fn::Sub": "${OutputBucket.Arn}/${OutputPrefix}*"}',
        '{"Fn::Sub": "${OutputBucket.Arn}/${FailurePrefix}*"}',
    ]
    assert all("bg-remover-input" in r and "${InputPrefix}*" in r for r in by_action["s3:GetObjectVersion"])
    reads = by_action["s3:GetObject"]
    assert sum("bg-remover-input" in r for r in reads) == 1 and all(
        "${InputPrefix}*" in r or "OutputBucket" in r for r in reads
    )


def test_the_worker_names_the_bucket_it_creates_and_the_queues_take_only_the_rules_events():
    name, variables = RESOURCES["InputBucket"]["Properties"]["BucketName"]["Fn::Sub"]
    assert RESOURCES["RemoverFunction"]["Properties"]["Environment"]["Variables"]["INPUT_BUCKET"] == {
        "Fn::Sub": [name, variables]
    }
    rule = {"Fn::GetAtt": ["ObjectCreatedRule", "Arn"]}
    for queue_policy in ("BufferQueuePolicy", "FailedEventsQueuePolicy"):
        allow = RESOURCES[queue_policy]["Properties"]["PolicyDocument"]["Statement"][0]
        assert allow["Principal"] == {"Service": "events.amazonaws.com"}
        assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == rule


def test_api_writes_only_browser_uploads_and_its_large_replies_and_reads_only_those_results():
    actions = {}
    for statement in statements("ApiFunction"):
        for action in as_list(statement["Action"]):
            actions.setdefault(action, []).extend(resource_text(r) for r in as_list(statement["Resource"]))
    replies = '{"Fn::Sub": "${OutputBucket.Arn}/${OutputPrefix}api/*"}'
    assert set(actions) == {"s3:PutObject", "s3:GetObject"}
    assert actions["s3:PutObject"] == ['{"Fn::Sub": "${InputBucket.Arn}/${InputPrefix}uploads/*"}', replies]
    reads = [r for r in actions["s3:GetObject"] if r != replies]
    assert len(reads) == 2 and all("OutputBucket" in r and "${InputPrefix}uploads/*" in r for r in reads)
    expiry = RESOURCES["OutputBucket"]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert expiry["Prefix"] == {"Fn::Sub": "${OutputPrefix}api/"} and expiry["ExpirationInDays"] == 1


def test_api_is_optional_and_binary():  # its authentication: test_template_api_auth.py
    api = RESOURCES["Api"]
    assert api["Condition"] == "ApiEnabled" and RESOURCES["ApiFunction"]["Condition"] == "ApiEnabled"
    assert "*~1*" in api["Properties"]["BinaryMediaTypes"]
    routes = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in RESOURCES["ApiFunction"]["Properties"]["Events"].values()
    }
    assert routes == {("GET", "/"), ("HEAD", "/"), ("POST", "/remove"), ("POST", "/uploads")} | {
        ("ANY", path) for path in ("/", "/remove", "/uploads", "/{proxy+}")
    }, "every other method and path reaches the function (405, coded 404)"


def test_failures_have_a_destination_and_alarms():
    destination = RESOURCES["RemoverFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert destination == {"Type": "SQS", "Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}
    assert RESOURCES["BufferQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["FailedEventsQueue", "Arn"]
    }
    mapping = RESOURCES["BufferQueueEventSource"]
    assert mapping["Condition"] == "QueueEnabled" and mapping["Properties"]["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"
    ]
    alarms = {
        (metric["MetricName"], str(metric["Dimensions"][0]["Value"]))
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for metric in _alarm_metrics(r["Properties"])
    }
    assert ("Errors", "{'Ref': 'RemoverFunction'}") in alarms
    assert ("Errors", "{'Ref': 'ApiFunction'}") in alarms, "the API function has its alarm too"
    assert {name for name, _ in alarms} == {
        "Errors",
        "ImageErrors",
        "ImagesFailed",
        "ImagesProcessed",
        "ApproximateNumberOfMessagesVisible",
    }


def _alarm_metrics(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm watches: its own, or those of its metric math."""
    if "MetricName" in alarm:
        return [alarm]
    return [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]


def test_parameters_and_their_defaults_are_accepted_by_the_handler():
    parameters = TEMPLATE["Parameters"]
    expected = {
        "MemorySize",
        "Timeout",
        "EngineModel",
        "InputPrefix",
        "OutputPrefix",
        "FailurePrefix",
        "DefaultOptions",
        "ReservedConcurrency",
        "LogRetentionDays",
        "UseQueue",
        "EnableApi",
        "AlarmTopicArn",
    }
    assert expected <= set(parameters)
    HandlerSettings.from_env(
        {
            "INPUT_BUCKET": "bg-remover-input-123456789012-us-east-1-abcdef012345",
            "OUTPUT_BUCKET": "stack-outputbucket-1a2b3c4d5e6f",
            **{
                variable: parameters[name]["Default"]
                for variable, name in [
                    ("INPUT_PREFIX", "InputPrefix"),
                    ("OUTPUT_PREFIX", "OutputPrefix"),
                    ("FAILURE_PREFIX", "FailurePrefix"),
                    ("DEFAULT_OPTIONS", "DefaultOptions"),
                ]
            },
        }
    )


@pytest.mark.parametrize("name", ["InputPrefix", "OutputPrefix", "FailurePrefix"])
def test_a_prefix_the_template_takes_is_not_one_the_handler_refuses_at_cold_start(name: str):
    assert TEMPLATE["Parameters"][name]["MaxLength"] == PREFIX_MAX_BYTES  # its pattern allows only ASCII


def test_env_json_sets_only_variables_the_template_declares():
    """`sam local invoke -n events/env.json` ignores variables a function does not declare."""
    globals_env = set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    overrides = json.loads((ROOT / "events" / "env.json").read_text())
    for name, variables in overrides.items():
        declared = globals_env | set(RESOURCES[name]["Properties"]["Environment"]["Variables"])
        assert set(variables) - declared <= {"POWERTOOLS_TRACE_DISABLED"}


def test_the_shortest_timeout_the_template_takes_leaves_the_worker_time_to_work():
    """Timeout=10 was accepted beside MIN_REMAINING_MS=10000: the worker never had the time it reserves,
    started no image and handed every one back until the dead-letter queue took them."""
    reserve_ms = int(RESOURCES["RemoverFunction"]["Properties"]["Environment"]["Variables"]["MIN_REMAINING_MS"])
    shortest_ms = int(TEMPLATE["Parameters"]["Timeout"]["MinValue"]) * 1000
    assert shortest_ms - reserve_ms >= 10_000, "a batch of photos needs seconds beyond the reserve"


def test_the_output_bucket_lets_the_page_read_the_findings_it_shows():
    """The page tells a user when no subject was found or only an animation's first frame was cut
    out, from the reply's headers or, for a result read from S3 (a large upload, a large reply),
    from the object's metadata; without ExposedHeaders in the bucket's CORS rule the browser hides
    those from the page, and the note was lost for exactly those results."""
    page = (ROOT / "handler" / "page.html").read_text()
    read = {
        f"x-amz-meta-{name}"
        for name in ("no-subject", "first-frame-only")
        if f"found({name!r})" in page.replace('"', "'")
    }
    assert read == {"x-amz-meta-no-subject", "x-amz-meta-first-frame-only"}  # what the page reads today
    rules = RESOURCES["OutputBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    get_rules = [rule for rule in rules if "GET" in rule["AllowedMethods"]]
    assert get_rules and all(read <= set(rule.get("ExposedHeaders", [])) for rule in get_rules)
