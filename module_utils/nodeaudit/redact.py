"""One redactor for every string that leaves a node (issue 14, point 4).

Secrets sit in many shapes on a compute node, and the audit quotes all of
them as evidence: qemu argv (keyval ``-drive file=...,password=X``, JSON
``-object {"qom-type":"secret","data":"X"}``), libvirt's QEMU log (the argv
again, as shell text, and QEMU's own messages, which quote an option's whole
value), Ceph ``rbd:pool/img:id=admin:key=X`` strings, URLs with userinfo
(``https://user:X@``, ``iscsi://user%X@``), environment lines
(``LIBVIRT_PASSWORD=X``). This module is the only place that knows them:

* ``is_secret_key(key)``: ``password``/``passwd``/``passphrase``/``secret``/
  ``key``/``token``/... as the key or its last ``-``/``_``/``.`` part
  (``x-password``, ``file.key``, ``auth_key``, ``LIBVIRT_PASSWORD``);
  ``keyid``, ``key-secret`` and ``password-secret`` (QEMU options that *name*
  a secret object) are not secrets;
* ``redact_text(text)``: free text (a log line, an evidence excerpt, a
  reason): ``key=value`` pairs, JSON members (a string, a number, a list or a
  whole object under a secret key, also in truncated JSON), URL userinfo, and
  ``data``/``iv`` near a ``secret`` object;
* ``redact_json(obj)`` / ``redact_keyval(value)`` / ``redact_value(value,
  option)`` / ``redact_argv(argv)``: the structured forms (the parsers call
  these; every other value is then read as free text);
* ``scrub(obj)``: every string of a result (keys kept, values under secret
  keys replaced whatever their type), each also through
  ``textsafe.safe_text``: the module applies it to all it returns.

Pure, standard library only (runs on the nodes). Idempotent:
``redact_text(redact_text(t)) == redact_text(t)``.

>>> redact_text("-drive file=rbd:vms/disk:id=nova:key=AQBxs0Ff==:conf=/etc/ceph/ceph.conf,password=pw1")
'-drive file=rbd:vms/disk:id=nova:key=<redacted>:conf=/etc/ceph/ceph.conf,password=<redacted>'
>>> redact_text('log: {"user": "a", "password": ["x", "y"], "n": 1}')
'log: {"user": "a", "password": "<redacted>", "n": 1}'
>>> redact_text("https://admin:hunter2@10.0.0.1/x iscsi://joe%s3cr3t@host/iqn")
'https://admin:<redacted>@10.0.0.1/x iscsi://joe%<redacted>@host/iqn'
>>> redact_text("-vnc :0,password=on -object secret,id=s0,data=QUJD,keyid=k0")
'-vnc :0,password=on -object secret,id=s0,data=<redacted>,keyid=k0'
"""
import json
import re

from .textsafe import safe_text

REDACTED = "<redacted>"

# The last part of a key (split on - _ .) that marks its value secret.
_SECRET_PARTS = frozenset((
    "password", "passwd", "passphrase", "pwd", "secret", "key", "token", "apikey",
    "credential", "credentials", "privkey",
))
_SECRET_ENDINGS = tuple(sorted(_SECRET_PARTS))
# QEMU options whose value is the *id* of a secret object, not a secret.
_ID_KEYS = frozenset(("key-secret", "password-secret", "passwordid", "keyid", "secretid", "secret-keyring"))
# Only a "secret" object's data/iv are secret (data= elsewhere is not).
_OBJECT_PARTS = frozenset(("data", "iv"))
# ``-vnc :0,password=on``: a flag, not a password.
_BOOL_WORDS = frozenset(("on", "off", "yes", "no", "true", "false", "y", "n"))
_SECRET_QOM = frozenset(("secret", "secret_keyring"))
_SPLIT = re.compile(r"[-_.]")

# key=value in free text: the key is a run of word characters, dots and dashes
# not glued to a preceding one (a key may itself sit inside another value:
# ``a=bpassword=X``). A secret's value runs to the next separator of any of the
# syntaxes that embed it: keyval "," (",," is an escaped comma, part of the
# value), rbd ":" when the next rbd option or the end of QEMU's quote follows,
# space, URL "&;", quotes.
_KEY_EQ = re.compile(r"(?<![\w.\-])([\w.\-]{1,200})=")
_VALUE = re.compile(r"<redacted>|(?:,,|:(?![\w.\-]+=|\s|$)|[^,:\s;&\"'<>])*")
# A JSON member name followed by its value's start.
_JSON_MEMBER = re.compile(r'"((?:[^"\\]|\\.){1,200})"\s*:\s*')
# scheme://userinfo@ : userinfo never holds '/', '@' or whitespace.
_URL_USERINFO = re.compile(r"(?i)([a-z][a-z0-9+.\-]{0,30})://([^@\s\"'<>]{1,512})@")
_SECRET_WORD = re.compile(r"(?i)(?<![\w-])secret(?:_keyring)?(?![\w-])")
_TRIGGER = re.compile(r"[=\"@]")
# Every way a value gets hidden needs one of these in the text: a secret key ends with one of
# _SECRET_PARTS (pass..., pwd, secret, key, token, credential), a secret object says "secret",
# URL userinfo has "@", and a JSON escape (backslash) can spell any of them. IGNORECASE matches
# more than str.lower() folds to (the Kelvin sign for k, among others): a superset, so without a
# match nothing can be hidden and the text is returned as it is (the hot path: most argv values
# and evidence strings). tests/unit/test_redact.py compares both paths on generated text.
_MAYBE_SECRET = re.compile(r"(?i)pass|pwd|secret|key|token|credential|@|\\")


_KEY_CACHE = {}


def is_secret_key(key):
    """Whether the value under ``key`` is a secret (memoised: result keys repeat thousands of times)."""
    hit = _KEY_CACHE.get(key)
    if hit is None:
        hit = _is_secret_key(key)
        if len(_KEY_CACHE) < 4096 and isinstance(key, str):
            _KEY_CACHE[key] = hit
    return hit


def _is_secret_key(key):
    """Whether the value under ``key`` is a secret.

    >>> [is_secret_key(k) for k in ("password", "x-password", "file.key", "LIBVIRT_PASSWORD", "keyid",
    ...                              "key-secret", "keyboard", "key_line", "Token")]
    [True, True, True, True, False, False, False, False, True]
    """
    if not isinstance(key, str):
        return False
    low = key.strip().lower()
    if not low or low in _ID_KEYS:
        return False
    if low in _SECRET_PARTS:
        return True
    # The last part, or a word glued to the end (``LIBVIRT_PASSWORD``, ``file.key``, ``dbpassword``).
    return low.endswith(_SECRET_ENDINGS)


def _hide(key, value, secret_object):
    """Should ``key=value`` (a scalar as text) be hidden?"""
    low = (key or "").strip().lower()
    if not value or value == REDACTED:
        return False
    if is_secret_key(key):
        parts = [p for p in _SPLIT.split(low) if p]
        if parts and parts[-1] in ("password", "passwd") and value.strip().lower() in _BOOL_WORDS:
            return False            # -vnc password=on: a flag
        return value != REDACTED
    return bool(secret_object) and low in _OBJECT_PARTS and value != REDACTED


# ------------------------------------------------------------------ free text

def _json_value_end(text, start):
    """End of the JSON value starting at ``start`` (string, number, literal, array, object; truncated: len)."""
    n = len(text)
    if start >= n:
        return n
    c = text[start]
    if c == '"':
        i = start + 1
        while i < n:
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        return n
    if c in "[{":
        depth = 0
        i = start
        while i < n:
            ch = text[i]
            if ch == '"':
                i = _json_value_end(text, i)
                continue
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return n
    m = re.compile(r"[^,\]}\s]*").match(text, start)
    return m.end()


def _redact_json_members(text, secret_object):
    out = []
    pos = 0
    for m in _JSON_MEMBER.finditer(text):
        if m.start() < pos:
            continue
        name = m.group(1)
        if not (is_secret_key(name) or (secret_object and name.lower() in _OBJECT_PARTS)):
            continue
        vstart = m.end()
        vend = _json_value_end(text, vstart)
        value = text[vstart:vend]
        if value in ('"%s"' % REDACTED,):
            continue
        if value[:1] != '"' and value.strip().lower() in ("true", "false", "null", ""):
            continue
        out.append(text[pos:vstart])
        out.append('"%s"' % REDACTED)
        pos = vend
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


def _redact_urls(text):
    def sub(m):
        scheme, userinfo = m.group(1), m.group(2)
        if userinfo == REDACTED or userinfo.endswith(":" + REDACTED) or userinfo.endswith("%" + REDACTED):
            return m.group(0)
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            return "%s://%s:%s@" % (scheme, user, REDACTED)
        if "%" in userinfo and scheme.lower() == "iscsi":
            # libvirt/QEMU iSCSI URLs: iscsi://user%password@host/...
            return "%s://%s%%%s@" % (scheme, userinfo.split("%", 1)[0], REDACTED)
        # A bare userinfo is often a token (https://TOKEN@host): hidden too.
        return "%s://%s@" % (scheme, REDACTED)
    return _URL_USERINFO.sub(sub, text)


def redact_text(text):
    """Free text with every secret replaced by ``<redacted>`` (see the module docstring)."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    if not _TRIGGER.search(text) or not _MAYBE_SECRET.search(text):
        return text
    return _redact_text_full(text)


def _redact_text_full(text):
    """redact_text without its fast path (tests compare the two)."""
    secret_object = _SECRET_WORD.search(text) is not None
    if '"' in text:
        text = _redact_json_members(text, secret_object)
    if "@" in text:
        text = _redact_urls(text)
    if "=" in text:
        text = _redact_pairs(text, secret_object)
    return text


def _redact_pairs(text, secret_object):
    out = []
    pos = 0
    search = _KEY_EQ.search
    while True:
        m = search(text, pos)
        if m is None:
            break
        key = m.group(1)
        vstart = m.end()
        if is_secret_key(key) or (secret_object and key.lower() in _OBJECT_PARTS):
            vend = _VALUE.match(text, vstart).end()
            value = text[vstart:vend]
            if _hide(key, value.replace(",,", ","), secret_object):
                out.append(text[pos:vstart])
                out.append(REDACTED)
                pos = vend
                continue
        # Not a secret: scan on inside the value (``a=bpassword=X``).
        out.append(text[pos:vstart])
        pos = vstart
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# ----------------------------------------------------------- structured forms

def redact_json(obj, secret_object=False):
    """A JSON value with every value under a secret key replaced (whatever its type); strings as free text.

    >>> redact_json({"qom-type": "secret", "data": "QUJD", "nested": {"token": [1, 2]}, "file": "x"})
    {'qom-type': 'secret', 'data': '<redacted>', 'nested': {'token': '<redacted>'}, 'file': 'x'}
    """
    if isinstance(obj, dict):
        qom = obj.get("qom-type")
        if isinstance(qom, str) and qom in _SECRET_QOM:
            secret_object = True
        out = {}
        for key, val in obj.items():
            if isinstance(key, str) and (is_secret_key(key) or (secret_object and key.lower() in _OBJECT_PARTS)):
                if isinstance(val, (dict, list)) or not _is_flag(key, val):
                    out[key] = REDACTED
                    continue
            out[key] = redact_json(val, secret_object)
        return out
    if isinstance(obj, list):
        return [redact_json(v, secret_object) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def _is_flag(key, val):
    if isinstance(val, bool) or val is None:
        return True
    parts = [p for p in _SPLIT.split(str(key).lower()) if p]
    return bool(parts) and parts[-1] in ("password", "passwd") and isinstance(val, str) \
        and val.strip().lower() in _BOOL_WORDS


def _split_keyval(value):
    """QEMU keyval ``a=b,c=d`` into raw parts (``,,`` is an escaped comma, kept in its part)."""
    if ",," not in value:
        return value.split(",")
    return _split_keyval_slow(value)


def _split_keyval_slow(value):
    """_split_keyval one character at a time (any ``,,``; tests compare the two)."""
    parts = []
    cur = []
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == ",":
            if i + 1 < n and value[i + 1] == ",":
                cur.append(",,")
                i += 2
                continue
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def redact_keyval(value, option=None):
    """QEMU keyval: secret keys' values hidden (``,,`` and ``:`` kept inside a value); the rest as free text.

    >>> redact_keyval("secret,id=sec0,data=XAPibndN+4An,keyid=masterKey0,iv=NiTD9Glo", "-object")
    'secret,id=sec0,data=<redacted>,keyid=masterKey0,iv=<redacted>'
    >>> redact_keyval("file=x,password=a,,b:c")
    'file=x,password=<redacted>'
    """
    parts = _split_keyval(value)
    first = parts[0] if parts else ""
    secret_object = ((option == "-object" and first in _SECRET_QOM)
                     or any(p.replace(" ", "") in ("qom-type=secret", "qom-type=secret_keyring") for p in parts)
                     or (option is None and first in _SECRET_QOM and len(parts) > 1))
    out = []
    for raw in parts:
        key, eq, val = raw.partition("=")
        if eq and _hide(key, val.replace(",,", ","), secret_object):
            out.append(key + "=" + REDACTED)
        else:
            out.append(redact_text(raw))
    return ",".join(out)


def redact_value(value, option=None):
    """One argv value: JSON when it is an object (truncated JSON as free text), keyval otherwise.

    >>> redact_value('{"qom-type":"secret","id":"s","data":"c2VjcmV0"}', "-object")
    '{"qom-type":"secret","id":"s","data":"<redacted>"}'
    >>> redact_value(":0,password=on", "-vnc"), redact_value("port=5900,password=hunter2", "-spice")
    (':0,password=on', 'port=5900,password=<redacted>')
    """
    if not isinstance(value, str):
        value = str(value)
    if not _MAYBE_SECRET.search(value):
        return value
    return _redact_value_full(value, option)


def _redact_value_full(value, option=None):
    """redact_value without its fast path (tests compare the two)."""
    stripped = value.lstrip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except (ValueError, RecursionError):
            obj = None
        if isinstance(obj, dict):
            redacted = redact_json(obj)
            if redacted == obj:
                return value
            return json.dumps(redacted, separators=(",", ":"), ensure_ascii=False)
        return redact_text(value)
    if _SECRET_WORD.search(value):
        # Secret objects first by structure, then whatever else the free text holds.
        return redact_text(redact_keyval(value, option))
    return redact_keyval(value, option)


def redact_argv(argv, takes_value=None):
    """A copy of argv with secrets hidden; ``takes_value(opt, next)`` says whether an option takes the next token.

    Every element is redacted: an option's value structurally (keyval / JSON, knowing the option), any
    other element (``-name``, a lone word, a log line quoted in argv) as free text.

    >>> redact_argv(['qemu', '-object', 'secret,id=s0,data=XAPibnd,keyid=masterKey0,iv=NiTD', '-vnc', ':0,password=on'])
    ['qemu', '-object', 'secret,id=s0,data=<redacted>,keyid=masterKey0,iv=<redacted>', '-vnc', ':0,password=on']
    """
    out = list(argv)
    i = 1
    n = len(out)
    if n:
        out[0] = redact_value(out[0], None)
    while i < n:
        tok = out[i]
        if tok.startswith("-") and len(tok) > 1:
            opt = tok[1:] if tok.startswith("--") else tok
            nxt = out[i + 1] if i + 1 < n else None
            wants = takes_value(opt, nxt) if takes_value else (nxt is not None and not nxt.startswith("-"))
            out[i] = redact_text(tok)
            if wants and nxt is not None:
                out[i + 1] = redact_value(nxt, opt)
                i += 2
                continue
        else:
            out[i] = redact_value(tok, None)
        i += 1
    return out


# ----------------------------------------------------------- whole results

# Anything redact_text or safe_text could change: without one of these a string is left as it is.
_SCRUB_TRIGGER = re.compile("[=\"@\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def scrub(obj, _depth=0):
    """Every string in ``obj`` redacted and made safe (``textsafe.safe_text``); values under secret keys
    hidden whatever their type. Keys stay (made safe). For what a module returns.

    >>> scrub({"env": {"LIBVIRT_PASSWORD": "x"}, "evidence": ["a\\x1b[2J password=pw"], "n": 3})
    {'env': {'LIBVIRT_PASSWORD': '<redacted>'}, 'evidence': ['a\\\\x1b[2J password=<redacted>'], 'n': 3}
    """
    # Hot path (every string of a 1,000-domain result): type() checks, one regex search per string,
    # the key verdicts memoised; only strings holding a trigger character are rewritten.
    kind = type(obj)
    if kind is dict:
        out = {}
        cache = _KEY_CACHE
        for key, val in obj.items():
            skey = key
            if type(key) is str:
                secret = cache.get(key)
                if secret is None:
                    secret = is_secret_key(key)
                if _SCRUB_TRIGGER.search(key):
                    skey = safe_text(key)
                if secret and val is not None and type(val) is not bool and not _is_flag(key, val):
                    out[skey] = REDACTED
                    continue
            vkind = type(val)
            if vkind is str:
                out[skey] = safe_text(redact_text(val)) if _SCRUB_TRIGGER.search(val) else val
            elif vkind is dict or vkind is list or vkind is tuple:
                out[skey] = scrub(val, _depth + 1)
            else:
                out[skey] = val
        return out
    if kind is list or kind is tuple:
        search = _SCRUB_TRIGGER.search
        return [(safe_text(redact_text(v)) if search(v) else v) if type(v) is str else
                (scrub(v, _depth + 1) if type(v) in (dict, list, tuple) else v) for v in obj]
    if kind is str:
        return safe_text(redact_text(obj)) if _SCRUB_TRIGGER.search(obj) else obj
    if isinstance(obj, dict) or isinstance(obj, (list, tuple)) or isinstance(obj, str):
        return scrub(dict(obj) if isinstance(obj, dict) else list(obj) if not isinstance(obj, str) else str(obj))
    return obj
