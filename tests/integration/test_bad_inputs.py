"""The bad-input corpus (reliability/corpus.py) through the real path: every object uploaded to the
local S3 server, one S3 notification for all of them, the worker under the Lambda emulator; each
input ends as exactly one cut-out or one failure record with its reason, and nothing else."""

from __future__ import annotations

import io
import json

from PIL import Image

from local.events import s3_put_event
from reliability.corpus import corpus
from tests.integration.buckets import output_keys, read_object, upload


def test_every_corpus_input_ends_as_one_cutout_or_one_failure_record(stack, worker, input_prefix):
    cases = corpus()
    objects = [upload(stack, input_prefix + case.key, case.data) for case in cases]
    out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
    failure_prefix = stack.variable(stack.s3_function, "FAILURE_PREFIX")

    invocation = worker.invoke(s3_put_event(objects))

    assert invocation.function_error is None, invocation.payload()
    results = invocation.payload()["results"]
    assert len(results) == len(cases)
    expected_keys = []
    for case, obj, result in zip(cases, objects, results, strict=True):
        if case.reason is None:
            key = f"{out_prefix}{obj.key}.png"
            assert result == f"written: {key}", (case.key, result)
            png, metadata = read_object(stack, key)
            with Image.open(io.BytesIO(png)) as image:
                assert (image.format, image.mode, image.size) == ("PNG", "RGBA", case.size), case.key
            assert metadata["source-etag"] == obj.etag
        else:
            key = f"{failure_prefix}{obj.key}.json"
            assert result.startswith(f"failed: {case.reason}"), (case.key, result)
            record = json.loads(read_object(stack, key)[0])
            assert record["reason"] == case.reason and record["source"]["key"] == obj.key
            assert record["message"], "a failure record says what was wrong"
        expected_keys.append(key)
    assert output_keys(stack) == sorted(expected_keys), "one object per input, none overwritten, no strays"
