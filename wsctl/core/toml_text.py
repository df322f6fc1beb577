"""TOML from elsewhere (profiles, inventories, scenarios, config files,
``--var`` values) parsed in one place, so every way hostile text makes
`tomllib` fail ends the same way: `InvalidInput` (exit 8) naming the file.

`tomllib.loads` raises more than `TOMLDecodeError`: a plain ValueError for an
integer of more digits than ``int()`` converts (4300), RecursionError for
arrays or inline tables nested past the interpreter's limit; and bytes may
not be UTF-8.  Each caller catching its own subset left one of them an
internal error somewhere.  Pure: text in, data out (core does no I/O).
"""

from __future__ import annotations

import tomllib
from typing import Any

from wsctl.core.errors import InvalidInput


class TomlSyntaxError(InvalidInput):
    """The text is not TOML at all, as opposed to TOML past what can be read
    (too deep, an integer too long): ``--var`` takes the one for plain text."""


def parse_toml(text: str | bytes, source: str) -> dict[str, Any]:
    """The TOML document in ``text`` (bytes must be UTF-8); InvalidInput naming ``source`` otherwise."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlSyntaxError(f"{source}: not valid TOML: {str(exc)[:200]}") from None
    except ValueError as exc:  # not a TOMLDecodeError: an integer of more digits than int() converts
        # "... value has 5000 digits; use sys.set_int_max_str_digits() ...": advice for Python code, not for a user
        why = str(exc).partition("; use sys.")[0]
        raise InvalidInput(f"{source}: not valid TOML: {why[:200]}") from None
    except RecursionError:
        raise InvalidInput(f"{source}: not valid TOML: arrays or tables nested too deeply") from None
