"""`make invoke EVENT=events/s3-put.json [FILE=photo.jpg]`: one event through the real function, no Docker.

Starts moto's S3 with the template's buckets, stores a bundled sample image (or FILE, `--file`)
under every object the event names (the cut-out keeps the event's key), or sends FILE as the body
of a POST /remove event, runs the function the event is for (the API function for API Gateway
events, the S3 function otherwise; `--function` picks another) under the Lambda emulator, posts the
event, and prints the response, the function's log lines, time and peak RSS, and what it wrote:
each new object of the output bucket is downloaded to out/<bucket>/<key>.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
from pathlib import Path

from .api_gateway import ApiResponse
from .deployment import ENV_FILE, ROOT, TEMPLATE, LocalDeployment
from .emulator import Invocation
from .events import NoImageRoute, is_api_event, load_event, named_objects, with_body
from .s3_server import create_buckets, download, list_objects, new_objects
from .samples import seed_objects

OUT_DIR = ROOT / "out"
_MAX_PRINTED_BODY = 2000


def describe_invocation(invocation: Invocation, memory_mb: int) -> str:
    """One line: cold or warm, wall time, init and handler durations, peak RSS."""
    parts = [
        "cold start" if invocation.cold else "warm",
        f"invoke {invocation.wall_ms:.0f} ms",
    ]
    if invocation.init_ms is not None:
        parts.append(f"init {invocation.init_ms:.0f} ms")
    if invocation.duration_ms is not None:
        parts.append(f"duration {invocation.duration_ms:.0f} ms")
    if invocation.peak_rss_mb is not None:
        parts.append(f"peak RSS {invocation.peak_rss_mb:.0f} MiB of {memory_mb} MB")
    return " | ".join(parts)


def print_response(invocation: Invocation, out_dir: Path) -> None:
    """The function's answer: an API Gateway response is unpacked, its body saved to out/."""
    if invocation.function_error:
        print(json.dumps(invocation.function_error, indent=2, ensure_ascii=False))
        return
    payload = invocation.payload()
    if isinstance(payload, dict) and "statusCode" in payload:
        print_api_response(ApiResponse.from_invocation(invocation), out_dir)
    else:
        print(json.dumps(payload, indent=2, ensure_ascii=False))


def print_api_response(response: ApiResponse, out_dir: Path) -> None:
    content_type = response.content_type or "application/octet-stream"
    print(f"HTTP {response.status}  ({len(response.body)} bytes)")
    for name, value in response.headers.items():
        print(f"  {name}: {value}")
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ".bin"
    target = out_dir / f"api-response{extension}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(response.body)
    if content_type.startswith("application/json") and len(response.body) <= _MAX_PRINTED_BODY:
        print(response.body.decode("utf-8", "replace"))
    print(f"body saved to {_shown(target)}")


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run(
    event_path: Path, function: str | None, template: Path, env_file: Path, out_dir: Path, file: Path | None = None
) -> int:
    """Post the event to its function under the emulator (with `file` as the image when given)."""
    event = load_event(event_path)
    if file is not None and is_api_event(event):
        event = with_body(event, file.read_bytes(), mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        print(f"request body from {_shown(file)} ({file.stat().st_size} bytes)")
    refs = named_objects(event)
    with LocalDeployment(template, env_file) as stack:
        create_buckets(stack.s3, {ref.bucket for ref in refs})
        for obj, image in seed_objects(stack.s3, refs, [file] if file else None):
            print(f"seeded s3://{obj.bucket}/{obj.key} from {_shown(image)} ({obj.size} bytes)")
        logical_id = function or (stack.api_function if is_api_event(event) else stack.s3_function)
        before = list_objects(stack.s3, stack.output_bucket)
        emulator = stack.emulator(logical_id)
        print(f"invoking {logical_id} ({emulator.config.handler}) with {event_path}")
        invocation = emulator.invoke(event)
        print("\n--- function log ---")
        print("\n".join(invocation.function_lines()))
        print("\n--- response ---")
        print_response(invocation, out_dir)
        print("\n--- " + describe_invocation(invocation, emulator.config.memory_mb))
        written = new_objects(before, list_objects(stack.s3, stack.output_bucket))
        for obj in written:
            path = download(stack.s3, obj, out_dir)
            print(f"wrote s3://{obj.bucket}/{obj.key} ({obj.size} bytes) -> {_shown(path)}")
        if not written:
            print(f"nothing new in s3://{stack.output_bucket}")
    return 1 if invocation.function_error else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.invoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("event", type=Path, help="event JSON file, e.g. events/s3-put.json")
    parser.add_argument("--function", help="logical id of the function (default: by event type)")
    parser.add_argument("--file", type=_existing_file, help="your image instead of the bundled samples (make: FILE=)")
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--env-vars", type=Path, default=ENV_FILE, help="SAM --env-vars style overrides")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where outputs are downloaded")
    args = parser.parse_args(argv)
    try:
        return run(args.event, args.function, args.template, args.env_vars, args.out, args.file)
    except NoImageRoute as exc:
        parser.error(str(exc))


def _existing_file(text: str) -> Path:
    path = Path(text).expanduser()
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {path}")
    return path


if __name__ == "__main__":
    sys.exit(main())
