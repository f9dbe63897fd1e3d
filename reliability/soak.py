"""`make soak N=1000`: N mixed objects through S3 -> SQS -> the worker under the Lambda emulator.

Valid photos (the bundled samples, each under its own key) and bad inputs (corpus.py) are
uploaded under the input prefix; moto's EventBridge events, routed by the template's rule, feed
the queue that local/queue_trigger.py drains in batches, as Lambda's event source mapping would.
When every input is accounted for (or the time limit passes) it prints throughput, per-image and
per-batch latency, the runtime's RSS (it must not grow with the count) and one reconciliation line:

    in=N outputs=X failures=Y lost=0 duplicated=0
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from local.deployment import LocalDeployment
from local.processes import rss_mb
from local.queue_trigger import QueueTrigger
from local.s3_server import list_objects
from local.samples import put_object, sample_images

from .corpus import corpus

BAD_SHARE = 5  # every 5th object is a bad input


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def mixed_objects(count: int) -> list[tuple[str, bytes, bool]]:
    """(key below the prefix, bytes, is_valid) for `count` objects; keys never repeat."""
    photos = [(p.name, p.read_bytes()) for p in sample_images()]
    bad = [case for case in corpus() if case.reason is not None]
    objects = []
    for i in range(count):
        if i % BAD_SHARE == BAD_SHARE - 1:
            case = bad[(i // BAD_SHARE) % len(bad)]
            objects.append((f"soak/{i:05d}/{case.key}", case.data, False))
        else:
            name, data = photos[i % len(photos)]
            objects.append((f"soak/{i:05d}/{name}", data, True))
    return objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reliability.soak", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for every input")
    args = parser.parse_args(argv)
    objects = mixed_objects(args.count)
    with LocalDeployment() as stack:
        worker = stack.emulator(stack.s3_function)
        prefix = stack.variable(stack.s3_function, "INPUT_PREFIX")
        out_prefix = stack.variable(stack.s3_function, "OUTPUT_PREFIX")
        failure_prefix = stack.variable(stack.s3_function, "FAILURE_PREFIX")
        with QueueTrigger(stack.server, worker, stack.input_bucket) as trigger:
            started = time.monotonic()
            for key, data, _ in objects:
                put_object(stack.s3, stack.input_bucket, prefix + key, data)
            print(f"uploaded {len(objects)} objects in {time.monotonic() - started:.1f} s", flush=True)
            rss: list[float] = []
            done, last_report = 0, 0.0
            while time.monotonic() - started < args.timeout:
                outputs = list_objects(stack.s3, stack.output_bucket)
                done = len(outputs)
                pids = worker.runtime_pids()
                current = rss_mb(pids[0]) if pids else None
                if current is not None and done:  # from the first finished batch on: model loaded
                    rss.append(current)
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    print(f"  {done}/{len(objects)} accounted for, runtime RSS {current or 0:.0f} MiB", flush=True)
                if done >= len(objects):
                    break
                time.sleep(1)
            elapsed = time.monotonic() - started
        outputs = list_objects(stack.s3, stack.output_bucket)
        report(stack, objects, outputs, trigger.invocations, rss, elapsed, prefix, out_prefix, failure_prefix)
        reconciled, stray = reconcile(objects, outputs, prefix, out_prefix, failure_prefix)
    print(f"objects in the output bucket that no input explains: {stray}")
    print(reconciled)
    return 0 if reconciled.endswith(" lost=0 duplicated=0") and stray == 0 else 1


def reconcile(objects, outputs, prefix: str, out_prefix: str, failure_prefix: str) -> tuple[str, int]:
    """Every input must end as exactly one cut-out or one failure record, and nothing else appear."""
    stored = set(outputs)
    cutouts = failures = lost = duplicated = 0
    expected: set[str] = set()
    for key, _, _ in objects:
        cutout, failure = f"{out_prefix}{prefix}{key}.png", f"{failure_prefix}{prefix}{key}.json"
        expected |= {cutout, failure}
        has = (cutout in stored, failure in stored)
        cutouts += has[0]
        failures += has[1]
        lost += not any(has)
        duplicated += all(has)
    line = f"in={len(objects)} outputs={cutouts} failures={failures} lost={lost} duplicated={duplicated}"
    return line, len(stored - expected)


def report(stack, objects, outputs, invocations, rss, elapsed, prefix, out_prefix, failure_prefix) -> None:
    valid = {f"{out_prefix}{prefix}{key}.png" for key, _, ok in objects if ok}
    totals = []
    for key in outputs:
        if key in valid:
            metadata = stack.s3.head_object(Bucket=stack.output_bucket, Key=key)["Metadata"]
            totals.append(json.loads(metadata["timings"])["total_ms"])
    batches = [i.duration_ms for i in invocations if i.duration_ms is not None]
    wrong = sum(1 for key, _, ok in objects if not ok and f"{out_prefix}{prefix}{key}.png" in outputs)
    print(
        f"processed {len(outputs)} objects in {elapsed:.1f} s: {len(outputs) / elapsed:.1f} objects/s, "
        f"{len(invocations)} batches"
    )
    print(f"per image (engine total): p50 {percentile(totals, 0.5):.0f} ms, p99 {percentile(totals, 0.99):.0f} ms")
    print(f"per batch (invoke): p50 {percentile(batches, 0.5):.0f} ms, p99 {percentile(batches, 0.99):.0f} ms")
    if rss:
        print(f"runtime RSS: after the first batch {rss[0]:.0f} MiB, peak {max(rss):.0f} MiB, end {rss[-1]:.0f} MiB")
    print(f"bad inputs that produced a cut-out: {wrong}")


if __name__ == "__main__":
    sys.exit(main())
