"""The whole stack on one machine: a local S3 with the template's buckets, and its functions
under the Lambda emulator, configured from template.yaml (+ events/env.json) as SAM would.
The S3 is moto's server, started here, or one already running (`s3_endpoint`).

    with LocalDeployment() as stack:
        stack.s3.put_object(Bucket=stack.input_bucket, Key="a.jpg", Body=data)
        invocation = stack.emulator(stack.s3_function).invoke(event)

Emulators start on first use and everything stops (child processes included) on exit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .emulator import LambdaEmulator
from .processes import Service
from .s3_server import LocalS3, S3Endpoint, create_buckets
from .template_config import (
    FunctionConfig,
    TemplateError,
    apply_env_overrides,
    bucket_names,
    function_config,
    function_ids,
    load_template,
    route_security,
)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
ENV_FILE = ROOT / "events" / "env.json"
S3_ENTRY = "handler.s3_entry.lambda_handler"
API_ENTRY = "handler.api_entry.lambda_handler"


class LocalDeployment(Service):
    """Local S3 + emulated functions of the SAM template; a context manager."""

    def __init__(
        self,
        template: Path = TEMPLATE,
        env_file: Path | None = ENV_FILE,
        task_root: Path = ROOT,
        python: str = sys.executable,
        extra_env: dict[str, str] | None = None,
        s3_endpoint: str | None = None,
        parameters: dict[str, str] | None = None,
    ):
        self.template = load_template(template)
        self.parameters = dict(parameters or {})  # as `sam deploy --parameter-overrides`
        self.env_file = env_file
        self.task_root = task_root
        self.python = python
        self.extra_env = dict(extra_env or {})
        self.configs = {
            logical_id: self._config(logical_id) for logical_id in function_ids(self.template, self.parameters)
        }
        self.server = S3Endpoint(s3_endpoint) if s3_endpoint else LocalS3(python, task_root)
        self.s3: Any = None
        self._emulators: dict[str, LambdaEmulator] = {}
        self._stack = ExitStack()

    def _config(self, logical_id: str) -> FunctionConfig:
        return apply_env_overrides(function_config(self.template, logical_id, self.parameters), self.env_file)

    def api_routes(self) -> dict[str, set[str]]:
        """ "METHOD /path" -> the security schemes the API requires of it (template_config.route_security)."""
        return route_security(self.template, self.parameters)

    def function_with_handler(self, handler: str) -> str:
        """Logical id of the (first) function whose handler is `handler`."""
        for logical_id, config in self.configs.items():
            if config.handler == handler:
                return logical_id
        raise TemplateError(f"no function of the template has the handler {handler}")

    @property
    def s3_function(self) -> str:
        return self.function_with_handler(S3_ENTRY)

    @property
    def api_function(self) -> str:
        return self.function_with_handler(API_ENTRY)

    def _variable(self, name: str) -> str:
        values = [c.environment[name] for c in self.configs.values() if c.environment.get(name)]
        if not values:
            raise TemplateError(f"no function of the template sets {name}")
        return values[0]

    @property
    def input_bucket(self) -> str:
        return self._variable("INPUT_BUCKET")

    @property
    def output_bucket(self) -> str:
        return self._variable("OUTPUT_BUCKET")

    def variable(self, logical_id: str, name: str, default: str = "") -> str:
        """One environment variable of one function, as the function will see it."""
        return self.configs[logical_id].environment.get(name, default)

    def start(self, extra_buckets: Iterable[str] = ()) -> LocalDeployment:
        try:
            if isinstance(self.server, LocalS3):
                self._stack.enter_context(self.server)
            self.s3 = self.server.client()
            self.create_buckets(extra_buckets)
        except BaseException:
            self.stop()
            raise
        return self

    def create_buckets(self, extra: Iterable[str] = ()) -> None:
        """Create the template's buckets, those the functions are configured with, and `extra`."""
        buckets = set(bucket_names(self.template).values()) | set(extra)
        buckets |= {c.environment[v] for c in self.configs.values() for v in ("INPUT_BUCKET", "OUTPUT_BUCKET")
                    if c.environment.get(v)}  # fmt: skip
        create_buckets(self.s3, buckets)

    def emulator(self, logical_id: str) -> LambdaEmulator:
        """The function `logical_id` under the emulator, started on first use."""
        if logical_id not in self._emulators:
            env = {**self.server.function_environment(), **self.extra_env}
            emulator = LambdaEmulator(self.configs[logical_id], self.task_root, env, self.python)
            self._emulators[logical_id] = self._stack.enter_context(emulator)
        return self._emulators[logical_id]

    def stop(self) -> None:
        self._emulators.clear()
        self._stack.close()
