"""A function's run-time configuration read from the SAM template, the way Lambda would see it.

`function_config(template, "RemoveFunction")` returns the handler, environment, memory size and
timeout of one `AWS::Serverless::Function`, with `Globals` merged in and CloudFormation intrinsics
(`!Ref`, `!Sub`, `!GetAtt`, `!Join`, `!If`, ...) resolved against Parameters' defaults, pseudo
parameters of a local stack and the physical names the local run gives to the template's buckets.
`events/env.json` (SAM's `--env-vars` format) is applied on top by `apply_env_overrides`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
BUCKET_TYPE = "AWS::S3::Bucket"
API_TYPE = "AWS::Serverless::Api"
LOCAL_STACK = {
    "AWS::StackName": "local",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/local/6b1f04a0-0000-4000-8000-10ca1000c0de",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template lacks something a local run needs, or uses an intrinsic we cannot resolve."""


class _CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that reads `!Tag value` as CloudFormation's long form (`{"Fn::Tag": value}`)."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, short-form tags turned into their long form."""
    with open(path, encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CloudFormationLoader)  # noqa: S506  # a SafeLoader subclass  # nosec B506
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation/SAM template (no Resources)")
    return document


@dataclass(frozen=True)
class FunctionConfig:
    """What the Lambda service would give one function: handler, environment, limits."""

    logical_id: str
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str] = field(default_factory=dict)


class _Resolver:
    """Evaluates intrinsic functions against one template's parameters, conditions and resources."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]):
        self.template = template
        self.parameters = parameters
        self.resources: Mapping[str, Any] = template.get("Resources", {})

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref" or name.startswith("Fn::") or name == "Condition":
                return self._intrinsic(name, argument)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not None}

    def _intrinsic(self, name: str, argument: Any) -> Any:
        handlers = {
            "Ref": lambda a: self.ref(self.resolve(a)),
            "Fn::Sub": self._sub,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": lambda a: str(self.resolve(a[0])).join(str(v) for v in self.resolve(a[1])),
            "Fn::Select": lambda a: self.resolve(a[1])[int(self.resolve(a[0]))],
            "Fn::Split": lambda a: str(self.resolve(a[1])).split(self.resolve(a[0])),
            "Fn::If": lambda a: self.resolve(a[1] if self.condition(a[0]) else a[2]),
            "Fn::Equals": lambda a: str(self.resolve(a[0])) == str(self.resolve(a[1])),
            "Fn::Not": lambda a: not self._truth(a[0]),
            "Fn::And": lambda a: all(self._truth(c) for c in a),
            "Fn::Or": lambda a: any(self._truth(c) for c in a),
            "Condition": self.condition,
            "Fn::FindInMap": self._find_in_map,
        }
        if name not in handlers:
            raise TemplateError(f"{name} cannot be resolved for a local run")
        return handlers[name](argument)

    def _truth(self, value: Any) -> bool:
        return bool(self.resolve(value))

    def condition(self, name: str) -> bool:
        conditions = self.template.get("Conditions", {})
        if name not in conditions:
            raise TemplateError(f"condition {name!r} is not defined")
        return self._truth(conditions[name])

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in LOCAL_STACK:
            return LOCAL_STACK[name]
        if name in self.resources:
            return self.physical_name(name)
        raise TemplateError(f"!Ref {name}: neither a parameter, a pseudo parameter nor a resource")

    def physical_name(self, logical_id: str) -> str:
        """A resource's name in the local run: its explicit name, or a bucket-safe logical id."""
        resource = self.resources[logical_id]
        properties = resource.get("Properties") or {}
        for name_property in ("BucketName", "FunctionName", "QueueName", "TableName"):
            if name_property in properties:
                return str(self.resolve(properties[name_property]))
        return f"{LOCAL_STACK['AWS::StackName']}-{logical_id}".lower()

    def _get_att(self, argument: list[str]) -> str:
        logical_id, attribute = self.resolve(argument)
        if logical_id not in self.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        name = self.physical_name(logical_id)
        if self.resources[logical_id].get("Type") == BUCKET_TYPE and attribute == "Arn":
            return f"arn:aws:s3:::{name}"
        return f"{name}.{attribute}"

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        values = {k: self.resolve(v) for k, v in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                return self._get_att(name.split(".", 1))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(substitute, text).replace("${!", "${")

    def _find_in_map(self, argument: list[Any]) -> Any:
        map_name, top, second = (self.resolve(a) for a in argument)
        return self.template["Mappings"][map_name][top][second]


def parameter_defaults(template: Mapping[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value: the override when given, else its Default (an error if neither)."""
    values: dict[str, str] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if overrides and name in overrides:
            values[name] = str(overrides[name])
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise TemplateError(f"parameter {name} has no Default: pass a value for it")
    return values


def function_ids(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> list[str]:
    """Logical ids of the Lambda functions the template deploys (conditions honoured), in order."""
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    return [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") in FUNCTION_TYPES
        and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    ]


ANY_METHOD_KEYS = {"x-amazon-apigateway-any-method": "ANY"}  # OpenAPI extension -> API Gateway's name


def route_security(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> dict[str, set[str]]:
    """ "METHOD /path" -> the security schemes (OpenAPI `security`) the API's DefinitionBody requires
    of each route, conditions resolved: {"api_key"}, {"sigv4"}, or empty for an open route. A path's
    x-amazon-apigateway-any-method is "ANY /path"."""
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    routes: dict[str, set[str]] = {}
    for resource in template["Resources"].values():
        body = (resource.get("Properties") or {}).get("DefinitionBody") if resource.get("Type") == API_TYPE else None
        for path, methods in ((body or {}).get("paths") or {}).items():
            for method, spec in methods.items():
                schemes = resolver.resolve(spec.get("security", []))
                route = f"{ANY_METHOD_KEYS.get(method, method.upper())} {path}"
                routes[route] = {name for requirement in schemes for name in requirement}
    return routes


def bucket_names(template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> dict[str, str]:
    """Physical name of every S3 bucket the template declares, by logical id."""
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    return {k: resolver.physical_name(k) for k, v in template["Resources"].items() if v.get("Type") == BUCKET_TYPE}


def object_created_pattern(
    template: Mapping[str, Any], bucket: str, parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The EventPattern of the template's rule for S3 "Object Created" events, resolved, with the
    bucket it names replaced by `bucket` (a local run's input bucket)."""
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        pattern: dict[str, Any] = resolver.resolve(resource["Properties"]["EventPattern"])
        if pattern.get("source") == ["aws.s3"] and pattern.get("detail-type") == ["Object Created"]:
            pattern["detail"]["bucket"]["name"] = [bucket]
            return pattern
    raise TemplateError("the template has no EventBridge rule for S3 Object Created events")


def function_policy(
    template: Mapping[str, Any], logical_id: str, parameters: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The IAM policy document of a function's inline `Policies` statements, resolved for the local
    run (SAM policy templates such as SQSPollerPolicy are not expanded; they are left out)."""
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    policies = resolver.resolve((template["Resources"][logical_id].get("Properties") or {}).get("Policies") or [])
    statements = [
        statement for policy in policies if isinstance(policy, dict) for statement in policy.get("Statement", [])
    ]
    if not statements:
        raise TemplateError(f"{logical_id} has no inline policy statements")
    return {"Version": "2012-10-17", "Statement": statements}


def function_config(
    template: Mapping[str, Any], logical_id: str, parameters: Mapping[str, str] | None = None
) -> FunctionConfig:
    """Handler, merged environment, memory size and timeout of one function of the template."""
    resource = template["Resources"].get(logical_id)
    if logical_id not in function_ids(template, parameters):
        raise TemplateError(
            f"{logical_id} is not a function the template deploys: {function_ids(template, parameters)}"
        )
    resolver = _Resolver(template, parameter_defaults(template, parameters))
    globals_ = resolver.resolve((template.get("Globals") or {}).get("Function") or {})
    properties = resolver.resolve(resource.get("Properties") or {})
    environment = {
        **_variables(globals_),
        **_variables(properties),
    }
    return FunctionConfig(
        logical_id=logical_id,
        handler=_handler(properties, globals_, logical_id),
        memory_mb=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        timeout_s=int(properties.get("Timeout", globals_.get("Timeout", 3))),
        environment={k: _env_text(v) for k, v in environment.items()},
    )


def _variables(properties: Mapping[str, Any]) -> dict[str, Any]:
    return dict(((properties.get("Environment") or {}).get("Variables")) or {})


def _handler(properties: Mapping[str, Any], globals_: Mapping[str, Any], logical_id: str) -> str:
    command = (properties.get("ImageConfig") or {}).get("Command") or []
    handler = command[0] if command else properties.get("Handler", globals_.get("Handler"))
    if not handler:
        raise TemplateError(f"{logical_id} has neither ImageConfig.Command nor Handler")
    return str(handler)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply_env_overrides(config: FunctionConfig, env_file: Path | None) -> FunctionConfig:
    """The config with `sam local invoke --env-vars` overrides applied.

    The file maps a function's logical id to variables, and `Parameters` to variables for every
    function; as with SAM, only variables the template declares are overridden.
    """
    if env_file is None or not env_file.exists():
        return config
    overrides = json.loads(env_file.read_text(encoding="utf-8"))
    chosen = {**(overrides.get("Parameters") or {}), **(overrides.get(config.logical_id) or {})}
    environment = dict(config.environment)
    environment.update({k: _env_text(v) for k, v in chosen.items() if k in environment})
    return FunctionConfig(config.logical_id, config.handler, config.memory_mb, config.timeout_s, environment)
