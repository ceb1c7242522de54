"""One text-safety layer for every string that comes from a node.

A node's text (domain names, file names, QEMU log lines, argv elements) may
hold undecodable bytes (surrogate escapes from ``surrogateescape``), control
characters (ESC, BEL, CR, NUL) or newlines. Before any output (JSON, JUnit,
Markdown, Prometheus, the terminal) such text passes through ``safe_text``:
the result encodes as UTF-8, holds no C0/C1 control character but the ones
the caller allows, and says what was there (``\\x1b``, ``\\r``) instead of
dropping it silently. Pure, standard library only (runs on the nodes).

>>> safe_text("lb01\\x1b[31m")
'lb01\\\\x1b[31m'
>>> safe_text("a\\nb"), safe_text("a\\nb", keep_newlines=True)
('a\\\\nb', 'a\\nb')
>>> safe_text(b"caf\\xc3\\xa9\\xff".decode("utf-8", "surrogateescape"))
'caf\\xe9\\\\xff'
>>> safe_text(None) is None
True
"""
import re

# C0 controls but TAB, DEL, C1 controls, and the Unicode line/paragraph
# separators that some terminals and Markdown renderers treat as newlines.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_KEEP_NL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Lone surrogates: what surrogateescape made of undecodable bytes (U+DC80..U+DCFF),
# or any other unpaired surrogate that cannot be encoded.
_SURROGATE = re.compile("[\ud800-\udfff]")
# Anything safe_text would change (a control character, a line separator, a lone surrogate): a string
# without one is returned as it is, so walkers over large trees search once and call safe_text rarely.
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape_control(match):
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    return ("\\x%02x" if ord(char) < 0x100 else "\\u%04x") % ord(char)


def _escape_surrogate(match):
    code = ord(match.group(0))
    if 0xDC80 <= code <= 0xDCFF:
        return "\\x%02x" % (code - 0xDC00)
    return "\\u%04x" % code


def safe_text(text, keep_newlines=False):
    """``text`` as safe, one-line (unless ``keep_newlines``) UTF-8-encodable text; ``None`` stays ``None``."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    if _SURROGATE.search(text):
        text = _SURROGATE.sub(_escape_surrogate, text)
    pattern = _CONTROL_KEEP_NL if keep_newlines else _CONTROL
    if pattern.search(text):
        text = pattern.sub(_escape_control, text)
    return text


# The longest excerpt of node text in a result (evidence, argv elements), before the "...[N more chars]" marker.
EXCERPT = 300


def excerpt(text, limit=EXCERPT):
    """``safe_text`` cut to ``limit`` characters, saying how much was cut.

    >>> excerpt("x" * 12, 5)
    'xxxxx...[7 more chars]'
    """
    text = "" if text is None else safe_text(text)
    return text if len(text) <= limit else text[:limit] + "...[%d more chars]" % (len(text) - limit)


def is_ascii_digits(text):
    """True for a non-empty run of ASCII digits only (``str.isdigit`` also takes ``'²'``).

    >>> is_ascii_digits("42"), is_ascii_digits("\\u00b2"), is_ascii_digits("")
    (True, False, False)
    """
    return bool(text) and text.isascii() and text.isdigit()


def ascii_int(text, max_digits=18):
    """``int(text)`` for a run of at most ``max_digits`` ASCII digits, else None (never raises).

    ``int()`` takes ``'\u00b2'`` as 2 and refuses more than 4,300 digits with a ValueError; a node's
    numbers (pids, fds, sizes) are neither.

    >>> ascii_int("42"), ascii_int("\u00b2"), ascii_int("9" * 5000), ascii_int(None), ascii_int(7)
    (42, None, None, None, 7)
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str) or len(text) > max_digits or not is_ascii_digits(text):
        return None
    return int(text)
