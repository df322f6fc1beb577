"""The published Ant JUnit schema, for checking wsctl's JUnit XML.

The schema (windyroad/JUnit-Schema, Apache-2.0) came from the public-code
store, whose files stay out of this repository: it lives, with its licence,
in ``shared/vendor/junit/`` beside the checkout (any parent of it), in
``/work/shared/vendor/junit/`` on the steering machine, or wherever
``$WSCTL_JUNIT_XSD`` says.  Where it is missing, documents are still read back
by junitparser (an independent JUnit reader) and the schema checks say why
they were skipped.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

VENDORED = Path("shared") / "vendor" / "junit" / "JUnit.xsd"
#: where the steering repository keeps it on this machine, for checkouts outside /work
STEERING_COPY = Path("/work") / VENDORED


@functools.cache
def schema_path() -> Path | None:
    # parents[1:]: the checkout's parent first (/work/main -> /work), then up
    # (a worktree in /work/wt/NAME), so any checkout under /work finds it
    candidates = [
        os.environ.get("WSCTL_JUNIT_XSD"),
        *(parent / VENDORED for parent in Path(__file__).resolve().parents[1:]),
        STEERING_COPY,
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@functools.cache
def _schema():
    import xmlschema

    path = schema_path()
    return None if path is None else xmlschema.XMLSchema(str(path))


def schema_or_skip():
    """The schema, or skip the test that is about the schema itself."""
    schema = _schema()
    if schema is None:
        pytest.skip("the published JUnit XSD is not here: shared/vendor/junit/JUnit.xsd or $WSCTL_JUNIT_XSD")
    return schema


def validate(document: str | os.PathLike[str]) -> None:
    """Validate a JUnit document (text or file) when the schema is at hand."""
    schema = _schema()
    if schema is not None:
        schema.validate(str(document))


class Validator:
    """A fixture value with `.validate(document)`: the schema's where it is at hand."""

    validate = staticmethod(validate)
