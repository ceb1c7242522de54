"""Read a ``/etc/default/*`` file exactly as ``. FILE`` in ``/bin/sh`` (dash) would.

The Ubuntu qemu-kvm boot job does::

    [ -r /etc/default/qemu-kvm ] && . /etc/default/qemu-kvm
    if [ "$VHOST_NET_ENABLED" = "1" ]; then modprobe -b vhost_net || true; fi

so the value that matters is the string the shell holds after sourcing, byte
for byte: ``1\\r`` (a CRLF file) is not ``1``, ``yes`` is not ``1``.

Pure: text in, plain data out. Only :class:`ShellSyntaxError` escapes, for a
file that ``/bin/sh`` itself would fail to source (unbalanced quotes, a
``${`` / ``$(`` / backquote left open, ``fi`` without ``if``, an assignment to
a readonly variable, ``export 1A=2``).

What is evaluated: simple assignments (several per line, ``;``-separated),
``export`` / ``readonly`` (with and without values), ``unset``, quoting
(single, double with ``\\" \\\\ \\$ \\``` escapes, backslash), ``$NAME`` and
``${NAME}`` from earlier assignments, line joining with a trailing ``\\``,
comments at a word start. Everything else is reported, never guessed:

* a command (``AND = 'x'``, ``KEY=a b`` which runs ``b`` with KEY in its
  environment only) goes to ``unparsed`` with a reason;
* a value decided at run time (``$(...)``, backquotes, ``$VAR`` not set earlier
  in the file, ``$1``, ``${VAR:-x}``, ``$((...))``, ``~``) is computed as the
  empty string for that part and its name is listed in ``uncertain``;
* an assignment that may or may not run (inside ``if``/``case``/loops/
  functions/subshells, or on a line with ``&&``, ``||``, ``|``, ``&`` or a
  redirection) is recorded in ``assignments`` and ``vars`` as if it ran, and
  listed in ``uncertain``. Consumers must read ``uncertain`` before ``vars``.
"""
import bisect
import re

from ..errors import ShellSyntaxError

__all__ = ["parse_shell_assignments"]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_SPECIAL_PARAMS = frozenset("@*#?$!-0123456789")
_BLANKS = " \t"
_WORD_END = frozenset(" \t\n;&|()<>")
_OPS = (";;", "&&", "||", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">")
_REDIRS = frozenset(("<<-", "<<", ">>", "<&", ">&", "<>", ">|", "<", ">"))
_OPENERS = frozenset(("if", "while", "until", "for", "case", "{"))
_CLOSERS = {"fi": ("if",), "done": ("while", "until", "for"), "esac": ("case",), "}": ("{",)}
_MIDDLE = frozenset(("then", "else", "elif", "do", "!"))
_MIDDLE_OF = {"then": ("if",), "else": ("if",), "elif": ("if",), "do": ("while", "until", "for")}
# Special built-ins: assignments written before them stay in the shell (POSIX, dash).
_SPECIAL_BUILTINS = frozenset((":", ".", "break", "continue", "eval", "exec", "exit", "export", "readonly",
                               "return", "set", "shift", "times", "trap", "unset"))
_CONTINUING = frozenset(("&&", "||", "|"))
_NEEDS_COMMAND = frozenset((";", ";;", "&", "&&", "||", "|"))
_MAX_ITEMS = 100000
_DQ_RUN = re.compile(r"[^\"\\\\$`]+")
_PLAIN_RUN = re.compile(r"[^ \t\n;&|()<>\\'\"$`]+")


class _Word(object):
    """One shell word: parts are [kind, value, quoted]; kind is lit/var/special/param/cmd/arith."""

    __slots__ = ("parts", "line", "start", "end")

    def __init__(self, line, start):
        self.parts = []
        self.line = line
        self.start = start
        self.end = start

    def add_lit(self, text, quoted):
        if self.parts and self.parts[-1][0] == "lit" and self.parts[-1][2] == quoted:
            self.parts[-1][1] += text
        else:
            self.parts.append(["lit", text, quoted])

    def plain(self):
        """The word's text when it is one unquoted literal (a reserved word candidate), else None."""
        if len(self.parts) == 1 and self.parts[0][0] == "lit" and not self.parts[0][2]:
            return self.parts[0][1]
        return None

    def assignment(self):
        """(name, value parts) when the word has the form NAME=..., else None."""
        if not self.parts or self.parts[0][0] != "lit" or self.parts[0][2]:
            return None
        match = _ASSIGN_RE.match(self.parts[0][1])
        if not match:
            return None
        rest = self.parts[0][1][match.end():]
        parts = ([["lit", rest, False]] if rest else []) + [list(p) for p in self.parts[1:]]
        return match.group(1), parts


class _Lexer(object):
    """Tokens of sh text: ("word", _Word), ("op", text, line), ("nl", line, end_line)."""

    def __init__(self, text):
        self.s = text
        self.n = len(text)
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, pos):
        return bisect.bisect_right(self.starts, pos)

    def error(self, message, pos):
        line = self.line_of(pos)
        return ShellSyntaxError("%s (opened on line %d)" % (message, line), line=line)

    def tokens(self):
        s, n = self.s, self.n
        i = 0
        heredocs = []       # [strip_tabs, delimiter or None]
        want_delim = None
        while i < n:
            c = s[i]
            if c in _BLANKS:
                i += 1
            elif c == "\\" and s.startswith("\\\n", i):
                i += 2
            elif c == "#":
                j = s.find("\n", i)
                i = n if j < 0 else j
            elif c == "\n":
                line = self.line_of(i)
                i += 1
                for strip_tabs, delim, quoted in heredocs:
                    i = self._skip_heredoc(i, delim, strip_tabs, quoted)
                heredocs = []
                want_delim = None
                yield ("nl", line, self.line_of(max(i - 1, 0)))
            elif c in ";&|()<>":
                # Operator characters may be split by a backslash-newline (`>\<newline>>` is `>>`).
                chars, ends, k = [], [], i
                while k < n and len(chars) < 3:
                    if s.startswith("\\\n", k):
                        k += 2
                        continue
                    chars.append(s[k])
                    k += 1
                    ends.append(k)
                peek = "".join(chars)
                for op in _OPS:
                    if peek.startswith(op):
                        break
                line = self.line_of(i)
                if op in ("<<", "<<-"):
                    want_delim = [op == "<<-", None, False]
                    heredocs.append(want_delim)
                yield ("op", op, line, i)
                i = ends[len(op) - 1]
            else:
                word, i = self._word(i)
                if want_delim is not None:
                    want_delim[1] = "".join(p[1] for p in word.parts if p[0] == "lit") or s[word.start:word.end]
                    want_delim[2] = any(p[2] for p in word.parts) or "\\" in s[word.start:word.end]
                    want_delim = None
                yield ("word", word)
        if heredocs:
            return
        yield ("nl", self.line_of(max(n - 1, 0)), self.line_of(max(n - 1, 0)))

    def _skip_heredoc(self, i, delim, strip_tabs, quoted):
        s, n = self.s, self.n
        while i < n:
            j = s.find("\n", i)
            while not quoted and j > 0 and s[j - 1] == "\\" and j + 1 < n:
                j = s.find("\n", j + 1)     # unquoted delimiter: backslash-newline joins body lines
            end = n if j < 0 else j
            body = s[i:end]
            if strip_tabs:
                body = body.lstrip("\t")
            i = end + 1 if j >= 0 else n
            if delim is not None and body == delim:
                break
        return i

    def _word(self, i):
        s, n = self.s, self.n
        word = _Word(self.line_of(i), i)
        while i < n:
            c = s[i]
            if c in _WORD_END:
                break
            if c == "\\":
                if i + 1 >= n:
                    word.add_lit("\\", False)
                    i += 1
                elif s[i + 1] == "\n":
                    i += 2
                else:
                    word.add_lit(s[i + 1], True)
                    i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise self.error("unterminated single quote", i)
                word.add_lit(s[i + 1:j], True)
                i = j + 1
            elif c == '"':
                i = self._dquote(i, word)
            elif c == "$":
                i = self._dollar(i, word, False)
            elif c == "`":
                j = self._skip_backquote(i)
                word.parts.append(["cmd", s[i:j], False])
                i = j
            else:
                j = _PLAIN_RUN.match(s, i).end()
                word.add_lit(s[i:j], False)
                i = j
        word.end = i
        return word, i

    def _dquote(self, i, word):
        s, n = self.s, self.n
        start = i
        i += 1
        # An empty "" still makes the word non-empty and quoted.
        word.add_lit("", True)
        while True:
            if i >= n:
                raise self.error("unterminated double quote", start)
            c = s[i]
            if c == '"':
                return i + 1
            if c == "\\" and i + 1 < n and s[i + 1] in '$`"\\\n':
                if s[i + 1] != "\n":
                    word.add_lit(s[i + 1], True)
                i += 2
            elif c == "$":
                i = self._dollar(i, word, True)
            elif c == "`":
                j = self._skip_backquote(i)
                word.parts.append(["cmd", s[i:j], True])
                i = j
            elif c == "\\":
                word.add_lit(c, True)       # `\x` in double quotes keeps the backslash
                i += 1
            else:
                j = _DQ_RUN.match(s, i).end()
                word.add_lit(s[i:j], True)
                i = j

    def _dollar(self, i, word, quoted):
        s, n = self.s, self.n
        nxt = s[i + 1] if i + 1 < n else ""
        if nxt == "{":
            j = self._skip_braces(i + 1)
            inner = s[i + 2:j - 1]
            if _NAME_RE.match(inner):
                word.parts.append(["var", inner, quoted])
            elif len(inner) == 1 and inner in _SPECIAL_PARAMS or inner.isdigit():
                word.parts.append(["special", s[i:j], quoted])
            else:
                word.parts.append(["param", s[i:j], quoted])
            return j
        if nxt == "(":
            j = self._skip_parens(i + 1)
            kind = "arith" if s.startswith("$((", i) else "cmd"
            word.parts.append([kind, s[i:j], quoted])
            return j
        if nxt and nxt in _NAME_START:
            j = i + 1
            while j < n and s[j] in _NAME_CHARS:
                j += 1
            word.parts.append(["var", s[i + 1:j], quoted])
            return j
        if nxt and nxt in _SPECIAL_PARAMS:
            word.parts.append(["special", s[i:i + 2], quoted])
            return i + 2
        word.add_lit("$", quoted)
        return i + 1

    def _skip_backquote(self, i):
        s, n = self.s, self.n
        j = i + 1
        while j < n:
            if s[j] == "\\":
                j += 2
            elif s[j] == "`":
                return j + 1
            else:
                j += 1
        raise self.error("unterminated backquote (`) command substitution", i)

    def _skip_quoted(self, j):
        """Index after the quoted string or backquote starting at j."""
        c = self.s[j]
        if c == "'":
            k = self.s.find("'", j + 1)
            if k < 0:
                raise self.error("unterminated single quote", j)
            return k + 1
        if c == '"':
            return self._dquote(j, _Word(0, j))
        return self._skip_backquote(j)

    def _skip_braces(self, j):
        """s[j] is the '{' of '${': index after the matching '}'."""
        return self._skip_nested(j, "{", "}", "missing '}' of ${...}")

    def _skip_parens(self, j):
        """s[j] is the '(' of '$(' or '$((': index after the matching ')'."""
        return self._skip_nested(j, "(", ")", "unterminated $( command substitution")

    def _skip_nested(self, j, opener, closer, unterminated):
        """s[j] is ``opener``: index after its matching ``closer``.

        Backslash escapes, quotes and backquotes are skipped whole, and so is a ``$(...)`` or
        ``${...}`` inside (``$(echo ${x:-)})``: that ``)`` belongs to the parameter).
        """
        s, n = self.s, self.n
        depth = 0
        k = j
        while k < n:
            c = s[k]
            if c == "\\":
                k += 2
                continue
            if c in "'\"`":
                k = self._skip_quoted(k)
                continue
            if c == "$" and k + 1 < n and s[k + 1] in "({" and s[k + 1] != opener:
                k = self._skip_nested(k + 1, s[k + 1], ")" if s[k + 1] == "(" else "}",
                                      "unterminated $( command substitution" if s[k + 1] == "(" else
                                      "missing '}' of ${...}")
                continue
            if c == opener:
                depth += 1
            elif c == closer:
                depth -= 1
                if depth == 0:
                    return k + 1
            k += 1
        raise self.error(unterminated, j - 1)


def _logical_lines(lexer):
    """Group tokens into logical lines: (items, first_line, last_line).

    A line ending in ``&&``, ``||`` or ``|`` goes on with the next one, as in sh.
    """
    items = []
    first = None
    for tok in lexer.tokens():
        if tok[0] == "nl":
            if items and not (items[-1][0] == "op" and items[-1][1] in _CONTINUING):
                yield items, first, tok[2]
                items = []
                first = None
            continue
        if first is None:
            first = tok[1].line if tok[0] == "word" else tok[2]
        items.append(tok)
    if items:
        raise ShellSyntaxError('syntax error: end of file unexpected after "%s"' % items[-1][1], line=first)


def _unexpected(op, line):
    return ShellSyntaxError('syntax error: "%s" unexpected' % op, line=line)


def _segments(items, in_case):
    """Split a logical line at control operators: [(words, separator_after, redirected, lead)].

    ``lead`` is True when the command starts with a redirection (no reserved words then).

    Raises ShellSyntaxError where sh would: an operator with no command before
    it, a redirection with no target, ``(`` after a word that is not ``name()``.
    """
    segments = []
    words = []
    redirected = False
    skip_next = False
    previous = None
    lead = False
    for tok in items:
        if tok[0] == "word":
            if skip_next:
                skip_next = False
            else:
                words.append(tok[1])
            continue
        op, line = tok[1], tok[2]
        if skip_next:
            raise _unexpected(op, line)
        if op in _REDIRS:
            if words and words[-1].end == tok[3] and (words[-1].plain() or "").isdigit():
                words.pop()         # an IO number: `2>file`
            if not words and not redirected:
                lead = True
            redirected = True
            skip_next = True
            continue
        if op in _NEEDS_COMMAND and not words and not redirected and previous != ")":
            if not (op == ";;" and in_case):
                raise _unexpected(op, line)
        if op == ";;" and not in_case:
            raise _unexpected(op, line)
        if op == "(" and words and not (len(words) == 1 and _NAME_RE.match(words[0].plain() or "")):
            raise _unexpected(op, line)
        segments.append((words, op, redirected, lead))
        words = []
        redirected = False
        lead = False
        previous = op
    if skip_next:
        raise ShellSyntaxError("syntax error: redirection without a target", line=items[-1][2])
    segments.append((words, None, redirected, lead))
    for index, (words, op, _r, _l) in enumerate(segments[:-1]):
        if op == "(" and words and (segments[index + 1][0] or segments[index + 1][1] != ")"):
            raise _unexpected("(", words[0].line)
    return segments


class _State(object):
    def __init__(self):
        self.vars = {}
        self.assignments = []
        self.unparsed = []
        self.uncertain = {}
        self.exported = set()
        self.readonly = set()
        self.unset = set()
        self.blocks = []        # [keyword, line]


def _expand(parts, state, exporting):
    """Value of an assignment's right-hand side, and the reasons it is uncertain."""
    out = []
    reasons = []
    for index, (kind, value, quoted) in enumerate(parts):
        if kind == "lit":
            if index == 0 and not quoted and value.startswith("~"):
                reasons.append("tilde expansion %r depends on the user's home directory" % value.split("/")[0])
            out.append(value)
        elif kind == "var":
            if value in state.vars:
                got = state.vars[value]
                if value in state.uncertain:
                    reasons.append("uses $%s, which is uncertain (%s)" % (value, state.uncertain[value]))
                if exporting and not quoted and any(ch in got for ch in " \t\n"):
                    reasons.append("unquoted $%s contains blanks: dash before 0.5.11 splits `export` arguments"
                                   % value)
            elif value in state.unset:
                got = ""
            else:
                got = ""
                reasons.append("$%s is not set earlier in the file: it comes from the environment of the "
                               "shell that sources it" % value)
            out.append(got)
        elif kind == "special":
            reasons.append("%s is a special parameter set by the shell that sources the file" % value)
        elif kind == "param":
            reasons.append("parameter expansion %s is not evaluated" % value)
        elif kind == "arith":
            reasons.append("arithmetic expansion %s is not evaluated" % value)
        else:
            reasons.append("command substitution %s runs when the file is sourced" % value)
    return "".join(out), reasons


def _raw(lines, first, last):
    return "\n".join(lines[first - 1:last])


def _assign(state, name, parts, word, raw, exported, conditional, exporting=False):
    if name in state.readonly:
        if conditional:
            state.uncertain[name] = "line %d may assign readonly %s (/bin/sh would stop sourcing)" % (word.line, name)
            return
        raise ShellSyntaxError("%s: is read only: /bin/sh stops sourcing the file here" % name, line=word.line)
    value, reasons = _expand(parts, state, exporting)
    if conditional:
        reasons.append("line %d: %s" % (word.line, conditional))
    state.vars[name] = value
    state.unset.discard(name)
    if exported:
        state.exported.add(name)
    if reasons:
        state.uncertain[name] = "; ".join(reasons)
    else:
        state.uncertain.pop(name, None)
    if len(state.assignments) < _MAX_ITEMS:
        # span: where the assignment word sits in the text, so the fix (library/vhost_net_config.py)
        # can replace that one word and keep every other byte.
        state.assignments.append({"name": name, "value": value, "line": word.line, "raw": raw,
                                  "exported": name in state.exported, "span": [word.start, word.end]})


def _static(word, state):
    """The word's text when it is known without run-time input (no uncertain expansion), else None."""
    value, reasons = _expand([list(p) for p in word.parts], state, False)
    if reasons:
        return None
    if any(p[0] != "lit" for p in word.parts) and not all(p[2] for p in word.parts if p[0] != "lit"):
        # An unquoted expansion is field-split and globbed: only plain words are safe.
        if any(ch in value for ch in " \t\n*?["):
            return None
    return value


def _builtin_args(state, cmd, args, raw, conditional, reasons, lexer):
    """export / readonly / unset arguments."""
    for arg in args:
        shown = lexer.s[arg.start:arg.end]
        assignment = arg.assignment() if cmd != "unset" else None
        if assignment is not None:
            name, parts = assignment
            _assign(state, name, parts, arg, raw, cmd == "export", conditional, exporting=True)
            if cmd == "readonly" and not conditional:
                state.readonly.add(name)
            continue
        text = _static(arg, state)
        if text is None:
            reasons.append("%s %s: argument decided at run time, not evaluated" % (cmd, shown))
            for match in _ASSIGN_RE.finditer(shown):
                state.uncertain[match.group(1)] = "line %d: `%s %s` may assign it" % (arg.line, cmd, shown)
            continue
        if text == "--" or text in (("-v", "-f") if cmd == "unset" else ("-p",)):
            continue
        if text.startswith("-") and len(text) > 1:
            if not conditional:
                raise ShellSyntaxError("%s: illegal option %s: /bin/sh stops sourcing the file here"
                                       % (cmd, text), line=arg.line)
            reasons.append("%s %s: illegal option" % (cmd, shown))
            continue
        name, sep, value = text.partition("=")
        if not _NAME_RE.match(name):
            if not conditional:
                raise ShellSyntaxError("%s: %s: bad variable name: /bin/sh stops sourcing the file here"
                                       % (cmd, text), line=arg.line)
            reasons.append("%s %s: bad variable name" % (cmd, shown))
        elif cmd == "unset":
            if conditional:
                state.uncertain[name] = "line %d may unset %s: %s" % (arg.line, name, conditional)
                continue
            if name in state.readonly:
                raise ShellSyntaxError("unset: %s: is read only: /bin/sh stops sourcing" % name, line=arg.line)
            state.vars.pop(name, None)
            state.uncertain.pop(name, None)
            state.unset.add(name)
            reasons.append("unset %s (evaluated: %s is unset from here on)" % (name, name))
        elif sep:
            _assign(state, name, [["lit", value, True]], arg, raw, cmd == "export", conditional)
            if cmd == "readonly" and not conditional:
                state.readonly.add(name)
        elif cmd == "export":
            state.exported.add(name)
        elif not conditional:
            state.readonly.add(name)


def _may_vanish(words, state):
    """True when every word is an unquoted expansion that may expand to nothing."""
    for word in words:
        if any(p[0] == "lit" and (p[2] or p[1]) for p in word.parts) or any(p[2] for p in word.parts):
            return False
        value, reasons = _expand([list(p) for p in word.parts], state, False)
        if not reasons and value.strip(" \t\n"):
            return False
    return True


def _command(state, words, raw, conditional, reasons, lexer):
    """Evaluate one simple command. Returns "stop" when the sourcing ends here."""
    prefix = []
    for word in words:
        assignment = word.assignment()
        if assignment is None:
            break
        prefix.append((word, assignment))
    rest = words[len(prefix):]
    if not rest:
        for word, (name, parts) in prefix:
            _assign(state, name, parts, word, raw, False, conditional)
        return None
    first = rest[0]
    cmd = _static(first, state)
    cmd_text = lexer.s[first.start:first.end]
    if prefix and _may_vanish(rest, state):
        why = "`%s` may expand to nothing, and then the assignments stay in the shell" % \
            lexer.s[rest[0].start:rest[-1].end]
        for word, (name, parts) in prefix:
            _assign(state, name, parts, word, raw, False, conditional or why)
        reasons.append(why)
        return None
    if cmd is None:
        reasons.append("command `%s` is decided at run time, not evaluated" % cmd_text)
        for word, (name, _parts) in prefix:
            state.uncertain[name] = "line %d: `%s` may keep it (command decided at run time)" % (word.line, cmd_text)
        for word in rest[1:]:
            for match in _ASSIGN_RE.finditer(lexer.s[word.start:word.end]):
                state.uncertain[match.group(1)] = "line %d: `%s` may assign it" % (word.line, cmd_text)
        return None
    if cmd in _SPECIAL_BUILTINS:
        # POSIX / dash: assignments before a special built-in stay in the shell.
        for word, (name, parts) in prefix:
            _assign(state, name, parts, word, raw, False, conditional)
        if cmd in ("export", "readonly", "unset"):
            _builtin_args(state, cmd, rest[1:], raw, conditional, reasons, lexer)
            return None
        if cmd == ":":
            return None
        if cmd in ("return", "exit") and not conditional:
            reasons.append("`%s` ends the sourcing here: later lines are not run" % cmd)
            return "stop"
        if cmd in ("eval", "."):
            reasons.append("`%s` may set variables this parser cannot see" % cmd_text)
            for word in rest[1:]:
                for match in _ASSIGN_RE.finditer(lexer.s[word.start:word.end]):
                    state.uncertain[match.group(1)] = "line %d: `%s` may assign it" % (word.line, cmd_text)
            return None
        reasons.append("special built-in `%s` not evaluated" % cmd_text)
        return None
    if cmd == "read":
        for word in rest[1:]:
            text = word.plain()
            if text is not None and _NAME_RE.match(text):
                state.uncertain[text] = "line %d: `read` sets it at run time" % word.line
    if prefix:
        names = ", ".join(name for _w, (name, _p) in prefix)
        reasons.append("`%s %s` runs command `%s` with %s in its environment only: not a shell assignment"
                       % (lexer.s[prefix[0][0].start:prefix[-1][0].end], cmd_text, cmd_text, names))
    elif len(rest) > 1 and lexer.s[rest[1].start:rest[1].end].startswith("=") and _NAME_RE.match(cmd):
        reasons.append("command `%s`: an assignment has no blanks around `=`" % cmd_text)
    else:
        reasons.append("command `%s` is not evaluated" % cmd_text)
    return None


def _line(state, items, first, last, lines, lexer):
    raw = _raw(lines, first, last)
    in_case = (bool(state.blocks) and state.blocks[-1][0] == "case") or any(
        t[0] == "word" and t[1].plain() == "case" for t in items)
    segments = _segments(items, in_case)
    simple = all(sep in (";", None) and not redirected for _w, sep, redirected, _l in segments)
    reasons = []
    if not simple:
        ops = sorted(set(t[1] for t in items if t[0] == "op" and t[1] != ";"))
        reasons.append("not a simple assignment (%s): its assignments may not take effect"
                       % " ".join("`%s`" % o for o in ops))
    stop = None
    for words, sep, _redirected, lead in segments:
        top = state.blocks[-1][0] if state.blocks else None
        if top == "case" and sep == ")":
            words = []          # a case pattern
        while words and not lead:
            kw = words[0].plain()
            if kw in _OPENERS:
                state.blocks.append([kw, words[0].line])
                reasons.append("compound command `%s`: its condition is not evaluated" % kw)
                words = words[1:]
                if kw in ("for", "case"):
                    words = []
            elif kw in _CLOSERS:
                if not state.blocks or state.blocks[-1][0] not in _CLOSERS[kw]:
                    raise _unexpected(kw, words[0].line)
                state.blocks.pop()
                words = words[1:]
            elif kw == "in":
                raise _unexpected(kw, words[0].line)
            elif kw in _MIDDLE:
                if kw != "!" and (not state.blocks or state.blocks[-1][0] not in _MIDDLE_OF[kw]):
                    raise _unexpected(kw, words[0].line)
                words = words[1:]
            else:
                break
        conditional = None
        if state.blocks:
            conditional = "inside `%s` (line %d): may or may not run" % tuple(state.blocks[-1])
        elif not simple:
            conditional = "on a line with shell operators: may not take effect"
        if words:
            stop = _command(state, words, raw, conditional, reasons, lexer)
            if stop:
                break
        if sep == "(" and top != "case":
            state.blocks.append(["(", first])
        elif sep == ")" and top != "case":
            if not state.blocks or state.blocks[-1][0] != "(":
                raise _unexpected(")", first)
            state.blocks.pop()
    if reasons and len(state.unparsed) < _MAX_ITEMS:
        state.unparsed.append({"line": first, "raw": raw, "reason": "; ".join(reasons)})
    return stop


def parse_shell_assignments(text):
    """Variables a ``/etc/default/*`` file sets when ``/bin/sh`` sources it.

    Sample input::

        # To load the vhost_net module ... set VHOST_NET_ENABLED to 1.
        export KSM_ENABLED=AUTO
        VHOST_NET_ENABLED=1 # comment
        KVM_NESTED=" nested=$KSM_ENABLED"

    Returns ``{"vars", "assignments", "unparsed", "uncertain"}`` (see
    docs/DESIGN.md). Raises :class:`ShellSyntaxError` when ``/bin/sh`` would
    fail to source the text (its ``line`` is where the quote etc. opened).

    >>> r = parse_shell_assignments('export KSM_ENABLED=AUTO\\n'
    ...                             'VHOST_NET_ENABLED=1 # c\\nKVM_NESTED=" n=$KSM_ENABLED"\\n')
    >>> r["vars"]
    {'KSM_ENABLED': 'AUTO', 'VHOST_NET_ENABLED': '1', 'KVM_NESTED': ' n=AUTO'}
    >>> r["assignments"][0]
    {'name': 'KSM_ENABLED', 'value': 'AUTO', 'line': 1, 'raw': 'export KSM_ENABLED=AUTO', 'exported': True, 'span': [7, 23]}
    >>> parse_shell_assignments('VHOST_NET_ENABLED=1\\r\\n')["vars"]["VHOST_NET_ENABLED"]
    '1\\r'
    >>> r = parse_shell_assignments("A=$(cat /x)\\nKEY=a b\\n")
    >>> r["vars"], sorted(r["uncertain"]), r["unparsed"][0]["line"]
    ({'A': ''}, ['A'], 2)
    >>> try:
    ...     parse_shell_assignments("A=1\\nB='open\\n\\nC=2\\n")
    ... except ShellSyntaxError as exc:
    ...     print(exc.line, exc.message)
    2 unterminated single quote (opened on line 2)
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    if not isinstance(text, str):
        raise ShellSyntaxError("expected text, got %s" % type(text).__name__)
    # dash drops NUL bytes from its input.
    text = text.replace("\x00", "")
    lexer = _Lexer(text)
    lines = text.split("\n")
    state = _State()
    try:
        for items, first, last in _logical_lines(lexer):
            if _line(state, items, first, last, lines, lexer) == "stop":
                break
        else:
            for kw, line in state.blocks:
                if kw:
                    raise ShellSyntaxError("syntax error: end of file unexpected (`%s` is not closed)" % kw,
                                           line=line)
    except RecursionError:
        raise ShellSyntaxError("nesting too deep to read")
    return {"vars": state.vars, "assignments": state.assignments, "unparsed": state.unparsed,
            "uncertain": state.uncertain}


# -- what the boot job does when it sources the file ---------------------------

_SAFE_BUILTINS = frozenset((":", "true", "export", "readonly", "unset", "echo", "printf", "local", "cd", "umask",
                            "trap", "wait", "test", "["))
_STOPPERS = frozenset(("exit", "exec"))
_HIJACKABLE = frozenset(("modprobe", "[", "test", "grep", "logger"))


def _plain_words(words, lexer):
    return [lexer.s[w.start:w.end] for w in words]


def _include_targets(text):
    """Static paths of top-level ``. FILE`` lines, with their line numbers: [(line, path)]."""
    out = []
    lexer = _Lexer(text)
    try:
        for items, first, _last in _logical_lines(lexer):
            words = [t[1] for t in items if t[0] == "word"]
            ops = [t for t in items if t[0] == "op"]
            if len(words) == 2 and not ops and words[0].plain() == ".":
                target = words[1].plain()
                if target is not None and "$" not in target and "`" not in target:
                    out.append((first, target))
    except ShellSyntaxError:
        return []
    return out


def boot_job_outcome(text, errexit=False, includes=None, key="VHOST_NET_ENABLED", _depth=0):
    """Does the boot job that sources this file get to ``modprobe -b vhost_net``, and with which value?

    The Ubuntu qemu-kvm jobs do ``[ -r FILE ] && . FILE`` and later
    ``if [ "$VHOST_NET_ENABLED" = "1" ]; then modprobe -b vhost_net || true; fi``:
    trusty's upstart ``pre-start script`` runs under ``sh -e`` (``errexit=True``),
    xenial/bionic's ``qemu-kvm-init`` under plain ``/bin/sh``. What dash does:

    * ``exit`` / ``exec CMD`` end the whole job: modprobe never runs;
    * ``return`` ends only the sourced file; the job goes on;
    * ``. OTHER`` sources another file (``includes`` maps its path to its text,
      or None when it does not exist: dash then stops the job);
    * a syntax error, or a readonly variable assigned, stops the job;
    * under ``sh -e`` a failing command (``false``) stops the job; a command
      whose status cannot be known here (an external program, ``$(...)``)
      makes the outcome unknown; ``set -e`` / ``set +e`` switch that;
    * a function named ``modprobe``/``[``/``test`` would replace the job's call: unknown.

    Returns ``{"runs_modprobe": True | False | None, "reaches": True | False | None,
    "value": str | None, "why": str, "line": int | None}``.

    >>> boot_job_outcome("VHOST_NET_ENABLED=1\\n")["runs_modprobe"]
    True
    >>> r = boot_job_outcome("false\\nVHOST_NET_ENABLED=1\\n", errexit=True)
    >>> r["runs_modprobe"], r["line"]
    (False, 1)
    >>> boot_job_outcome("false\\nVHOST_NET_ENABLED=1\\n")["runs_modprobe"]
    True
    >>> boot_job_outcome("VHOST_NET_ENABLED=1\\nexit 0\\n")["why"]
    '`exit 0` at line 2 ends the job before it runs modprobe'
    >>> boot_job_outcome(". /etc/default/extra\\n", includes={"/etc/default/extra": "VHOST_NET_ENABLED=1\\n"})["runs_modprobe"]
    True
    """
    includes = includes or {}
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    text = text.replace("\x00", "")

    def out(runs, reaches, value, why, line=None):
        return {"runs_modprobe": runs, "reaches": reaches, "value": value, "why": why, "line": line}

    try:
        parse_shell_assignments(text)
    except ShellSyntaxError as exc:
        return out(False, False, None, "/bin/sh cannot source the file (%s at line %s): the job stops there"
                   % (exc.message, exc.line), exc.line)
    lexer = _Lexer(text)
    lines = text.split("\n")
    state = {"errexit": bool(errexit), "nounset": False, "unknown": None}
    depth = 0
    kept = []          # (first, last) line ranges that ran before a stop
    stop = None
    chunks = []        # the text that ran, with sourced files inlined
    prev_end = 0
    for items, first, last in _logical_lines(lexer):
        included = False
        chunks.append("\n".join(lines[prev_end:first - 1]) + ("\n" if first - 1 > prev_end else ""))
        prev_end = last
        words = [t[1] for t in items if t[0] == "word"]
        ops = [t[1] for t in items if t[0] == "op"]
        names = [w.plain() for w in words]
        opens = sum(1 for n in names if n in ("if", "case", "while", "until", "for", "{"))
        closes = sum(1 for n in names if n in ("fi", "esac", "done", "}"))
        in_block = depth > 0 or opens > 0
        depth += opens - closes
        segs = _segments(items, in_block)
        unsafe = []
        for seg_words, _sep, _redir, _lead in segs:
            cmd = None
            for w in seg_words:
                if w.assignment() is None:
                    cmd = w
                    break
            if cmd is None:
                # Assignments only: their status is the last command substitution's.
                if any(p[0] == "cmd" for w in seg_words for p in (w.assignment() or ("", []))[1]):
                    unsafe.append("an assignment with $(...) (its status is the command's)")
                continue
            name = cmd.plain()
            rest = _plain_words(seg_words[seg_words.index(cmd) + 1:], lexer)
            if name in ("if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
                        "{", "}", "!", "in"):
                continue
            if name in _STOPPERS and not (name == "exec" and not rest):
                if in_block or "&&" in ops or "||" in ops:
                    unsafe.append("`%s` may end the job" % " ".join([name] + rest))
                    continue
                stop = ("stop", first, "`%s` at line %d ends the job before it runs modprobe"
                        % (" ".join([name] + rest), first))
                break
            if name == "return":
                if in_block or "&&" in ops or "||" in ops:
                    unsafe.append("`return` may end the file early")
                    continue
                stop = ("return", first, "`return` at line %d ends the sourced file; the job goes on" % first)
                break
            if name == ".":
                target = rest[0] if rest else None
                if target is not None and target in includes and not in_block and not ops:
                    if includes[target] is None:
                        stop = ("stop", first, "`. %s` at line %d: the file does not exist, dash stops the job"
                                % (target, first))
                        break
                    if _depth >= 4:
                        return out(None, None, None, "`.` nests too deep to follow", first)
                    inner = boot_job_outcome(includes[target], state["errexit"], includes, key, _depth + 1)
                    if inner["reaches"] is False:
                        stop = ("stop", first, "`. %s` at line %d: %s" % (target, first, inner["why"]))
                        break
                    if inner["reaches"] is None:
                        return out(None, None, None, "`. %s` at line %d: %s" % (target, first, inner["why"]), first)
                    state["errexit"] = inner.get("_errexit", state["errexit"])
                    chunks.append(inner.get("_text") or "")
                    included = True
                    continue
                return out(None, None, None, "`. %s` at line %d sources a file this audit did not read"
                           % (" ".join(rest), first), first)
            if name == "set":
                for flag in rest:
                    if flag.startswith(("-", "+")) and len(flag) > 1 and not in_block:
                        on = flag[0] == "-"
                        if "e" in flag[1:]:
                            state["errexit"] = on
                        if "u" in flag[1:]:
                            state["nounset"] = on
                        if set(flag[1:]) - set("eu"):
                            unsafe.append("`set %s` is not followed here" % flag)
                    elif in_block:
                        unsafe.append("`set` inside a compound command")
                continue
            if name is not None and seg_words.index(cmd) + 1 < len(seg_words) and False:
                continue
            if name == "false":
                if state["errexit"] and not in_block and ops in ([], [";"]):
                    stop = ("stop", first, "`false` at line %d fails under sh -e: the job stops before modprobe"
                            % first)
                    break
                if state["errexit"] and ("&&" in ops or "||" in ops) and segs[-1][0] and \
                        segs[-1][0][0].plain() == "false":
                    stop = ("stop", first, "`false` ends the `&&`/`||` list at line %d under sh -e: the job stops"
                            % first)
                    break
                continue
            if name in _SAFE_BUILTINS:
                continue
            if name in ("eval", "alias", "shift", "read", "source", "command", "type", "hash", "getopts"):
                unsafe.append("`%s` at line %d is not followed here" % (name, first))
                continue
            if name is None:
                unsafe.append("a command decided at run time at line %d" % first)
                continue
            if "(" in ops and name in _HIJACKABLE:
                return out(None, None, None, "line %d defines a function %s: the job's own call would run it"
                           % (first, name), first)
            if "(" in ops:
                continue
            if state["errexit"]:
                unsafe.append("`%s` at line %d: under sh -e the job stops if it fails or is not found" % (name, first))
        if stop:
            break
        if unsafe and (state["errexit"] or any("may end" in u or "not followed" in u or "function" in u
                                                 or "run time" in u for u in unsafe)):
            state["unknown"] = state["unknown"] or "; ".join(unsafe)
        kept.append((first, last))
        if not included:
            chunks.append("\n".join(lines[first - 1:last]) + "\n")
    upto = "".join(chunks)
    try:
        parsed = parse_shell_assignments(upto)
    except ShellSyntaxError as exc:       # e.g. a sourced file assigns a variable this one made readonly
        return out(False, False, None, "the job stops: %s" % exc.message, None)
    value = parsed["vars"].get(key)
    if key in parsed.get("uncertain") or {}:
        return out(None, None if not stop else (stop[0] == "return"), value,
                   "%s is decided at run time: %s" % (key, parsed["uncertain"][key]), None)
    if stop and stop[0] == "stop":
        if state["unknown"]:
            return out(None, None, value, "%s; before it: %s" % (stop[2], state["unknown"]), stop[1])
        return out(False, False, value, stop[2], stop[1])
    if state["unknown"]:
        return out(None, None, value, state["unknown"], None)
    if state["nounset"] and value is None:
        return out(False, False, None, "set -u and %s unset: the job's test of it stops the shell" % key, None)
    runs = value == "1"
    why = "%s=%r after sourcing%s" % (key, value, "" if not stop else " (%s)" % stop[2])
    result = out(runs, True, value, why, stop[1] if stop else None)
    result["_text"] = upto
    result["_errexit"] = state["errexit"]
    return result
