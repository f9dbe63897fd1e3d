"""For the entry points called in process (test_handler_*.py): the buckets and variables of
events/env.json, sample events, and a Lambda context with a deadline the test chooses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "events"
SAMPLES_DIR = ROOT / "samples"
INPUT_BUCKET, OUTPUT_BUCKET = "input-bucket", "output-bucket"


def load_event(name: str) -> dict[str, Any]:
    """A sample event from events/ (fresh copy: tests may change it)."""
    return json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))


def function_environment(logical_id: str) -> dict[str, str]:
    """The variables events/env.json gives one function of template.yaml."""
    return dict(json.loads((EVENTS_DIR / "env.json").read_text())[logical_id])


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as `context`, with a deadline the test chooses."""

    remaining_ms: int = 60_000
    function_name: str = "bg-remover-test"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bg-remover-test"
    memory_limit_in_mb: int = 2048
    aws_request_id: str = "5f3bb8b3-1b1e-4e0c-9d5e-0c0ffee00001"
    log_group_name: str = "/aws/lambda/bg-remover-test"
    log_stream_name: str = "2025/01/15/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
