"""Entry point `handler.s3_entry.lambda_handler`: objects created in the input bucket.

Accepts four event shapes and answers each the way its caller expects:

- S3 notification (asynchronous invoke, one or more records) and EventBridge "Object Created":
  a transient error, or too little time left, raises. Asynchronous invocations have no
  partial-success reply, so raising is the only way not to drop the remaining records: Lambda
  retries the whole event (then hands it to the on-failure destination) and the records already
  done are recognised as duplicates on the retry, at the cost of one HEAD each. A record that
  names no object (malformed) raises too, after the event's other records are done.
- SQS messages whose bodies are S3 notifications (ReportBatchItemFailures): each message
  succeeds or fails alone through Powertools' BatchProcessor; messages not started for lack of
  time are reported failed, so SQS redelivers them; so is one with a malformed record, after its
  other records (on to the dead-letter queue). `s3:TestEvent` messages are dropped.
- S3 Batch Operations jobs (schema 1.0 and 2.0): one result per task, Succeeded,
  PermanentFailure (bad image, missing object, not in the input prefix) or TemporaryFailure
  (anything that may pass on retry); schema 2.0 user arguments are engine options.

Permanent failures never raise: they leave a JSON record under FAILURE_PREFIX (see worker.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3BatchOperationEvent
from aws_lambda_powertools.utilities.data_classes.s3_batch_operation_event import (
    S3BatchOperationResponse,
    S3BatchOperationResponseRecord,
    S3BatchOperationTask,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from engine import InvalidOptionError, Options

from .errors import PermanentError
from .observability import logger, metrics, retry_reason, tracer
from .requests import json_option_text, our_names
from .sources import NamedObjects, is_batch_operations_job, is_sqs_batch, message_object_refs, object_refs
from .startup import start
from .storage import ObjectRef
from .worker import Outcome, Worker, ensure_time_left

settings, storage = start()  # once: a bad variable or a default model not baked in fails the cold start
worker = Worker(settings, storage)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    if is_sqs_batch(event):
        return process_partial_response(
            event=event, record_handler=handle_message, processor=processor, context=context
        )
    if is_batch_operations_job(event):
        return handle_batch_job(S3BatchOperationEvent(event), context)
    return handle_notification(event, context)


def handle_notification(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    """A direct S3 notification or an EventBridge event: every object, in order, or raise."""
    first_record = (event.get("Records") or [{}])[0]
    logger.set_correlation_id(event.get("id") or first_record.get("responseElements", {}).get("x-amz-request-id"))
    try:
        return {"results": process_named(object_refs(event), context)}
    except Exception as error:
        _handed_back("event failed; Lambda will retry it, then send it to the failed-events queue", error)
        raise


def handle_message(record: SQSRecord, lambda_context: LambdaContext | None = None) -> list[str]:
    """One SQS message; raising fails this message alone and SQS redelivers it later."""
    logger.set_correlation_id(record.message_id)
    try:
        return process_named(message_object_refs(record.body), lambda_context)
    except Exception as error:
        _handed_back("message failed; it will be redelivered", error, message_id=record.message_id)
        raise


def _handed_back(message: str, error: Exception, **extra: str) -> None:
    """One ERROR line for work handed back to its caller's retry, with the reason; the worker has
    already logged an object's own failure with its key and traceback."""
    logger.error(message, extra={"reason": retry_reason(error), "error": str(error)[:1000], **extra})


def process_named(named: NamedObjects, context: LambdaContext | None) -> list[str]:
    """Every object, in order, then MalformedRecordError if records named none that can be read."""
    results = []
    for ref in named.refs:
        ensure_time_left(context, settings.min_remaining_ms)
        results.append(worker.process(ref).describe())
    named.check()
    return results


def handle_batch_job(event: S3BatchOperationEvent, context: LambdaContext | None) -> dict[str, Any]:
    """An S3 Batch Operations invocation: a result code and string for each task."""
    logger.set_correlation_id(event.invocation_id)
    response = S3BatchOperationResponse(event.invocation_schema_version, event.invocation_id, "PermanentFailure")
    try:
        options = job_options(event.job.user_arguments)
    except (InvalidOptionError, PermanentError) as error:
        for task in event.tasks:
            response.add_result(task.build_task_batch_response("PermanentFailure", f"{error.code}: {error}"))
        return response.asdict()
    for task in event.tasks:
        response.add_result(run_task(task, options, context))
    return response.asdict()


def job_options(arguments: object) -> Options:
    """A schema 2.0 job's user arguments (a JSON object, read as the API's JSON body is: typed
    members, remove.bg's names) over DEFAULT_OPTIONS; InvalidOptionError when they are not options,
    a PermanentError (conflicting_values, url_not_supported) as the API refuses them."""
    if not isinstance(arguments, Mapping):
        raise InvalidOptionError(f"userArguments must be a JSON object of options, got {type(arguments).__name__}")
    fields = ((name, json_option_text(name, value)) for name, value in arguments.items())
    return settings.default_options.merged(our_names(fields, " in the job's userArguments"))


def run_task(
    task: S3BatchOperationTask, options: Options, context: LambdaContext | None
) -> S3BatchOperationResponseRecord:
    try:
        ensure_time_left(context, settings.min_remaining_ms)
        result = worker.process(ObjectRef(task.s3_bucket, task.s3_key, task.s3_version_id), options)
    except Exception as error:  # throttling, outage, broken deployment, no time: Batch Operations retries
        _handed_back("task failed; Batch Operations will retry it", error, task_id=task.task_id)
        return task.build_task_batch_response("TemporaryFailure", f"{type(error).__name__}: {error}")
    done = result.outcome in (Outcome.WRITTEN, Outcome.DUPLICATE)
    return task.build_task_batch_response("Succeeded" if done else "PermanentFailure", result.describe())
