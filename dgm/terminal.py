"""Printing text a sandbox or a model produced: every character that could drive a terminal is shown, not obeyed.

A terminal obeys C0 controls and ESC (CSI clears the screen, OSC 52 writes the clipboard, OSC 0 the title),
DEL, the C1 controls (U+009B is an 8-bit CSI, U+009D an 8-bit OSC), and bidi controls reorder what the
operator reads. Each becomes a visible escape (ESC -> `\\x1b`, U+202E -> `\\u202e`); lone surrogates (bytes
that did not decode) too, so printing never fails on them. Rich callers wrap the result in `rich.text.Text`
(or `rich.markup.escape`) so `[red]` is not markup either.
"""

from __future__ import annotations

import re

# C0 (tab and newline are decided by `lines`), DEL, C1, the bidi marks, embeddings, overrides and isolates,
# the Unicode line and paragraph separators, and surrogates (what surrogateescape makes of undecodable bytes).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_IN_TEXT = re.compile(f"[{_UNSAFE}]")
_IN_LINE = re.compile(f"[\t\n{_UNSAFE}]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: object, *, lines: bool = True) -> str:
    """`text` with control, bidi and surrogate characters shown as escapes; newlines and tabs kept if `lines`."""
    text = text if isinstance(text, str) else str(text)
    return (_IN_TEXT if lines else _IN_LINE).sub(_visible, text)
