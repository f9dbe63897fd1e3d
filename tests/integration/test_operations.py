"""What the operator on call sees, through the real path (the functions under the Lambda emulator,
moto's server over HTTP): the JSON log lines and EMF metrics the handlers print, for a user's bad
image and for a broken deployment, checked against what template.yaml's alarms watch."""

from __future__ import annotations

import json
import operator
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from engine.settings import MODELS_DIR
from local.api_gateway import ApiResponse, proxy_event
from local.deployment import TEMPLATE, LocalDeployment
from local.emulator import Invocation, LambdaEmulator
from local.events import batch_job_event, s3_put_event, sqs_event
from local.template_config import load_template
from tests.integration.buckets import corrupt_jpeg, output_keys, sample_bytes, upload

MISSING_BUCKET = "deleted-output-bucket"
TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2025-01-15T12:00:00Z", "Bucket": "input"}
RESOURCES = load_template(TEMPLATE)["Resources"]
STACK_NAME = "bg-remover"  # events/env.json names the services "<stack>-worker" and "<stack>-api"
BROKEN_MODEL = "u2netp-int8"  # not the default: the function starts, and fails the requests that ask for it
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


def log_lines(invocation: Invocation) -> list[dict[str, Any]]:
    """The Powertools JSON log lines of one invocation (not its EMF lines)."""
    found = []
    for line in invocation.function_lines():
        if line.startswith("{"):
            value = json.loads(line)
            if "level" in value:
                found.append(value)
    return found


def emf_blobs(invocation: Invocation) -> list[dict[str, Any]]:
    """The EMF documents one invocation printed (what CloudWatch turns into metrics)."""
    return [json.loads(line) for line in invocation.function_lines() if line.startswith('{"_aws"')]


def emitted(invocation: Invocation) -> dict[str, float]:
    """Metric name -> sum of its values over the invocation's EMF documents, counted once per
    document whatever its dimensions (a metric that is also emitted by reason counts twice)."""
    sums: dict[str, float] = {}
    for blob in emf_blobs(invocation):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = blob[metric["Name"]]
                sums[metric["Name"]] = sums.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values]
                )
    return sums


def source_bytes() -> bytes:
    return sample_bytes("coffee.jpg")


def object_created(bucket: str, key: str) -> dict[str, Any]:
    """An EventBridge "Object Created" event, as the template's rule delivers it."""
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
    }


Observed = list[tuple[str, Invocation]]  # (the function's logical id, one of its invocations)


def _resolved(value: Any) -> str:
    """A dimension value of template.yaml as this local stack has it."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"]).replace("${AWS::StackName}", STACK_NAME)
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])  # a function's name: the emulator's logical id
    return str(value)


def metric_value(metric: Mapping[str, Any], observed: Observed) -> float | None:
    """What CloudWatch would hold for one metric of an alarm (Sum) after these invocations, or None
    when it would have no data. EMF metrics match by namespace, name, dimension set and values."""
    dimensions = {d["Name"]: _resolved(d["Value"]) for d in metric.get("Dimensions", [])}
    if metric["Namespace"] == "AWS/Lambda" and metric["MetricName"] == "Errors":
        invocations = [i for function, i in observed if function == dimensions["FunctionName"]]
        return float(sum(i.function_error is not None for i in invocations)) if invocations else None
    values = []
    for _, invocation in observed:
        for blob in emf_blobs(invocation):
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                names = {m["Name"] for m in directive["Metrics"]}
                same_dimensions = any(set(d) == set(dimensions) for d in directive["Dimensions"])
                if (
                    directive["Namespace"] == metric["Namespace"]
                    and metric["MetricName"] in names
                    and same_dimensions
                    and all(blob.get(name) == value for name, value in dimensions.items())
                ):
                    found = blob[metric["MetricName"]]
                    values += found if isinstance(found, list) else [found]
    return float(sum(values)) if values else None


def alarm_value(alarm: str, observed: Observed) -> float | None:
    """The value an alarm of template.yaml compares with its threshold: its metric's, or its
    metric math expression's (FILL and IF as CloudWatch has them) over its metrics."""
    properties = RESOURCES[alarm]["Properties"]
    if "MetricName" in properties:
        return metric_value(properties, observed)
    values = {
        m["Id"]: metric_value(m["MetricStat"]["Metric"], observed) for m in properties["Metrics"] if "MetricStat" in m
    }
    (expression,) = [m["Expression"] for m in properties["Metrics"] if "Expression" in m and m.get("ReturnData", True)]
    if all(value is None for value in values.values()):
        return None
    functions = {
        "FILL": lambda value, fill: fill if value is None else value,
        "IF": lambda c, yes, no: yes if c else no,
    }
    return float(eval(expression, {"__builtins__": {}, **functions}, values))  # noqa: S307  # nosec B307 - our template


def pages(alarm: str, observed: Observed) -> bool:
    """Whether the alarm goes into ALARM (one evaluation period holding these invocations)."""
    properties = RESOURCES[alarm]["Properties"]
    value = alarm_value(alarm, observed)
    if value is None:
        return properties["TreatMissingData"] == "breaching"
    return COMPARE[properties["ComparisonOperator"]](value, float(properties["Threshold"]))


def alarms() -> list[str]:
    return sorted(name for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm")


@pytest.fixture(scope="module")
def broken_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models, with one model file cut short (a bad image build, a corrupted layer)."""
    folder = tmp_path_factory.mktemp("models")
    for path in MODELS_DIR.iterdir():
        if path.suffix in (".json", ".onnx"):
            shutil.copy(path, folder / path.name)
    damaged = folder / f"{BROKEN_MODEL}.onnx"
    damaged.write_bytes(damaged.read_bytes()[:1000])
    return folder


@pytest.fixture(scope="module")
def broken_model(moto_endpoint: str, broken_model_dir: Path) -> Iterator[LocalDeployment]:
    with LocalDeployment(
        extra_env={"ENGINE_MODEL_DIR": str(broken_model_dir)}, s3_endpoint=moto_endpoint
    ) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def misconfigured(moto_endpoint: str) -> Iterator[LambdaEmulator]:
    """A worker deployed with an output bucket that does not exist (deleted, or mistyped): it starts,
    reads the input, cuts it out and then cannot store anything. The operator's mistake, no user's."""
    with LocalDeployment(extra_env={"OUTPUT_BUCKET": MISSING_BUCKET}, s3_endpoint=moto_endpoint) as deployment:
        yield deployment.emulator(deployment.s3_function)


def test_an_object_handed_back_for_retry_is_logged_at_error_with_its_key_and_reason(stack, misconfigured, input_prefix):
    """A direct event (S3 notification, EventBridge) that fails raises, and the runtime printed a
    plain-text traceback that named neither the object nor a reason an operator can query."""
    source = upload(stack, f"{input_prefix}ops/photo.jpg", sample_bytes("coffee.jpg"))

    direct = misconfigured.invoke(s3_put_event([source]))
    queued = misconfigured.invoke(sqs_event([json.dumps(s3_put_event([source]))]))

    assert direct.function_error is not None, "handed back: Lambda retries the event"
    assert queued.payload() == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    for invocation in (direct, queued):
        errors = [line for line in log_lines(invocation) if line["level"] == "ERROR"]
        (about_object,) = [line for line in errors if line.get("key") == source.key]
        assert about_object["bucket"] == stack.input_bucket and about_object["reason"] == "NoSuchBucket"
        assert about_object["function_request_id"] and about_object["correlation_id"]
        assert "exception" in about_object  # the traceback, in the same JSON line
        assert all(line.get("reason") for line in errors), errors  # the hand-back lines say why too
    assert output_keys(stack) == [], "no failure record: the image is not at fault"


def test_an_image_is_counted_processed_only_once_its_cutout_is_stored(stack, worker, misconfigured, input_prefix):
    """ImagesProcessed ("worker: cut out" on the dashboard) was counted when the engine finished,
    before the store: a worker that could store nothing charted every retried image as cut out."""
    source = upload(stack, f"{input_prefix}ops/counted.jpg", sample_bytes("coffee.jpg"))

    broken = emitted(misconfigured.invoke(s3_put_event([source])))
    working = emitted(worker.invoke(s3_put_event([source])))

    assert "ImagesProcessed" not in broken and "TotalLatency" not in broken, broken
    assert working["ImagesProcessed"] == 1 and working["TotalLatency"] > 0


def test_a_broken_deployment_pages_the_operator_whatever_delivers_the_events(
    stack, misconfigured, broken_model, input_prefix
):
    """An SQS batch or a Batch Operations job whose objects all fail for the deployment's fault still
    returns normally (the failures are reported per message or task), so Lambda's Errors, the only
    metric the worker's alarm watched, stayed 0: with UseQueue=true the operator heard nothing until
    the messages reached the failed-events queue, 5 receives of 15 minutes later, and a backfill job
    never paged at all."""
    source = upload(stack, f"{input_prefix}ops/paged.jpg", source_bytes())
    asks_for_broken_model = f"{input_prefix}ops/model.jpg"
    options = {"options": f"model={BROKEN_MODEL}"}  # as the upload route stores a caller's options
    stack.s3.put_object(Bucket=stack.input_bucket, Key=asks_for_broken_model, Body=source_bytes(), Metadata=options)
    worker_with_broken_model = broken_model.emulator(broken_model.s3_function)
    cases = {
        "direct event": misconfigured.invoke(s3_put_event([source])),
        "SQS batch": misconfigured.invoke(sqs_event([json.dumps(s3_put_event([source]))])),
        "Batch Operations job": misconfigured.invoke(batch_job_event([source], {})),
        "a model file cut short": worker_with_broken_model.invoke(
            sqs_event([json.dumps(object_created(stack.input_bucket, asks_for_broken_model))])
        ),
    }

    assert cases["Batch Operations job"].payload()["results"][0]["resultCode"] == "TemporaryFailure"
    assert cases["a model file cut short"].payload()["batchItemFailures"], "handed back, not failed for good"
    paged = {case: pages("RemoverErrorsAlarm", [("RemoverFunction", i)]) for case, i in cases.items()}
    assert paged == dict.fromkeys(cases, True)
    assert output_keys(stack) == [], "no failure record: the images are not at fault"


def test_an_api_that_answers_500_for_a_broken_model_pages_the_operator(broken_model):
    """A model file cut short is a 500 with the deployment's code: the function returned normally,
    so Lambda's Errors (what the API's alarm watched) stayed 0. A user's bad image pages nobody."""
    api = broken_model.emulator(broken_model.api_function)
    photo, headers = sample_bytes("coffee.jpg"), {"Content-Type": "image/jpeg"}

    broken = api.invoke(proxy_event("POST", "/remove", {"model": [BROKEN_MODEL]}, headers, photo))
    users_mistake = api.invoke(proxy_event("POST", "/remove", None, headers, corrupt_jpeg()))
    working = api.invoke(proxy_event("POST", "/remove", None, headers, photo))

    assert ApiResponse.from_invocation(broken).status == 500
    assert ApiResponse.from_invocation(users_mistake).status == 422
    assert ApiResponse.from_invocation(working).status == 200
    assert pages("ApiErrorsAlarm", [("ApiFunction", broken)])
    assert not any(pages(alarm, [("ApiFunction", users_mistake), ("ApiFunction", working)]) for alarm in alarms())


def dashboard_metrics() -> list[tuple[str, dict[str, str]]]:
    """(metric name, dimensions) of every metric of the namespace template.yaml's dashboard charts,
    the SEARCH expression's included (its dimension set, values unchecked)."""
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    document = json.loads(body.replace("${AWS::StackName}", STACK_NAME).replace("${AWS::Region}", "us-east-1"))
    found = []
    for widget in document["widgets"]:
        for line in widget["properties"]["metrics"]:
            if line[0] == "BackgroundRemover":
                names = [item for item in line[2:] if isinstance(item, str)]
                found.append((line[1], dict(zip(names[::2], names[1::2], strict=True))))
            elif "expression" in line[-1]:
                schema = re.search(r"\{BackgroundRemover,([\w,]+)\}", line[-1]["expression"])
                name = re.search(r'MetricName=\\?"(\w+)', line[-1]["expression"])
                assert schema and name, line
                found.append((name.group(1), dict.fromkeys(schema.group(1).split(","), "")))
    return found


def test_every_metric_the_dashboard_charts_is_printed_with_its_dimensions(
    stack, moto_endpoint, misconfigured, broken_model, input_prefix
):
    good = upload(stack, f"{input_prefix}ops/good.jpg", source_bytes())
    bad = upload(stack, f"{input_prefix}ops/bad.jpg", corrupt_jpeg())
    api = broken_model.emulator(broken_model.api_function)
    headers = {"Content-Type": "image/jpeg"}
    with LocalDeployment(s3_endpoint=moto_endpoint) as fresh:  # a cold start, for ColdStart
        cold = fresh.emulator(fresh.s3_function).invoke(s3_put_event([good, bad]))
    invocations = [
        cold,
        misconfigured.invoke(sqs_event([json.dumps(s3_put_event([good]))])),
        api.invoke(proxy_event("POST", "/remove", None, headers, source_bytes())),
        api.invoke(proxy_event("POST", "/remove", None, headers, corrupt_jpeg())),
        api.invoke(proxy_event("POST", "/remove", {"model": [BROKEN_MODEL]}, headers, source_bytes())),
    ]
    printed = [
        (directive["Namespace"], name, {d: blob[d] for d in dimensions})
        for invocation in invocations
        for blob in emf_blobs(invocation)
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for dimensions in directive["Dimensions"]
        for name in (m["Name"] for m in directive["Metrics"])
    ]

    for name, dimensions in dashboard_metrics():
        assert any(
            namespace == "BackgroundRemover"
            and metric == name
            and set(labels) == set(dimensions)
            and all(not value or labels[d] == value for d, value in dimensions.items())
            for namespace, metric, labels in printed
        ), f"{name} {dimensions} is charted but never printed"


def test_the_failed_images_alarm_pages_when_most_images_fail_not_for_a_few_bad_uploads(
    stack, worker, moto_endpoint, input_prefix
):
    """ImageFailuresAlarm paged on 5 failed images in 5 minutes, whatever else was done: five bad
    files from one user woke the operator, for failures the failure records already tell the user
    about. What it is for is a deployment that turns every image into a failure of its own (a valid
    but wrong setting, here ENGINE_MAX_MEGAPIXELS below the photos' size; a MemorySize too small):
    that still pages, as at least 10 failed images that are at least half of those finished."""

    def uploads(name: str, data: bytes, count: int):
        return [upload(stack, f"{input_prefix}ops/{name}-{i}.jpg", data) for i in range(count)]

    few_bad_files = worker.invoke(s3_put_event(uploads("user-a", corrupt_jpeg(), 5)))
    bad_among_good = worker.invoke(
        s3_put_event(uploads("user-b", corrupt_jpeg(), 12) + uploads("ok", source_bytes(), 13))
    )
    photos = uploads("photo", source_bytes(), 12)
    with LocalDeployment(extra_env={"ENGINE_MAX_MEGAPIXELS": "0.1"}, s3_endpoint=moto_endpoint) as wrong_setting:
        every_photo_refused = wrong_setting.emulator(wrong_setting.s3_function).invoke(s3_put_event(photos))

    assert emitted(few_bad_files)["ImagesFailed"] == 2 * 5  # in total and by reason
    assert emitted(every_photo_refused)["ImagesFailed"] == 2 * 12
    assert not pages("ImageFailuresAlarm", [("RemoverFunction", few_bad_files)])
    assert not pages("ImageFailuresAlarm", [("RemoverFunction", bad_among_good)])
    assert pages("ImageFailuresAlarm", [("RemoverFunction", every_photo_refused)])


@pytest.mark.parametrize("function", ["s3_function", "api_function"])
def test_a_function_that_cannot_start_says_why_in_a_json_error_line(moto_endpoint, function):
    """A bad setting fails the cold start (test_deployment_errors.py), and the only trace was the
    runtime's plain-text traceback: a Logs Insights query on level and reason found nothing."""
    with LocalDeployment(extra_env={"ENGINE_THREADS": "abc"}, s3_endpoint=moto_endpoint) as broken:
        invocation = broken.emulator(getattr(broken, function)).invoke(TEST_EVENT)

    assert invocation.function_error is not None
    (line,) = [line for line in log_lines(invocation) if line["level"] == "ERROR"]
    assert line["reason"] == "invalid_setting" and "ENGINE_THREADS" in line["exception"]
    assert line["service"].startswith(STACK_NAME)


def test_an_upload_is_followed_from_the_api_request_to_the_workers_log(stack, worker):
    """POST /uploads logged nothing, so the request id a caller quotes (API Gateway's) led to no
    object, and the worker's lines for the upload named no request. The API now logs the upload's
    key under its request id, and the upload carries that id to the worker's log lines."""
    api = stack.emulator(stack.api_function)
    request = proxy_event(
        "POST", "/uploads", {"crop": ["true"]}, {"Content-Type": "application/json"}, b'{"filename": "shot.jpg"}'
    )
    ticket_call = api.invoke(request)
    ticket = json.loads(ApiResponse.from_invocation(ticket_call).body)
    form = ticket["upload"]
    posted = requests.post(form["url"], data=form["fields"], files={"file": ("shot.jpg", source_bytes())}, timeout=30)
    assert posted.status_code in (200, 204)
    key = ticket["source"]["key"]
    processed = worker.invoke(object_created(stack.input_bucket, key))

    request_id = request["requestContext"]["requestId"]
    (created,) = [line for line in log_lines(ticket_call) if line.get("upload_key") == key]
    assert created["correlation_id"] == request_id and created["level"] == "INFO"
    (done,) = [line for line in log_lines(processed) if line["message"] == "processed object"]
    assert done["key"] == key and done["outcome"] == "written" and done["api_request_id"] == request_id
    assert "X-Amz-Signature" not in json.dumps(log_lines(ticket_call))
