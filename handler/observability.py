"""Logger, Tracer and Metrics shared by the entry points, and the one traced call of the engine.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE. Offline (tests, local emulator) set POWERTOOLS_TRACE_DISABLED=true:
subsegments become no-ops, logs stay JSON and metrics are printed as EMF lines.
"""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.exceptions import ClientError

from engine import Cutout, EngineSettings, Options, remove_background

# Invocations that touch no image (the page, a duplicate, a test event) have no metrics to publish.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "BackgroundRemover")


def traced_removal(data: bytes, options: Options, config: EngineSettings) -> Cutout:
    """Run the engine inside a trace subsegment. Its metrics are the caller's to record (with
    `record_cutout`) once the cut-out is delivered: stored, or in the reply."""
    with tracer.provider.in_subsegment("## remove_background") as subsegment:
        cutout = remove_background(data, options, config)
        subsegment.put_annotation("model", cutout.model_id)
        subsegment.put_metadata("timings_ms", cutout.timings.as_dict())
    return cutout


def record_cutout(cutout: Cutout) -> None:
    """Size, stage latencies and matte uncertainty of one image cut out and delivered (not of one
    whose store failed: that image is retried, and counted when it succeeds)."""
    metrics.add_metric(name="ImagesProcessed", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Megapixels", unit=MetricUnit.Count, value=round(cutout.megapixels, 3))
    for stage, milliseconds in cutout.timings.as_dict().items():
        metrics.add_metric(name=latency_metric(stage), unit=MetricUnit.Milliseconds, value=milliseconds)
    metrics.add_metric(name="Uncertainty", unit=MetricUnit.Percent, value=round(cutout.uncertainty * 100, 2))
    metrics.add_metric(name="ImagesWithoutSubject", unit=MetricUnit.Count, value=int(cutout.no_subject))


def latency_metric(stage: str) -> str:
    """The metric of a stage's duration (StageTimings.as_dict keys): decode_ms -> DecodeLatency,
    total_ms -> TotalLatency. template.yaml's dashboard charts them by these names."""
    return stage.removesuffix("_ms").capitalize() + "Latency"


def retry_reason(error: BaseException) -> str:
    """The reason code logs give an error that is handed back for retry: S3's error code
    (`NoSuchBucket`, `AccessDenied`, `SlowDown`), the engine's (`model_integrity`), or else the
    exception's class (`EndpointConnectionError`, `OutOfTimeError`)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or type(error).__name__)
    code = getattr(error, "code", None)  # EngineError's, SettingsError's
    return code if isinstance(code, str) else type(error).__name__


def record_failure(reason: str) -> None:
    """One image that failed permanently: in total (what the alarm watches) and by reason code."""
    metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)
    _count_by_reason("ImagesFailed", reason)


def record_error(reason: str) -> None:
    """One image not processed for a reason that is not its own (S3 errors, access denied, a broken
    deployment or model): handed back for retry by the worker, a 500 from the API. The error alarms
    watch it beside Lambda's Errors, which count neither the messages and tasks a batch reports
    failed nor the 500s the API answers itself."""
    metrics.add_metric(name="ImageErrors", unit=MetricUnit.Count, value=1)
    _count_by_reason("ImageErrors", reason)


def record_skip(reason: str) -> None:
    """One event that needed no work (a duplicate delivery, our own output, another prefix)."""
    metrics.add_metric(name="ImagesSkipped", unit=MetricUnit.Count, value=1)
    _count_by_reason("ImagesSkipped", reason)


def _count_by_reason(name: str, reason: str) -> None:
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=1,
        namespace=metrics.namespace,
        default_dimensions={"service": metrics.service or "service_undefined", **metrics.default_dimensions},
    ) as metric:
        metric.add_dimension(name="Reason", value=reason)
