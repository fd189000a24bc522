"""Hostile text as a sandbox or a model could write it, and the check that printed output obeys none of it."""

from __future__ import annotations

import re

# Each would drive a terminal or mislead its reader if printed raw.
PAYLOADS = {
    "osc52": "\x1b]52;c;ZWNobyBwd25lZAo=\x07",          # write the operator's clipboard
    "osc0": "\x1b]0;owned title\x1b\\",                   # set the window title (ST-terminated)
    "csi": "\x1b[2J\x1b[H",                               # clear the screen, cursor home
    "c1csi": "\x9b2J",                                    # 8-bit CSI
    "c1osc": "\x9d0;c1 title\x9c",                        # 8-bit OSC ... ST
    "bidi": "\u202eevil\u202c \u2066iso\u2069 \u200f",    # right-to-left override, isolate, mark
    "c0": "bell\x07 back\x08 cr\r del\x7f",
}
HOSTILE = " ".join(PAYLOADS.values())
# What each must look like once printed: visible, so the operator sees that something was there.
VISIBLE = ("\\x1b]52;c;", "\\x1b]0;owned title", "\\x1b[2J", "\\x9b2J", "\\x9d0;", "\\u202e", "\\u2066",
           "\\x07", "\\x0d", "\\x7f")
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def assert_inert(out: str, *, visible: tuple[str, ...] = VISIBLE) -> None:
    """No raw control, bidi or surrogate character in `out`, and the payloads' visible forms are there."""
    raw = sorted({hex(ord(c)) for c in RAW.findall(out)})
    assert not raw, f"raw control characters {raw} in:\n{out[-3000:]!r}"
    missing = [v for v in visible if v not in out]
    assert not missing, f"{missing} not shown in:\n{out[-3000:]}"
