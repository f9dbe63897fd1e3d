"""S3 notifications, SQS batches, EventBridge events and Batch Operations jobs, replayed from
events/ through the worker under the Lambda emulator against moto's S3 server."""

from __future__ import annotations

import io
import json
import unicodedata
from urllib.parse import quote

import pytest
from PIL import Image

from local.events import EVENTS_DIR, NewObject, load_event, named_objects, s3_put_event, sqs_event
from local.samples import sample_for, sample_images
from tests.integration.buckets import corrupt_jpeg, image_size, output_keys, read_object, sample_bytes, upload

TIMING_KEYS = {"decode_ms", "infer_ms", "refine_ms", "encode_ms", "total_ms"}


def seed_event_objects(stack, event: dict) -> dict[str, bytes]:
    """Store a sample image under every key the event names; returns the bytes by key."""
    images = sample_images()
    stored = {}
    for index, ref in enumerate(named_objects(event)):
        data = sample_for(ref.key, index, images).read_bytes()
        upload(stack, ref.key, data)
        stored[ref.key] = data
    return stored


def output_key(stack, source_key: str) -> str:
    return stack.variable(stack.s3_function, "OUTPUT_PREFIX") + source_key + ".png"


def failure_key(stack, source_key: str) -> str:
    return stack.variable(stack.s3_function, "FAILURE_PREFIX") + source_key + ".json"


def assert_cutout_of(stack, source_key: str, source: bytes) -> dict[str, str]:
    """The output exists, is an RGBA PNG the size of the source, and says where it came from."""
    png, metadata = read_object(stack, output_key(stack, source_key))
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert image.size == image_size(source)
        alpha = image.getchannel("A")
        assert alpha.getextrema() == (0, 255), "a cut-out has both transparent and opaque pixels"
    source_etag = stack.s3.head_object(Bucket=stack.input_bucket, Key=source_key)["ETag"].strip('"')
    assert metadata["source-etag"] == source_etag
    assert metadata["source-key"] == quote(source_key, safe="/")
    assert metadata["model"] == stack.variable(stack.s3_function, "ENGINE_MODEL")
    assert TIMING_KEYS <= set(json.loads(metadata["timings"]))
    return metadata


def test_s3_put_with_several_records_writes_one_cutout_per_image(stack, worker, input_prefix):
    objects = [upload(stack, f"{input_prefix}batch/{name}", sample_bytes(name)) for name in
               ("astronaut.jpg", "chelsea.jpg", "coffee.jpg")]  # fmt: skip

    invocation = worker.invoke(s3_put_event(objects))

    assert invocation.function_error is None
    assert invocation.payload() == {"results": [f"written: {output_key(stack, o.key)}" for o in objects]}
    for obj in objects:
        assert_cutout_of(stack, obj.key, sample_bytes(obj.key.rsplit("/", 1)[-1]))


@pytest.mark.parametrize("event_file", ["s3-put.json", "eventbridge-object-created.json"])
def test_replayed_event_file_is_processed(stack, worker, event_file):
    event = load_event(EVENTS_DIR / event_file)
    stored = seed_event_objects(stack, event)
    assert stored

    invocation = worker.invoke(event)

    assert invocation.function_error is None
    for key, data in stored.items():
        assert_cutout_of(stack, key, data)


def test_awkward_key_with_spaces_plus_and_unicode_round_trips(stack, worker):
    event = load_event(EVENTS_DIR / "s3-put-awkward-key.json")
    stored = seed_event_objects(stack, event)
    (key,) = stored
    assert " " in key and "+" in key and not key.isascii()

    invocation = worker.invoke(event)

    assert invocation.payload() == {"results": [f"written: {output_key(stack, key)}"]}
    assert_cutout_of(stack, key, stored[key])


AS_UPLOADED = ["50% off.jpg", "a+b c.JPG", unicodedata.normalize("NFD", "crème.Jpeg"), "x//y.jpg", "100%.png"]


def eventbridge_event(obj) -> dict:
    """events/eventbridge-object-created.json for another object (EventBridge keys are as stored)."""
    event = load_event(EVENTS_DIR / "eventbridge-object-created.json")
    event["detail"]["bucket"]["name"] = obj.bucket
    event["detail"]["object"].update({"key": obj.key, "size": obj.size, "etag": obj.etag})
    return event


@pytest.mark.parametrize("shape", ["s3-notification", "eventbridge"])
def test_keys_as_uploaded_land_at_the_documented_output_key(stack, worker, input_prefix, shape):
    """OUTPUT_PREFIX + key + ".png", byte for byte: a '%' in a key was written as '%25'."""
    objects = [upload(stack, f"{input_prefix}keys/{name}", sample_bytes("chelsea.jpg")) for name in AS_UPLOADED]

    if shape == "s3-notification":
        results = worker.invoke(s3_put_event(objects)).payload()["results"]
    else:
        results = [result for obj in objects for result in worker.invoke(eventbridge_event(obj)).payload()["results"]]

    assert results == [f"written: {output_key(stack, obj.key)}" for obj in objects]
    assert output_keys(stack) == sorted(output_key(stack, obj.key) for obj in objects)


def test_duplicate_delivery_leaves_one_output_and_the_repeat_is_a_no_op(stack, worker, input_prefix):
    obj = upload(stack, f"{input_prefix}twice/chelsea.jpg", sample_bytes("chelsea.jpg"))
    event = s3_put_event([obj])
    first = worker.invoke(event)
    before = stack.s3.head_object(Bucket=stack.output_bucket, Key=output_key(stack, obj.key))

    second = worker.invoke(event)

    assert first.payload()["results"][0].startswith("written: ")
    assert second.payload()["results"][0].startswith("duplicate: ")
    assert output_keys(stack) == [output_key(stack, obj.key)]
    after = stack.s3.head_object(Bucket=stack.output_bucket, Key=output_key(stack, obj.key))
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    assert second.wall_ms < first.wall_ms / 3, "a duplicate is recognised without running the model"


def test_corrupt_object_leaves_a_failure_record_and_the_rest_of_the_batch_is_done(stack, worker, input_prefix):
    good = upload(stack, f"{input_prefix}mixed/astronaut.jpg", sample_bytes("astronaut.jpg"))
    bad = upload(stack, f"{input_prefix}mixed/broken.jpg", corrupt_jpeg())
    other = upload(stack, f"{input_prefix}mixed/coffee.jpg", sample_bytes("coffee.jpg"))

    invocation = worker.invoke(s3_put_event([good, bad, other]))

    assert invocation.function_error is None
    results = invocation.payload()["results"]
    assert results[0].startswith("written: ") and results[2].startswith("written: ")
    assert results[1].startswith("failed: corrupt_image")
    assert_cutout_of(stack, good.key, sample_bytes("astronaut.jpg"))
    assert_cutout_of(stack, other.key, sample_bytes("coffee.jpg"))
    body, _ = read_object(stack, failure_key(stack, bad.key))
    record = json.loads(body)
    assert record["reason"] == "corrupt_image"
    assert record["source"] == {"bucket": stack.input_bucket, "key": bad.key, "etag": bad.etag, "version_id": None}
    assert output_key(stack, bad.key) not in output_keys(stack)


def test_sqs_batch_reports_only_the_bad_message(stack, worker, input_prefix):
    replayed = load_event(EVENTS_DIR / "sqs-s3.json")
    seed_event_objects(stack, replayed)
    good = upload(stack, f"{input_prefix}queued/chelsea.jpg", sample_bytes("chelsea.jpg"))
    bodies = [record["body"] for record in replayed["Records"]]
    bodies += ["this is not an S3 event", json.dumps(s3_put_event([good]))]
    event = sqs_event(bodies)

    invocation = worker.invoke(event)

    bad_id = event["Records"][len(bodies) - 2]["messageId"]
    assert invocation.payload() == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    for ref in named_objects(replayed) + named_objects(s3_put_event([good])):
        assert output_key(stack, ref.key) in output_keys(stack)


def one_task_jobs(event: dict) -> list[dict]:
    """The job split as S3 Batch Operations invokes it: one task per invocation."""
    return [{**event, "tasks": [task]} for task in event["tasks"]]


def test_batch_operations_v1_reports_a_result_code_per_task(stack, worker, input_prefix):
    event = load_event(EVENTS_DIR / "batch-ops-v1.json")
    stored = seed_event_objects(stack, event)
    broken = upload(stack, f"{input_prefix}jobs/broken.jpg", corrupt_jpeg())
    bucket_arn = event["tasks"][0]["s3BucketArn"]
    event["tasks"].append({"taskId": "broken", "s3Key": broken.key, "s3VersionId": None, "s3BucketArn": bucket_arn})
    event["tasks"].append({"taskId": "gone", "s3Key": f"{input_prefix}jobs/gone.jpg", "s3VersionId": None,
                           "s3BucketArn": bucket_arn})  # fmt: skip

    responses = [worker.invoke(job).payload() for job in one_task_jobs(event)]

    assert {(r["invocationSchemaVersion"], r["invocationId"]) for r in responses} == {("1.0", event["invocationId"])}
    codes = {result["taskId"]: result["resultCode"] for r in responses for result in r["results"]}
    assert codes == {
        **{task["taskId"]: "Succeeded" for task in event["tasks"][: len(stored)]},
        "broken": "PermanentFailure",
        "gone": "PermanentFailure",
    }
    for key, data in stored.items():
        assert_cutout_of(stack, key, data)


def test_batch_operations_v2_applies_user_arguments_and_rejects_bad_ones(stack, worker):
    event = load_event(EVENTS_DIR / "batch-ops-v2.json")
    assert event["job"]["userArguments"] == {"crop": "true"}
    stored = seed_event_objects(stack, event)

    responses = [worker.invoke(job).payload() for job in one_task_jobs(event)]

    assert {r["invocationSchemaVersion"] for r in responses} == {"2.0"}
    assert {result["resultCode"] for r in responses for result in r["results"]} == {"Succeeded"}
    for key, data in stored.items():
        png, _ = read_object(stack, output_key(stack, key))
        width, height = image_size(png)
        source_width, source_height = image_size(data)
        assert width <= source_width and height <= source_height and (width, height) != (source_width, source_height)

    event["job"]["userArguments"] = {"crop": "sideways"}
    rejected = [result for job in one_task_jobs(event) for result in worker.invoke(job).payload()["results"]]
    assert [r["resultCode"] for r in rejected] == ["PermanentFailure"] * len(event["tasks"])
    assert all(r["resultString"].startswith("invalid_option") for r in rejected)


def test_an_image_without_a_subject_is_flagged_in_its_metadata(stack, worker, input_prefix):
    """A batch user finds them by their metadata instead of opening every transparent PNG."""
    uniform, one_pixel = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (320, 240), (240, 240, 240)).save(uniform, "PNG")
    Image.new("RGB", (1, 1), (10, 200, 30)).save(one_pixel, "PNG")
    objects = [
        upload(stack, f"{input_prefix}blank.png", uniform.getvalue()),
        upload(stack, f"{input_prefix}dot.png", one_pixel.getvalue()),
        upload(stack, f"{input_prefix}cat.jpg", sample_bytes("chelsea.jpg")),
    ]

    assert worker.invoke(s3_put_event(objects)).payload()["results"][0].startswith("written:")

    metadata = [read_object(stack, output_key(stack, obj.key))[1] for obj in objects]
    assert [m["no-subject"] for m in metadata] == ["true", "true", "false"]
    assert all(0 <= float(m["estimated-error"]) <= 1 for m in metadata)  # the triage score, per cut-out
    assert [m["first-frame-only"] for m in metadata] == ["false"] * 3  # stills (animations: test_api_errors.py)


def test_an_option_given_twice_differently_in_the_objects_metadata_is_refused_not_guessed(stack, worker, input_prefix):
    """`crop=true&crop=false` as an object's options: neither value is taken silently (the API
    refuses the same query 400 conflicting_values); the user finds a failure record that says so.
    One value spelled two ways is no conflict."""
    data = sample_bytes("chelsea.jpg")
    twice = stack.s3.put_object(Bucket=stack.input_bucket, Key=f"{input_prefix}meta/twice.jpg", Body=data,
                                Metadata={"options": "crop=true&crop=false"})  # fmt: skip
    spelled = stack.s3.put_object(Bucket=stack.input_bucket, Key=f"{input_prefix}meta/spelled.jpg", Body=data,
                                  Metadata={"options": "crop=true&crop=1"})  # fmt: skip
    objects = [
        NewObject(stack.input_bucket, f"{input_prefix}meta/{name}.jpg", len(data), put["ETag"].strip('"'))
        for name, put in (("twice", twice), ("spelled", spelled))
    ]

    results = worker.invoke(s3_put_event(objects)).payload()["results"]

    assert results[0].startswith("failed: conflicting_values (crop is given twice")
    assert results[1] == f"written: {output_key(stack, objects[1].key)}"
    record = json.loads(read_object(stack, failure_key(stack, objects[0].key))[0])
    assert record["reason"] == "conflicting_values"
    assert "'true'" in record["message"] and "'false'" in record["message"]
    assert output_keys(stack) == sorted([failure_key(stack, objects[0].key), output_key(stack, objects[1].key)])


def test_the_same_photo_uploaded_again_with_options_is_cut_out_with_them(stack, worker, input_prefix):
    """A user who wants the cut-out cropped uploads the same file again under its key with options
    in its metadata: a new write (S3 gives it a later sequencer) with the same bytes, so the same
    ETag as the cut-out's source. It is cut out with the new options, not taken for a redelivery of
    the first upload; a redelivery of its own notification is still a no-op."""
    key, data = f"{input_prefix}again/chelsea.jpg", sample_bytes("chelsea.jpg")
    results = []
    for options, sequencer in (({}, "0062E99A88DC407460"), ({"options": "crop=true"}, "0062E99A88DC407461")):
        written = stack.s3.put_object(Bucket=stack.input_bucket, Key=key, Body=data, Metadata=options)
        event = s3_put_event([NewObject(stack.input_bucket, key, len(data), written["ETag"].strip('"'))])
        event["Records"][0]["s3"]["object"]["sequencer"] = sequencer
        results += worker.invoke(event).payload()["results"]
    results += worker.invoke(event).payload()["results"]  # the second upload's notification again

    target = output_key(stack, key)
    assert results == [
        f"written: {target}",
        f"written: {target}",
        f"duplicate: {target} (already made from this object version)",
    ]
    body, metadata = read_object(stack, target)
    assert "crop=true" in metadata["options"]
    assert image_size(body)[0] < image_size(data)[0], "cropped to the subject"
