"""JSON Schema patterns for the text rules of request values, built from the same tests the
validators apply, so that the OpenAPI document and the server agree character for character.

Patterns are written for both dialects a reader may use: Python's `re` (the validators, and
schemathesis) and ECMA-262 with Unicode semantics (JSON Schema): characters appear literally
rather than as `\\u` escapes, classes list explicit ranges (no `\\d`, `\\s` or `.`, whose
meaning differs between the two), and only `\\`, `]`, `[`, `^` and `-` are escaped.
"""

from __future__ import annotations

import re
from functools import cache

_MAX_CODE_POINT = 0x10FFFF
_CLASS_SPECIALS = frozenset("\\]^-[")


def _char(c: str) -> str:
    return "\\" + c if c in _CLASS_SPECIALS else c


def _ranges(codes: list[int]) -> str:
    """The body of a character class holding exactly `codes` (ascending)."""
    parts: list[str] = []
    start = prev = codes[0]
    for code in [*codes[1:], -1]:
        if code != prev + 1:
            first, last = _char(chr(start)), _char(chr(prev))
            parts.append(first if start == prev else f"{first}-{last}")
            start = code
        prev = code
    return "".join(parts)


@cache
def _classes() -> tuple[str, str]:
    """(printable, white space) as character classes, by the very tests `check_id` uses:
    `str.isprintable` and `str.strip`'s `str.isspace`."""
    printable, space = [], []
    for code in range(_MAX_CODE_POINT + 1):
        c = chr(code)
        if c.isprintable():
            printable.append(code)
        if c.isspace():
            space.append(code)
    return f"[{_ranges(printable)}]", f"[{_ranges(space)}]"


def white_space() -> str:
    """A character class of what `str.strip()` removes."""
    return _classes()[1]


@cache
def id_pattern() -> str:
    """What `records.check_id` accepts, but for the length (a `maxLength` beside it):
    optional white space, then printable characters starting and ending with one that is
    not the space (so it is what stripping leaves), not `.` or `..`, then optional white
    space. The reserved prefix `\\x00` is a control character, so no match starts with it.
    The printable class appears once (a generator such as hypothesis pays for each class
    it reads, by its size): the space is kept off the ends by a look-ahead and -behind."""
    printable, space = _classes()
    dots = rf"(?!\.\.?{space}*$)"
    return f"^{space}*{dots}(?! ){printable}(?:{printable}*(?<! ))?{space}*$"


def compiled(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled for matching a whole value (`fullmatch`, so Python's `$` does not
    also match before a final line break)."""
    return re.compile(pattern.removeprefix("^").removesuffix("$"))
