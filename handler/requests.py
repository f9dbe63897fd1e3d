"""What a POST /remove request carries: the image and the option text, in any of three forms.

- the raw body is the image; the options are the query (`?crop=true&format=webp`);
- `multipart/form-data` (remove.bg's and rembg's servers' form): the file in the `image_file` field
  (remove.bg's name) or `file` (rembg's server's), options as further fields;
- a JSON object: the image base64-encoded in `image_file_b64`, options as further members;
- `application/x-www-form-urlencoded`: `image_file_b64` and the options as form fields.

A POST /uploads is a JSON object: `filename`, and options as further members (read_upload).

Options in the body are laid over the query's; within each, a name given twice with different
values (`crop=true&crop=false`, also by two names: `channels=alpha&output=cutout`; values are
compared as read, so `crop=1&crop=true` agree) is refused,
as is a second image. remove.bg's names are understood where they mean
what ours do (REMOVE_BG_NAMES: `channels=alpha` is `output=mask`, `bg_color` is `background`;
our_names, which also reads an S3 object's options metadata);
`image_url` is refused (this service never fetches URLs). When no option names the format, the
`Accept` header's output formats, best first (q=0 never: accepted_formats), are kept for the route
to pick the first that can carry the result (settings.api_options).

Pure functions of the request's parts: no Powertools, no pixels (tests/unit/test_api_requests.py).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from engine import EmptyInputError, InputError, InvalidOptionError
from engine.decode import signature_of
from engine.formats import FORMATS, by_media_type
from engine.options import same_value

from .errors import BadRequestError, ConflictingValuesError, PermanentError, UrlNotFetchedError

FILE_FIELD = "image_file"
FILE_FIELDS = frozenset({FILE_FIELD, "file"})  # remove.bg's API's name, rembg's server's
BASE64_FIELD = "image_file_b64"
URL_FIELD = "image_url"
UPLOAD_NAME_FIELD = "filename"  # POST /uploads: the file's name (its suffix must be an input format)
SUBJECT_TYPE_FIELD = "type"  # remove.bg's subject hint (auto, person, product, car, ...)
# remove.bg's option names and values -> ours (only where the meaning is the same).
REMOVE_BG_NAMES = {"bg_color": "background", "channels": "output"}
REMOVE_BG_VALUES = {("output", "alpha"): "mask", ("output", "rgba"): "cutout"}


@dataclass(frozen=True)
class ImageRequest:
    image: bytes
    options: dict[str, str]  # option text, as Options.from_strings reads it
    # The output formats the Accept header takes, best first (None: any), when no option names one.
    accepted: tuple[str | None, ...] = ()


Query = Mapping[str, str | Sequence[str]]  # each name's value, or all its values (multi-value)
Fields = list[tuple[str, str]]  # a body's option fields in order, repeats included


def read_request(body: bytes, content_type: str, query: Query, accept: str = "") -> ImageRequest:
    """The image and options of a POST /remove (see the module docstring); BadRequestError,
    UrlNotFetchedError or EmptyInputError when the request does not hold an image."""
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if kind == "multipart/form-data":
        image, fields = _multipart(body, content_type)
    elif kind == "application/json":
        image, fields = _json(body)
    elif kind == "application/x-www-form-urlencoded":
        image, fields = _urlencoded(body)
    else:
        image, fields = body, []
    options = _layered(query, fields)
    return ImageRequest(image, options, () if "format" in options else tuple(accepted_formats(accept)))


@dataclass(frozen=True)
class UploadRequest:
    filename: str
    options: dict[str, str]  # option text, as Options.from_strings reads it


def read_upload(body: bytes, query: Query) -> UploadRequest:
    """The file name and options of a POST /uploads: a JSON object's `filename` (else the query's)
    and its other members as options over the query's, as on /remove; no body is an empty object.
    BadRequestError when the body is not such an object."""
    document = json_document(body)
    document = {} if document is None else document  # no body: the file name may be in the query
    if not isinstance(document, dict):
        raise BadRequestError(f'send a JSON object such as {{"{UPLOAD_NAME_FIELD}": "photo.jpg"}}')
    named = document.pop(UPLOAD_NAME_FIELD, "")
    if not isinstance(named, str):
        raise BadRequestError(f'{UPLOAD_NAME_FIELD} must be a string, such as {{"{UPLOAD_NAME_FIELD}": "photo.jpg"}}')
    options = _layered(query, _member_fields(document))
    named_in_query = options.pop(UPLOAD_NAME_FIELD, "")
    return UploadRequest(named or named_in_query, options)


def _layered(query: Query, fields: Fields) -> dict[str, str]:
    """The request's options by our names: the body's fields over the query's."""
    return {**option_text(query), **our_names(fields)}


def image_length(body: bytes, content_type: str) -> int | None:
    """The bytes of the image a request body carries (None when it carries none that can be read)."""
    try:
        return len(read_request(body, content_type, {}).image)
    except (PermanentError, InputError):
        return None


def accepted_formats(accept: str) -> list[str | None]:
    """The output formats an Accept header takes, most preferred first (by q, the first of equals):
    `image/webp` -> webp; a wildcard (`*/*`, `image/*`) -> None (the options' own format, PNG by
    default), then the formats it alone covers, in FORMATS' order, for when the header refuses that
    one; other types are left out. A format's q is its most specific range's (RFC 9110 12.4.2:
    `image/*, image/png;q=0` takes any but PNG), and one with q=0 is never in the list."""
    ranked = _ranked(accept)
    named = {media_type for _, _, media_type in ranked}
    covering = next((wildcard for wildcard in ("image/*", "*/*") if wildcard in named), None)
    names: list[str | None] = []
    seen: set[str] = set()  # a range named twice counts once, at its highest q
    for quality, _, media_type in ranked:
        found = by_media_type(media_type)
        if media_type in seen or (found is None and media_type != covering):
            continue
        seen.add(media_type)
        if quality > 0:
            names += [found.name] if found else [None, *(f.name for f in FORMATS.values() if f.media_type not in named)]
    return names


def prefers_json(accept: str) -> bool:
    """Whether the Accept header takes JSON and no image (`*/*`, the default, is not asking; an
    entry with q=0 takes nothing)."""
    kinds = {media_type for quality, _, media_type in _ranked(accept) if quality > 0}
    return "application/json" in kinds and not any(k.startswith("image/") or k == "*/*" for k in kinds)


def _ranked(accept: str) -> list[tuple[float, int, str]]:
    """(q, position, media type in lower case) of each Accept entry, the most preferred first."""
    entries = [
        (_quality(part), index, part.split(";")[0].strip().lower()) for index, part in enumerate(accept.split(","))
    ]
    return sorted(entries, key=lambda entry: (-entry[0], entry[1]))


def _quality(part: str) -> float:
    """The q parameter of one Accept entry (1 when absent or unreadable)."""
    for parameter in part.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 1.0
    return 1.0


def _check_subject_type(value: str) -> None:
    """remove.bg's `type` hint: `auto` is what this service always does; another is refused, not ignored."""
    if value.strip().lower() != "auto":
        raise InvalidOptionError(
            f"type={value} is remove.bg's subject hint; this service finds the subject itself: send type=auto "
            "or leave it out"
        )


def option_text(query: Query) -> dict[str, str]:
    """A query's options by our names, one value each (see our_names)."""
    return our_names((name, value) for name, values in query.items() for value in _as_list(values))


def _as_list(values: str | Sequence[str]) -> Sequence[str]:
    return [values] if isinstance(values, str) else values


def our_names(fields: Iterable[tuple[str, str]], where: str = "") -> dict[str, str]:
    """Option text by our names (remove.bg's names and values translated), one value each
    (`one_value_each`, `where` saying where they were given): the API's query and body, and an S3
    object's options metadata (worker.py), read alike."""
    translated = []
    for name, value in fields:
        if name == URL_FIELD:
            raise UrlNotFetchedError(where)
        if name == SUBJECT_TYPE_FIELD:
            _check_subject_type(value)
            continue
        ours = REMOVE_BG_NAMES.get(name, name)
        translated.append((ours, REMOVE_BG_VALUES.get((ours, value.lower()), value)))
    return one_value_each(translated, where)


def one_value_each(fields: Iterable[tuple[str, str]], where: str = "") -> dict[str, str]:
    """name -> value; ConflictingValuesError when a name comes twice with different values (one
    value spelled two ways is the same: `crop=1&crop=true`), `where` saying where they were given."""
    options: dict[str, str] = {}
    for name, value in fields:
        if not same_value(name, options.setdefault(name, value), value):
            raise ConflictingValuesError(
                f"{name} is given twice{where}, as {options[name]!r} and {value!r}: give it once"
            )
    return options


def _multipart(body: bytes, content_type: str) -> tuple[bytes, Fields]:
    """(the image_file part's bytes, the other fields as text) of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise BadRequestError("the multipart/form-data body has no parts (is the boundary right?)")
    images: list[bytes] = []
    fields: Fields = []
    for part in message.iter_parts():
        name = _field_name(part)
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if name in FILE_FIELDS:
            images.append(content)
        elif name:
            fields.append((name, content.decode("utf-8", errors="replace")))
    encoded = [value for name, value in fields if name == BASE64_FIELD]
    if len(images) + len(encoded) > 1:
        raise ConflictingValuesError(f"the form has {len(images) + len(encoded)} images: send one {FILE_FIELD}")
    if encoded:
        return _base64(encoded[0]), [(name, value) for name, value in fields if name != BASE64_FIELD]
    if not images:
        if any(name == URL_FIELD for name, _ in fields):
            raise UrlNotFetchedError()
        raise BadRequestError(f"the form has no {FILE_FIELD} field: send the image as {FILE_FIELD}")
    return images[0], fields


def _urlencoded(body: bytes) -> tuple[bytes, Fields]:
    """(the decoded image_file_b64, the other fields) of an application/x-www-form-urlencoded body;
    a body that is an image itself is taken as one (`curl --data-binary @photo.jpg` without -H
    labels it a form)."""
    if signature_of(body):
        return body, []
    fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    encoded = [value for name, value in fields if name == BASE64_FIELD]
    if len(encoded) != 1:
        if any(name == URL_FIELD for name, _ in fields):
            raise UrlNotFetchedError()
        raise BadRequestError(
            f"the form must carry one {BASE64_FIELD} field (the image, base64-encoded); to send the file "
            "itself, label it with its type (Content-Type: image/jpeg) or send a multipart form (image_file)"
        )
    image = _base64(encoded[0].replace(" ", "+"))  # a + not escaped in the form reads as a space
    return image, [(name, value) for name, value in fields if name != BASE64_FIELD]


def _field_name(part: Message) -> str:
    disposition = part.get("Content-Disposition", "")
    return str(part.get_param("name", "", header="content-disposition")) if disposition else ""


def json_document(body: bytes) -> object:
    """The JSON value of a request body (null when empty); BadRequestError when it is not JSON, or
    nests deeper than the parser's recursion limit (a crash otherwise)."""
    try:
        return json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("the request body is JSON nested too deeply to read") from None


def _json(body: bytes) -> tuple[bytes, Fields]:
    """(the decoded image_file_b64, the other members as text) of a JSON object body."""
    document = json_document(body)
    if not isinstance(document, dict):
        raise BadRequestError(f'send a JSON object such as {{"{BASE64_FIELD}": "<base64 of the image>"}}')
    encoded = document.pop(BASE64_FIELD, None)
    if encoded is None:
        if URL_FIELD in document:
            raise UrlNotFetchedError()
        raise BadRequestError(f"the JSON object has no {BASE64_FIELD} member")
    if not isinstance(encoded, str):
        raise BadRequestError(f"{BASE64_FIELD} must be a base64 string")
    return _base64(encoded), _member_fields(document)


def _member_fields(document: dict[str, object]) -> Fields:
    """A JSON object's members as option fields (`json_option_text`)."""
    return [(name, json_option_text(name, value)) for name, value in document.items()]


def _base64(text: str) -> bytes:
    """Standard or URL-safe base64, with or without a `data:...;base64,` prefix, line breaks (as
    `base64` and MIME wrap it) or padding."""
    if text.startswith("data:"):
        if "," not in text:
            raise BadRequestError(f"{BASE64_FIELD} is a data URL without its data: data:<type>;base64,<data>")
        text = text.split(",", 1)[1]
    payload = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        image = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestError(f"{BASE64_FIELD} is not valid base64") from None
    if not image:
        raise EmptyInputError(f"{BASE64_FIELD} is empty")
    return image


def json_option_text(name: str, value: object) -> str:
    """A JSON member as option text: strings as they are, booleans true/false, numbers (here and in
    Batch Operations user arguments); InvalidOptionError for null, arrays and objects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 80.0, as many JSON writers put 80
    if isinstance(value, str | int | float):
        return str(value)
    raise InvalidOptionError(f"{name} must be a string, number or boolean, got {type(value).__name__}")
