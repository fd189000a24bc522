"""Printing text a sandbox or a model produced: every character that could drive a terminal is shown, not obeyed.

A terminal obeys C0 controls and ESC (CSI clears the screen, OSC 52 writes the clipboard, OSC 0 the title),
DEL, the C1 controls (U+009B is an 8-bit CSI, U+009D an 8-bit OSC), and bidi controls reorder what the
operator reads. Each becomes a visible escape (ESC -> `\\x1b`, U+202E -> `\\u202e`); lone surrogates (bytes
that did not decode) too, so printing never fails on them. Rich callers wrap the result in `rich.text.Text`
(or `rich.markup.escape`) so `[red]` is not markup either.
"""

from __future__ import annotations


def _visible(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# C0 (tab and newline are decided by `lines`), DEL, C1, the bidi marks, embeddings, overrides and isolates,
# the Unicode line and paragraph separators, and surrogates (what surrogateescape makes of undecodable bytes).
_UNSAFE = [*range(0x00, 0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0), 0x061c, 0x200e, 0x200f, 0x2028, 0x2029,
           *range(0x202a, 0x202f), *range(0x2066, 0x206a), *range(0xd800, 0xe000)]
_IN_TEXT = {code: _visible(code) for code in _UNSAFE}  # str.translate: one C-level lookup per character
_IN_LINE = {**_IN_TEXT, 0x09: "\\x09", 0x0a: "\\x0a"}


def inert(text: object, *, lines: bool = True) -> str:
    """`text` with control, bidi and surrogate characters shown as escapes; newlines and tabs kept if `lines`."""
    text = text if isinstance(text, str) else str(text)
    return text.translate(_IN_TEXT if lines else _IN_LINE)
