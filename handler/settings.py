"""Handler configuration: one typed object, read once from the environment at cold start.

The engine's own variables (ENGINE_*, engine/settings.py) are read with them. A bad variable
raises `SettingsError` while the entry point's module is imported, so a misconfigured deployment
fails its first invocation loudly (an init error) instead of mis-handling images.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import parse_qsl

from engine import EngineSettings, InvalidOptionError, Options, SettingError

from .errors import PermanentError
from .keys import MAX_KEY_BYTES, PREFIX_MAX_BYTES
from .payload import MAX_REQUEST_BODY_BYTES
from .requests import our_names

API_AUTH_MODES = ("IAM", "API_KEY")  # template.yaml's ApiAuth values, the default first
PRESIGN_MAX_SECONDS = 7 * 24 * 3600  # S3 refuses a SigV4 presigned URL valid for longer
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


class SettingsError(ValueError):
    """An environment variable has a value the handler cannot work with."""

    code = "invalid_setting"  # as the engine's SettingError: the reason its failed cold start logs


@dataclass(frozen=True)
class HandlerSettings:
    """Environment variables (all optional unless an entry point says otherwise):

    INPUT_BUCKET       only objects of this bucket are processed; uploads land here (API)
    INPUT_PREFIX       only keys under this prefix are processed (default: whole bucket)
    OUTPUT_BUCKET      where cut-outs and failure records are written (required by the S3 entry)
    OUTPUT_PREFIX      cut-outs go to OUTPUT_PREFIX + source key + the format's suffix (".png") ("")
    FAILURE_PREFIX     failure records go to FAILURE_PREFIX + source key + ".json" ("failures/");
                       each prefix is at most keys.PREFIX_MAX_BYTES (512) bytes
    MIN_REMAINING_MS   stop taking new work when less time than this is left (default 10000)
    MAX_INPUT_BYTES    larger source objects are refused without download (default 50 MB)
    DEFAULT_OPTIONS    engine options for S3 work, as a query string: "crop=true&refine=false"
    API_MAX_BODY_BYTES larger API request bodies get 413 and a pointer to /uploads (default and
                       most: the real limit, payload.MAX_REQUEST_BODY_BYTES = 4,689,408)
    UPLOAD_URL_EXPIRES lifetime of presigned upload/download URLs, seconds (default 900; at most
                       PRESIGN_MAX_SECONDS, 7 days, the longest S3 honours)
    API_AUTH           how API callers authenticate (template.yaml ApiAuth): IAM (default) or
                       API_KEY, when the page asks for the key and sends it as x-api-key
    API_MAX_COMPRESS_LEVEL the highest compress_level the API serves (default 3: levels 4-9 take
                       seconds per megapixel, 9 about 2 s, against the API's 29 s); a higher
                       DEFAULT_OPTIONS level is lowered to it for the API, a request's is refused
    """

    input_bucket: str | None = None
    input_prefix: str = ""
    output_bucket: str | None = None
    output_prefix: str = ""
    failure_prefix: str = "failures/"
    min_remaining_ms: int = 10_000
    max_input_bytes: int = 50_000_000
    default_options: Options = field(default_factory=Options)
    api_max_body_bytes: int = MAX_REQUEST_BODY_BYTES
    upload_url_expires: int = 900
    api_max_compress_level: int = 3
    api_auth: str = "IAM"
    engine: EngineSettings = field(default_factory=EngineSettings)

    def __post_init__(self) -> None:
        shares_bucket = self.output_bucket and self.input_bucket in (None, self.output_bucket)
        if shares_bucket and not (self.output_prefix and self.failure_prefix):
            raise SettingsError(
                "OUTPUT_PREFIX and FAILURE_PREFIX must be set when outputs may land in the input "
                "bucket: events for those prefixes are ignored, which is what prevents loops"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HandlerSettings:
        env = os.environ if env is None else env
        return cls(
            input_bucket=_bucket(env, "INPUT_BUCKET"),
            input_prefix=_prefix(env, "INPUT_PREFIX", ""),
            output_bucket=_bucket(env, "OUTPUT_BUCKET"),
            output_prefix=_prefix(env, "OUTPUT_PREFIX", ""),
            failure_prefix=_prefix(env, "FAILURE_PREFIX", "failures/"),
            min_remaining_ms=_count(env, "MIN_REMAINING_MS", 10_000, minimum=0),
            max_input_bytes=_count(env, "MAX_INPUT_BYTES", 50_000_000, minimum=1),
            default_options=_options(env, "DEFAULT_OPTIONS"),
            api_max_body_bytes=_count(env, "API_MAX_BODY_BYTES", MAX_REQUEST_BODY_BYTES, 1, MAX_REQUEST_BODY_BYTES),
            upload_url_expires=_count(env, "UPLOAD_URL_EXPIRES", 900, 1, PRESIGN_MAX_SECONDS),
            api_max_compress_level=_count(env, "API_MAX_COMPRESS_LEVEL", 3, 0, 9),
            api_auth=_choice(env, "API_AUTH", API_AUTH_MODES),
            engine=_engine(env),
        )

    def api_options(self, query: Mapping[str, str], accepted: Sequence[str | None] = ()) -> Options:
        """The options of an API request: its query over DEFAULT_OPTIONS (whose compress_level is
        lowered to API_MAX_COMPRESS_LEVEL); a query asking for more is refused (InvalidOptionError).
        Without a format in the query, the first of `accepted` (the Accept header's formats, best
        first; None: the options' own, unless the header refuses it) that can carry the result is
        chosen (a transparent cut-out skips JPEG); when none can, the first one's refusal is raised.
        A header that takes none of them is disregarded, as one naming no output type is."""
        if "format" in query or not accepted:
            return self._api_options(query)
        acceptable = {name for name in accepted if name is not None}
        refusals = []
        for name in accepted:
            try:
                options = self._api_options(query if name is None else {**query, "format": name})
            except InvalidOptionError as refusal:
                refusals.append(refusal)
                continue
            if options.output_format.name in acceptable:
                return options
        if refusals:
            raise refusals[0]
        return self._api_options(query)

    def _api_options(self, query: Mapping[str, str]) -> Options:
        defaults = self.default_options
        if defaults.compress_level > self.api_max_compress_level:
            defaults = replace(defaults, compress_level=self.api_max_compress_level)
        options = defaults.merged(query)
        if options.compress_level > self.api_max_compress_level:
            raise InvalidOptionError(
                f"compress_level must be at most {self.api_max_compress_level} on this route (higher levels cost "
                f"seconds per megapixel of the API's 29 s), got {options.compress_level}; the S3 route takes 0-9"
            )
        return options

    def require_output_bucket(self) -> str:
        """The output bucket, or SettingsError when the deployment did not set one."""
        if not self.output_bucket:
            raise SettingsError("OUTPUT_BUCKET must be set to the bucket that receives the cut-outs")
        return self.output_bucket


def _text(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """The variable, one of `choices` (the first when unset), or SettingsError."""
    value = _text(env, name) or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _bucket(env: Mapping[str, str], name: str) -> str | None:
    value = _text(env, name)
    if not value:
        return None
    if not _BUCKET_NAME.fullmatch(value) or ".." in value:
        raise SettingsError(f"{name} must be an S3 bucket name, got {value!r}")
    return value


def _prefix(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, default)
    segments = value.split("/")
    if value.startswith("/") or "\\" in value or any(s in (".", "..") for s in segments):
        raise SettingsError(f"{name} must be a plain key prefix such as 'cutouts/', got {value!r}")
    size = len(value.encode("utf-8"))
    if size > PREFIX_MAX_BYTES:
        raise SettingsError(f"{name} must be at most {PREFIX_MAX_BYTES} bytes (S3 keys: {MAX_KEY_BYTES}), got {size}")
    return value


def _count(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = _text(env, name)
    if not raw:
        return default
    try:
        value = int(raw) if raw.isascii() else None
    except ValueError:
        value = None
    if value is None:
        raise SettingsError(f"{name} must be an integer, got {raw!r}")
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def _options(env: Mapping[str, str], name: str) -> Options:
    raw = _text(env, name)
    try:
        fields = parse_qsl(raw, keep_blank_values=True, strict_parsing=bool(raw))
        return Options.from_strings(our_names(fields))  # remove.bg's names too, as every entry point reads them
    except (InvalidOptionError, PermanentError, ValueError) as exc:
        raise SettingsError(f"{name} is not valid engine options ({exc}); example: 'crop=true&refine=false'") from None


def _engine(env: Mapping[str, str]) -> EngineSettings:
    try:
        return EngineSettings.from_env(env)
    except SettingError as exc:
        raise SettingsError(str(exc)) from None


@lru_cache(maxsize=1)
def load_settings() -> HandlerSettings:
    """The settings of this process, read from the environment on first use."""
    return HandlerSettings.from_env()
