"""The official OCPP JSON schemas, as the PyPI `ocpp` package ships them, for
checking what wsctl sends and accepts (each schema is checked with the draft
its file names: draft-04 for 1.6, draft-06 for 2.0.1)."""

from __future__ import annotations

import functools
import json
from importlib import resources

import jsonschema

#: profile id -> the package folder of its schemas
VERSIONS = {"ocpp16": "v16", "ocpp201": "v201"}


@functools.cache
def validator(version: str, action: str, *, response: bool) -> jsonschema.protocols.Validator:
    """`version` v16 or v201; 1.6 names files Action.json / ActionResponse.json,
    2.0.1 ActionRequest.json / ActionResponse.json."""
    suffix = "Response" if response else ("Request" if version == "v201" else "")
    text = resources.files("ocpp").joinpath(version, "schemas", f"{action}{suffix}.json").read_text("utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(version: str, action: str, payload: object, *, response: bool) -> list[str]:
    """Every way `payload` breaks the official schema ([] when it fits)."""
    found = validator(version, action, response=response).iter_errors(payload)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(payload)'}: {e.message}" for e in found]
