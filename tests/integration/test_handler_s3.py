"""The S3 entry point, in process, against a real moto S3 server, fed the events in events/."""

from __future__ import annotations

import copy
import importlib
import io
import json
import time
from types import ModuleType
from urllib.parse import quote, quote_plus

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from engine.settings import DEFAULT_MODEL
from tests.integration.in_process import INPUT_BUCKET, OUTPUT_BUCKET, LambdaContext, load_event
from tests.placed import assert_centred_at_share, two_discs

ASTRONAUT_OUT = "cutouts/samples/astronaut.jpg.png"


@pytest.fixture
def s3_entry(aws_environment) -> ModuleType:
    return importlib.import_module("handler.s3_entry")


def put(s3, key: str, data: bytes) -> str:
    return s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=data)["ETag"].strip('"')


def output_keys(s3) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("Contents", []))


def read_png(s3, key: str) -> tuple[Image.Image, dict]:
    response = s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)
    image = Image.open(io.BytesIO(response["Body"].read()))
    image.load()
    return image, response


def read_failure(s3, key: str) -> dict:
    return json.loads(s3.get_object(Bucket=OUTPUT_BUCKET, Key=key)["Body"].read())


def s3_record(key: str) -> dict:
    """A record shaped like events/s3-put.json for another key (URL-encoded as S3 does)."""
    record = copy.deepcopy(load_event("s3-put.json")["Records"][0])
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    return record


def emf_metrics(output: str) -> dict[str, list[float]]:
    """Metric name -> values from the EMF lines a run printed."""
    found: dict[str, list[float]] = {}
    for line in output.splitlines():
        if line.startswith('{"_aws"'):
            blob = json.loads(line)
            for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                found.setdefault(definition["Name"], []).extend(blob[definition["Name"]])
    return found


def test_s3_put_writes_an_rgba_png_with_its_provenance(s3, s3_entry, sample_images, lambda_context, capsys):
    etag = put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    result = s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)

    assert result == {"results": [f"written: {ASTRONAUT_OUT}"]}
    image, response = read_png(s3, ASTRONAUT_OUT)
    assert image.format == "PNG" and image.mode == "RGBA" and image.size == (512, 512)
    assert response["ContentType"] == "image/png"
    metadata = response["Metadata"]
    assert metadata["source-bucket"] == INPUT_BUCKET and metadata["source-key"] == "samples/astronaut.jpg"
    assert metadata["source-etag"] == etag and metadata["model"] == DEFAULT_MODEL
    assert set(json.loads(metadata["timings"])) >= {"decode_ms", "infer_ms", "refine_ms", "encode_ms"}
    assert 0 <= float(metadata["uncertainty"]) <= 1
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["ImagesProcessed"] == [1.0] and metrics["InferLatency"][0] > 0
    assert metrics["Megapixels"] == [0.262]


def test_an_objects_options_metadata_places_the_subject_on_a_square_canvas(s3, s3_entry, sample_images, lambda_context):
    options = "canvas=512x512&scale=0.8&position=center&background=%23ffffff"
    s3.put_object(Bucket=INPUT_BUCKET, Key="samples/astronaut.jpg", Body=sample_images["astronaut.jpg"],
                  Metadata={"options": options})  # fmt: skip
    s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)

    image, response = read_png(s3, ASTRONAUT_OUT)
    assert_centred_at_share(image, 512, 0.8)
    assert "canvas=512x512" in response["Metadata"]["options"]


def test_remove_bgs_option_names_in_an_objects_metadata_are_read_as_the_apis(
    s3, s3_entry, sample_images, lambda_context
):
    """The API read remove.bg's names (bg_color, channels) and the object's options metadata refused
    them (unknown option(s) bg_color): one table now serves both."""
    options = "bg_color=fff&channels=rgba&format=jpg&size=regular&type=auto"
    s3.put_object(Bucket=INPUT_BUCKET, Key="samples/astronaut.jpg", Body=sample_images["astronaut.jpg"],
                  Metadata={"options": options})  # fmt: skip

    (result,) = s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)["results"]

    assert result == "written: cutouts/samples/astronaut.jpg.jpg"
    image, response = read_png(s3, "cutouts/samples/astronaut.jpg.jpg")
    assert image.format == "JPEG" and image.width * image.height <= 250_000  # regular: remove.bg's preview
    assert min(image.getpixel((0, 0))) >= 245  # the corner: background, white
    assert "background=255%2C255%2C255" in response["Metadata"]["options"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ("bg_color=ffffff&background=000000", "background is given twice in the object's options metadata"),
        ("channels=alpha&output=cutout", "output is given twice in the object's options metadata"),
    ],
)
def test_a_remove_bg_name_beside_ours_with_another_value_in_the_metadata_conflicts_as_on_the_api(
    s3, s3_entry, sample_images, lambda_context, options, said
):
    s3.put_object(Bucket=INPUT_BUCKET, Key="samples/astronaut.jpg", Body=sample_images["astronaut.jpg"],
                  Metadata={"options": options})  # fmt: skip

    (result,) = s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)["results"]

    assert result.startswith(f"failed: conflicting_values ({said}")


def test_the_subjects_findings_are_the_outputs_metadata(s3, s3_entry, lambda_context):
    put(s3, "samples/astronaut.jpg", two_discs())
    s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)

    metadata = read_png(s3, ASTRONAUT_OUT)[1]["Metadata"]
    assert metadata["several-subjects"] == "true" and metadata["subject-cut"] == "false"
    assert metadata["small-subject"] == "false"


def test_redelivery_of_the_same_object_version_is_a_no_op(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)
    first = s3.head_object(Bucket=OUTPUT_BUCKET, Key=ASTRONAUT_OUT)

    again = s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)

    assert again["results"][0].startswith("duplicate:")
    assert output_keys(s3) == [ASTRONAUT_OUT]
    assert s3.head_object(Bucket=OUTPUT_BUCKET, Key=ASTRONAUT_OUT)["LastModified"] == first["LastModified"]


def test_in_a_versioned_bucket_a_late_event_for_an_older_version_keeps_the_newer_cutout(
    s3, s3_entry, sample_images, lambda_context
):
    """With versioning on, each event names its version and that version is fetched; S3's
    sequencer tells the late, older one apart so it does not replace the newer cut-out."""
    s3.put_bucket_versioning(Bucket=INPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    events = []
    for name, sequencer in (("astronaut.jpg", "0055AED6DCD90281E5"), ("coffee.jpg", "0055AED6DCD90281E6")):
        written = s3.put_object(Bucket=INPUT_BUCKET, Key="samples/astronaut.jpg", Body=sample_images[name])
        event = load_event("s3-put.json")
        event["Records"][0]["s3"]["object"].update(
            {"eTag": written["ETag"].strip('"'), "versionId": written["VersionId"], "sequencer": sequencer}
        )
        events.append(event)

    newer_first = [s3_entry.lambda_handler(event, lambda_context)["results"][0] for event in reversed(events)]

    assert newer_first[0] == f"written: {ASTRONAUT_OUT}"
    assert newer_first[1].startswith("duplicate:") and "later write" in newer_first[1]
    image, response = read_png(s3, ASTRONAUT_OUT)
    assert image.size == Image.open(io.BytesIO(sample_images["coffee.jpg"])).size
    assert response["Metadata"]["source-version-id"] == events[1]["Records"][0]["s3"]["object"]["versionId"]
    assert response["Metadata"]["source-sequencer"] == "0055AED6DCD90281E6"


def test_a_new_version_of_the_object_is_processed_again(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)
    etag = put(s3, "samples/astronaut.jpg", sample_images["coffee.jpg"])  # same key, new content
    event = load_event("s3-put.json")
    event["Records"][0]["s3"]["object"]["eTag"] = etag

    result = s3_entry.lambda_handler(event, lambda_context)

    assert result["results"] == [f"written: {ASTRONAUT_OUT}"]
    image, response = read_png(s3, ASTRONAUT_OUT)
    assert image.size == (600, 400) and response["Metadata"]["source-etag"] == etag


def test_awkward_keys_are_decoded_and_kept_in_the_output_key(s3, s3_entry, sample_images, lambda_context):
    key = "samples/new folder/café + crème ☕ 1.jpg"
    put(s3, key, sample_images["chelsea.jpg"])

    result = s3_entry.lambda_handler(load_event("s3-put-awkward-key.json"), lambda_context)

    assert result["results"] == [f"written: cutouts/{key}.png"]
    image, response = read_png(s3, f"cutouts/{key}.png")
    assert image.size == (451, 300)
    assert response["Metadata"]["source-key"] == "samples/new%20folder/caf%C3%A9%20%2B%20cr%C3%A8me%20%E2%98%95%201.jpg"


def test_a_corrupt_image_is_recorded_and_does_not_poison_the_other_records(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    put(s3, "samples/broken.jpg", sample_images["coffee.jpg"][:3000])  # truncated JPEG
    put(s3, "samples/notes.png", b"this is not an image")
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])
    keys = ["samples/astronaut.jpg", "samples/broken.jpg", "samples/notes.png", "samples/coffee.jpg"]
    event = {"Records": [s3_record(key) for key in keys]}

    result = s3_entry.lambda_handler(event, lambda_context)

    assert [line.split(":")[0] for line in result["results"]] == ["written", "failed", "failed", "written"]
    assert output_keys(s3) == [
        ASTRONAUT_OUT,
        "cutouts/samples/coffee.jpg.png",
        "failures/samples/broken.jpg.json",
        "failures/samples/notes.png.json",
    ]
    broken = read_failure(s3, "failures/samples/broken.jpg.json")
    assert broken["reason"] == "corrupt_image" and broken["source"]["key"] == "samples/broken.jpg"
    assert broken["source"]["etag"] and broken["message"] and broken["time"]
    assert read_failure(s3, "failures/samples/notes.png.json")["reason"] == "unsupported_format"


def test_a_redelivered_failure_is_counted_and_recorded_once_and_a_new_version_again(
    s3, s3_entry, sample_images, lambda_context, capsys
):
    """At-least-once delivery: the same event for the same bad object version again keeps the first
    record (its time) and does not count the image as failed twice, which would double what the
    failed-images alarm sees; a new version of the key that fails too is recorded and counted anew."""
    s3.put_bucket_versioning(Bucket=OUTPUT_BUCKET, VersioningConfiguration={"Status": "Enabled"})  # counts writes
    event = {"Records": [s3_record("samples/broken.jpg")]}
    first_etag = put(s3, "samples/broken.jpg", sample_images["coffee.jpg"][:3000])
    s3_entry.lambda_handler(event, lambda_context)
    capsys.readouterr()

    again = s3_entry.lambda_handler(event, lambda_context)

    assert again["results"][0].startswith("failed: corrupt_image"), "still a failure to a batch job's report"
    record = "failures/samples/broken.jpg.json"
    versions = s3.list_object_versions(Bucket=OUTPUT_BUCKET, Prefix=record)["Versions"]
    assert len(versions) == 1, "the first record stays as it was written"
    metrics = emf_metrics(capsys.readouterr().out)
    assert "ImagesFailed" not in metrics and metrics["ImagesSkipped"] == [1.0, 1.0]  # in all and by reason

    second_etag = put(s3, "samples/broken.jpg", sample_images["astronaut.jpg"][:2000])
    assert second_etag != first_etag
    s3_entry.lambda_handler(event, lambda_context)
    assert read_failure(s3, record)["source"]["etag"] == second_etag
    assert emf_metrics(capsys.readouterr().out)["ImagesFailed"] == [1.0, 1.0]


def test_without_a_sequencer_the_same_bad_bytes_uploaded_again_are_a_new_failure(
    s3, s3_entry, sample_images, lambda_context, capsys
):
    """Events without S3's sequencer (a Batch Operations re-run, a replayed event) tell a re-upload
    of the same bad bytes from a redelivery by the object's time of writing: fail, succeed, then the
    same broken file again is a failure counted and recorded anew, not a duplicate of the first."""
    record = s3_record("samples/broken.jpg")
    del record["s3"]["object"]["sequencer"]
    event = {"Records": [record]}

    def upload(data: bytes) -> None:  # and the event S3 sends for it names its ETag
        record["s3"]["object"]["eTag"] = put(s3, "samples/broken.jpg", data)

    broken = sample_images["coffee.jpg"][:3000]
    upload(broken)
    s3_entry.lambda_handler(event, lambda_context)
    first = read_failure(s3, "failures/samples/broken.jpg.json")
    time.sleep(1.1)  # S3 keeps an object's time of writing to the second
    upload(sample_images["astronaut.jpg"])
    assert s3_entry.lambda_handler(event, lambda_context)["results"][0].startswith("written:")
    time.sleep(1.1)
    upload(broken)
    capsys.readouterr()

    again = s3_entry.lambda_handler(event, lambda_context)

    assert again["results"][0].startswith("failed: corrupt_image")
    assert emf_metrics(capsys.readouterr().out).get("ImagesFailed") == [1.0, 1.0], "counted as a new failure"
    assert read_failure(s3, "failures/samples/broken.jpg.json")["time"] >= first["time"]
    redelivered = s3_entry.lambda_handler(event, lambda_context)
    assert redelivered["results"][0].startswith("failed:")
    assert "ImagesFailed" not in emf_metrics(capsys.readouterr().out), "a redelivery still counts once"


def test_a_malformed_record_fails_the_event_after_the_others_are_processed(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])
    malformed = s3_record("samples/ghost.jpg")
    del malformed["s3"]["object"]["key"]
    event = {"Records": [s3_record("samples/astronaut.jpg"), malformed, s3_record("samples/coffee.jpg")]}

    with pytest.raises(ValueError, match=r"record 2 .*'key'"):  # the event goes to the on-failure destination
        s3_entry.lambda_handler(event, lambda_context)

    assert output_keys(s3) == [ASTRONAUT_OUT, "cutouts/samples/coffee.jpg.png"]


def test_an_sqs_message_with_a_malformed_record_fails_after_its_good_ones_are_processed(
    s3, s3_entry, sample_images, lambda_context
):
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])
    malformed = s3_record("samples/ghost.jpg")
    del malformed["s3"]["bucket"]
    event = sqs_batch({"Records": [malformed, s3_record("samples/coffee.jpg")]})

    response = s3_entry.lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}  # on to the dead-letter queue
    assert output_keys(s3) == ["cutouts/samples/coffee.jpg.png"]


def test_a_key_too_long_for_its_output_leaves_a_failure_record(s3, s3_entry, sample_images, lambda_context):
    key = "samples/" + "k" * 1008 + ".jpg"  # 1020 bytes: S3 takes it, cutouts/ + key + .png it would not
    put(s3, key, sample_images["coffee.jpg"])

    (result,) = s3_entry.lambda_handler({"Records": [s3_record(key)]}, lambda_context)["results"]

    assert result.startswith("failed: key_too_long")
    (record_key,) = output_keys(s3)
    assert record_key.startswith("failures/samples/kkk") and record_key.endswith(".json")
    record = read_failure(s3, record_key)
    assert record["reason"] == "key_too_long" and record["source"]["key"] == key


def test_an_object_deleted_before_processing_is_recorded_not_retried(s3, s3_entry, lambda_context):
    result = s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)  # never uploaded

    assert result["results"][0].startswith("failed: source_missing")
    assert read_failure(s3, "failures/samples/astronaut.jpg.json")["reason"] == "source_missing"


def failure_reasons(output: str) -> list[str]:
    """The Reason dimension of every ImagesFailed metric a run printed (EMF lines)."""
    blobs = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return [blob["Reason"] for blob in blobs if "Reason" in blob and "ImagesFailed" in blob]


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_object_is_recorded_not_retried_and_is_cut_out_once_restored(
    s3, s3_entry, sample_images, lambda_context, capsys, storage_class
):
    key = "samples/archived.jpg"
    s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=sample_images["coffee.jpg"], StorageClass=storage_class)

    (result,) = s3_entry.lambda_handler({"Records": [s3_record(key)]}, lambda_context)["results"]

    assert result.startswith("failed: source_archived")  # returned, not raised: Lambda does not retry it
    record = read_failure(s3, "failures/samples/archived.jpg.json")
    assert record["reason"] == "source_archived" and record["source"]["key"] == key
    assert storage_class in record["message"] and "restore" in record["message"].lower()
    assert failure_reasons(capsys.readouterr().out) == ["source_archived"]
    assert batch_task_result(s3_entry, lambda_context, key) == ("PermanentFailure", result)

    # What the message tells the user to do: restore it, copy it over itself out of the archive class
    # (a new upload, so a new event), and it is cut out.
    s3.restore_object(Bucket=INPUT_BUCKET, Key=key, RestoreRequest={"Days": 1})
    s3.copy_object(
        Bucket=INPUT_BUCKET, Key=key, CopySource={"Bucket": INPUT_BUCKET, "Key": key}, StorageClass="STANDARD"
    )
    assert s3_entry.lambda_handler({"Records": [s3_record(key)]}, lambda_context)["results"] == [
        "written: cutouts/samples/archived.jpg.png"
    ]


def test_s3_errors_surface_so_that_lambda_retries(s3, s3_entry, lambda_context):
    s3.delete_bucket(Bucket=INPUT_BUCKET)  # GetObject now fails with NoSuchBucket: not a missing object

    with pytest.raises(ClientError, match="NoSuchBucket"):
        s3_entry.lambda_handler(load_event("s3-put.json"), lambda_context)
    assert output_keys(s3) == []


def test_with_too_little_time_left_the_event_is_given_back_for_a_retry(s3, s3_entry, sample_images):
    from handler.worker import OutOfTimeError  # noqa: PLC0415  # after the environment fixture, like the entry module

    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])

    with pytest.raises(OutOfTimeError):
        s3_entry.lambda_handler(load_event("s3-put.json"), LambdaContext(remaining_ms=5_000))
    assert output_keys(s3) == []


def test_events_for_our_own_outputs_or_other_places_are_ignored(s3, s3_entry, lambda_context):
    own_output = s3_record(ASTRONAUT_OUT)
    own_output["s3"]["bucket"]["name"] = OUTPUT_BUCKET
    outside_prefix = s3_record("elsewhere/astronaut.jpg")

    result = s3_entry.lambda_handler({"Records": [own_output, outside_prefix]}, lambda_context)

    assert result["results"] == ["ignored: own_output", "ignored: outside_input_prefix"]
    assert output_keys(s3) == []


def test_a_folder_made_in_the_console_is_not_an_image_that_failed(s3, s3_entry, lambda_context):
    """The S3 console's "Create folder" writes an empty `samples/new/` object; its event left a
    failure record `failures/samples/new/.json` (empty_input) for a folder, not a photo."""
    put(s3, "samples/new/", b"")

    result = s3_entry.lambda_handler({"Records": [s3_record("samples/new/")]}, lambda_context)

    assert result["results"] == ["ignored: folder_marker"]
    assert output_keys(s3) == [] and s3.list_objects_v2(Bucket=OUTPUT_BUCKET, Prefix="failures/")["KeyCount"] == 0


def test_an_unknown_event_is_refused_loudly(s3_entry, lambda_context):
    with pytest.raises(ValueError, match="not an S3 or EventBridge object event"):
        s3_entry.lambda_handler({"hello": "world"}, lambda_context)


def test_eventbridge_object_created(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/chelsea.jpg", sample_images["chelsea.jpg"])

    result = s3_entry.lambda_handler(load_event("eventbridge-object-created.json"), lambda_context)

    assert result["results"] == ["written: cutouts/samples/chelsea.jpg.png"]
    image, _ = read_png(s3, "cutouts/samples/chelsea.jpg.png")
    assert image.mode == "RGBA" and image.size == (451, 300)


def test_sqs_batch_skips_the_test_event_and_processes_the_notification(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])

    response = s3_entry.lambda_handler(load_event("sqs-s3.json"), lambda_context)

    assert response == {"batchItemFailures": []}
    assert output_keys(s3) == ["cutouts/samples/coffee.jpg.png"]


def sqs_batch(*bodies: dict | str) -> dict:
    """An SQS batch shaped like events/sqs-s3.json with one message per body."""
    shape = load_event("sqs-s3.json")["Records"][1]
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(shape)
        record["messageId"] = f"message-{index}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def test_sqs_partial_failure_fails_only_the_messages_that_may_pass_later(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])
    put(s3, "samples/broken.jpg", b"\xff\xd8\xff\xe0 truncated")
    s3.put_object(
        Bucket=INPUT_BUCKET, Key="samples/archived.jpg", Body=sample_images["chelsea.jpg"], StorageClass="GLACIER"
    )
    event = sqs_batch(
        {"Records": [s3_record("samples/coffee.jpg")]},
        {"Records": [s3_record("samples/broken.jpg")]},  # bad image: recorded, message done
        {"Records": [s3_record("samples/archived.jpg")]},  # S3 refuses the GET until restored: recorded too
        "not json at all",  # fails every time: SQS redrives it to the dead-letter queue
    )

    response = s3_entry.lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-3"}]}
    assert output_keys(s3) == [
        "cutouts/samples/coffee.jpg.png",
        "failures/samples/archived.jpg.json",
        "failures/samples/broken.jpg.json",
    ]


def test_sqs_messages_left_when_time_runs_short_are_returned_for_retry(s3, s3_entry, sample_images):
    put(s3, "samples/coffee.jpg", sample_images["coffee.jpg"])
    event = sqs_batch({"Records": [s3_record("samples/coffee.jpg")]}, {"Records": [s3_record("samples/coffee.jpg")]})

    response = s3_entry.lambda_handler(event, LambdaContext(remaining_ms=1_000))

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]}
    assert output_keys(s3) == []


def batch_task_result(s3_entry, lambda_context, key: str) -> tuple[str, str]:
    """Run events/batch-ops-v1.json with its one task pointed at `key`: (resultCode, resultString)."""
    event = load_event("batch-ops-v1.json")
    event["tasks"][0]["s3Key"] = quote_plus(key, safe="/")
    response = s3_entry.lambda_handler(event, lambda_context)
    assert response["invocationSchemaVersion"] == "1.0" and response["invocationId"] == event["invocationId"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    (result,) = response["results"]
    assert result["taskId"] == event["tasks"][0]["taskId"]
    return result["resultCode"], result["resultString"]


def test_batch_operations_v1_reports_a_result_code_per_task(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/astronaut.jpg", sample_images["astronaut.jpg"])
    put(s3, "samples/broken.jpg", sample_images["coffee.jpg"][:3000])

    assert s3_entry.lambda_handler(load_event("batch-ops-v1.json"), lambda_context)["results"] == [
        {"taskId": "dGFza2lkZ29lc2hlcmUK", "resultCode": "Succeeded", "resultString": f"written: {ASTRONAUT_OUT}"}
    ]
    assert batch_task_result(s3_entry, lambda_context, "samples/astronaut.jpg")[1].startswith("duplicate:")
    code, text = batch_task_result(s3_entry, lambda_context, "samples/broken.jpg")
    assert code == "PermanentFailure" and text.startswith("failed: corrupt_image")
    assert batch_task_result(s3_entry, lambda_context, "samples/gone.jpg")[0] == "PermanentFailure"
    assert batch_task_result(s3_entry, lambda_context, "elsewhere/x.jpg") == (
        "PermanentFailure",
        "ignored: outside_input_prefix",
    )
    assert read_png(s3, ASTRONAUT_OUT)[0].mode == "RGBA"


def test_batch_operations_v2_applies_user_arguments_as_options(s3, s3_entry, sample_images, lambda_context):
    put(s3, "samples/chelsea.jpg", sample_images["chelsea.jpg"])
    event = load_event("batch-ops-v2.json")

    response = s3_entry.lambda_handler(event, lambda_context)

    assert response["invocationSchemaVersion"] == "2.0"
    assert [r["resultCode"] for r in response["results"]] == ["Succeeded"]
    image, result = read_png(s3, "cutouts/samples/chelsea.jpg.png")
    assert image.width < 451 or image.height < 300  # crop=true from the job's user arguments
    assert "crop=true" in result["Metadata"]["options"]


def test_batch_operations_temporary_failure_for_s3_errors_and_bad_arguments(s3, s3_entry, lambda_context):
    s3.delete_bucket(Bucket=INPUT_BUCKET)
    response = s3_entry.lambda_handler(load_event("batch-ops-v2.json"), lambda_context)
    (result,) = response["results"]
    assert result["resultCode"] == "TemporaryFailure" and "NoSuchBucket" in result["resultString"]

    bad = load_event("batch-ops-v2.json")
    bad["job"]["userArguments"] = {"crop": "sometimes"}
    (result,) = s3_entry.lambda_handler(bad, lambda_context)["results"]
    assert result["resultCode"] == "PermanentFailure" and result["resultString"].startswith("invalid_option")


@pytest.mark.parametrize(
    ("arguments", "code", "named"),
    [
        ({"crop": True}, "Succeeded", ""),  # typed as the JSON body of /remove takes it
        ({"crop": 5}, "PermanentFailure", "crop"),
        ({"crop": None}, "PermanentFailure", "crop"),
        ({"crop": ["true"]}, "PermanentFailure", "crop"),
        (["crop=true"], "PermanentFailure", "userArguments"),
        ({"crop": True, "bg_color": "00ff00"}, "Succeeded", ""),  # remove.bg's names, as the API reads them
        ({"crop": True, "bg_color": "00ff00", "background": "ff0000"}, "PermanentFailure", "background"),
        ({"crop": True, "image_url": "https://example.com/a.jpg"}, "PermanentFailure", "image_url"),
    ],
)
def test_batch_operations_v2_user_arguments_typed_in_json(
    s3, s3_entry, sample_images, lambda_context, arguments, code, named
):
    put(s3, "samples/chelsea.jpg", sample_images["chelsea.jpg"])
    event = load_event("batch-ops-v2.json")
    event["job"]["userArguments"] = arguments

    (result,) = s3_entry.lambda_handler(event, lambda_context)["results"]

    assert result["resultCode"] == code, result
    if code == "Succeeded":
        assert "crop=true" in read_png(s3, "cutouts/samples/chelsea.jpg.png")[1]["Metadata"]["options"]
        assert (
            "bg_color" not in arguments
            or "background=0%2C255%2C0" in read_png(s3, "cutouts/samples/chelsea.jpg.png")[1]["Metadata"]["options"]
        )
    else:
        code_of = {"background": "conflicting_values", "image_url": "url_not_supported"}
        assert result["resultString"].startswith(code_of.get(named, "invalid_option")), result
        assert named in result["resultString"]


@pytest.mark.parametrize(
    ("key", "options"),
    [
        ("samples/astronaut.jpg", "roi=0px,0px," + "9" * 700 + "px," + "9" * 700 + "px"),
        ("samples/" + "☕" * 330 + ".jpg", "crop=true&background=%23ffffff&format=webp&canvas=999x999"),
        ("samples/" + "☕" * 330 + ".jpg", "roi=0px,0px," + "9" * 700 + "px," + "9" * 700 + "px"),
    ],
)
def test_the_outputs_metadata_fits_s3s_2_kb_and_redelivery_is_still_recognised(
    s3, s3_entry, sample_images, lambda_context, key, options
):
    """S3 refuses a PutObject whose user metadata (names and values, UTF-8) passes 2 KB; moto does not."""
    s3.put_object(Bucket=INPUT_BUCKET, Key=key, Body=sample_images["astronaut.jpg"], Metadata={"options": options})
    event = {"Records": [s3_record(key)]}

    (written,) = s3_entry.lambda_handler(event, lambda_context)["results"]
    (again,) = s3_entry.lambda_handler(event, lambda_context)["results"]

    assert written.startswith("written: ") and again.startswith("duplicate: ")
    metadata = s3.head_object(Bucket=OUTPUT_BUCKET, Key=written.removeprefix("written: "))["Metadata"]
    assert sum(len(name.encode()) + len(value.encode()) for name, value in metadata.items()) <= 2048
    assert metadata["source-bucket"] == INPUT_BUCKET and metadata["model"] == DEFAULT_MODEL
    assert quote(key, safe="/").startswith(metadata["source-key"].removesuffix("..."))
