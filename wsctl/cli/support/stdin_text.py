"""Text read from stdin, checked: Python decodes a pipe with ``surrogateescape``,
so bytes that are not UTF-8 arrive as lone surrogates and fail much later (as
an internal error, when the message is encoded to be sent).  They are refused
here instead, as the invalid input they are (exit 8), naming the first bad byte."""

from __future__ import annotations

from wsctl.core.errors import InvalidInput


def checked_text(text: str, source: str = "stdin") -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        byte = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"{bad!r}"
        raise InvalidInput(f"{source} is not UTF-8 text ({byte} at character {exc.start})") from None
    return text
