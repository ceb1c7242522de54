"""shellvars.parse_shell_assignments: /etc/default/qemu-kvm as /bin/sh (dash) reads it."""
import doctest
import json
import os
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodeaudit.parsers import shellvars
from nodeaudit.errors import ParseError, ShellSyntaxError

parse = shellvars.parse_shell_assignments

# insights-core's TRICKY_CONFIG (insights/tests/test_sysconfig_options.py), as a literal.
TRICKY_CONFIG = (
    "\n"
    "# COMMENTED_OUT=1\n"
    "SELECTOR='and all that'\n"
    "     SPACES_IN_FRONT=yes\n"
    "COMMENT_SPACE_OK=value_with_#\n"
    "SPACE_COMMENT_IGNORED=value_with #nothing else\n"
    "COMMENT_NOSPACE_OK=value_with_#_in_it\n"
    "COMMENT_QUOTED_IN_VALUE=\"This value should have a # character in it\"\n"
    "MANY_QUOTES=\"this \"'is'\" valid\"\n"
    "QUOTE_HANDLING=\"single ' allowed\"\n"
    "OPTION_WITH_NO_VALUE=\n"
    "DOUBLE_EQUALS==included\n"
    "  # blank lines with a comment are ignored\n"
    "\n"
    "# blank lines without comments are ignored too.\n"
    "# Comments with apostrophes shouldn't fool the dequoting process\n"
    "VALUE_ON_QUOTE_COMMENT_LINE=this_is_OK # but this hasn't been read\n"
    "this line should be in unparsed lines afterward\n"
    "AND = 'so should this'\n"
    "SPACES_AFTER_VALUE=should_be_ignored    \n"
    "  \n"
)

TRUSTY_DEFAULT = (
    "# To disable qemu-kvm's page merging feature, set KSM_ENABLED=0 and\n"
    "# sudo restart qemu-kvm\n"
    "KSM_ENABLED=1\n"
    "SLEEP_MILLISECS=200\n"
    "# To load the vhost_net module, which in some cases can speed up\n"
    "# network performance, set VHOST_NET_ENABLED to 1.\n"
    "VHOST_NET_ENABLED=0\n"
    " \n"
    "# Set this to 1 if you want hugepages to be available to kvm under\n"
    "# /run/hugepages/kvm\n"
    "KVM_HUGEPAGES=0\n"
)


# (id, text, expected "vars" exactly)
VARS_CASES = [
    ("empty", "", {}),
    ("only-newlines", "\n\n\n", {}),
    ("only-comments", "# a\n  # b\n#VHOST_NET_ENABLED=1\n", {}),
    ("plain", "VHOST_NET_ENABLED=1\n", {"VHOST_NET_ENABLED": "1"}),
    ("no-final-newline", "VHOST_NET_ENABLED=1", {"VHOST_NET_ENABLED": "1"}),
    ("crlf-keeps-cr", "VHOST_NET_ENABLED=1\r\n", {"VHOST_NET_ENABLED": "1\r"}),
    ("crlf-quoted", "VHOST_NET_ENABLED=\"1\"\r\n", {"VHOST_NET_ENABLED": "1\r"}),
    ("yes-is-not-1", "VHOST_NET_ENABLED=yes\n", {"VHOST_NET_ENABLED": "yes"}),
    ("trailing-blank", "VHOST_NET_ENABLED=1   \t\n", {"VHOST_NET_ENABLED": "1"}),
    ("leading-spaces", "   \tVHOST_NET_ENABLED=1\n", {"VHOST_NET_ENABLED": "1"}),
    ("last-wins", "VHOST_NET_ENABLED=1\nVHOST_NET_ENABLED=0\n", {"VHOST_NET_ENABLED": "0"}),
    ("empty-value", "A=\n", {"A": ""}),
    ("empty-quotes", "A=''\nB=\"\"\n", {"A": "", "B": ""}),
    ("double-equals", "DOUBLE_EQUALS==included\n", {"DOUBLE_EQUALS": "=included"}),
    ("hash-inside-word", "A=value_with_#\n", {"A": "value_with_#"}),
    ("hash-after-blank", "A=value #c\n", {"A": "value"}),
    ("hash-after-quote", "A='x'#y\n", {"A": "x#y"}),
    ("hash-comment-with-quote", "A=ok # it's fine\n", {"A": "ok"}),
    ("export", "export VHOST_NET_ENABLED=1\n", {"VHOST_NET_ENABLED": "1"}),
    ("export-many", "export A B=2\n", {"B": "2"}),
    ("export-then-assign", "export A\nA=3\n", {"A": "3"}),
    ("readonly", "readonly A=1\n", {"A": "1"}),
    ("export-tab", "export\tA=1\n", {"A": "1"}),
    ("single-literal", "A='$B \\n \"x\"'\n", {"A": "$B \\n \"x\""}),
    ("double-escapes", "A=\"a\\\"b\\\\c\\$d\\`e\\x\"\n", {"A": "a\"b\\c$d`e\\x"}),
    ("concatenation", "A=\"this \"'is'\" valid\"\n", {"A": "this is valid"}),
    ("unquoted-backslash", "A=a\\ b\\#c\n", {"A": "a b#c"}),
    ("continuation", "A=a\\\nb\n", {"A": "ab"}),
    ("continuation-in-dquote", "A=\"a\\\nb\"\n", {"A": "ab"}),
    ("newline-in-quotes", "A=\"x\ny\"\nB='p\nq'\n", {"A": "x\ny", "B": "p\nq"}),
    ("expand-earlier", "A=1\nB=\"$A-${A}x\"\nC=$A$A\n", {"A": "1", "B": "1-1x", "C": "11"}),
    ("expand-sequential", "A=1 B=$A\n", {"A": "1", "B": "1"}),
    ("dollar-literal", "A=$\nB=\"$\"\nC=a$\n", {"A": "$", "B": "$", "C": "a$"}),
    ("semicolon", "A=1; B=2\n", {"A": "1", "B": "2"}),
    ("semicolon-tight", "A=1;B=2;\n", {"A": "1", "B": "2"}),
    ("nul-bytes-dropped", "VHOST_NET_ENABLED=1\x00\nB=x\x00y\n", {"VHOST_NET_ENABLED": "1", "B": "xy"}),
    ("colon-prefix", "A=1 :\n", {"A": "1"}),
    ("command-prefix-not-assignment", "KEY=a b\n", {}),
    ("blanks-around-equals", "AND = 'x'\n", {}),
    ("invalid-name", "1A=2\nA-B=3\n", {}),
    ("quoted-name", "\"A\"=1\n\\A=2\n", {}),
    ("unicode-value", "A=\u00e9t\u00e9\n", {"A": "\u00e9t\u00e9"}),
    ("heredoc-body-skipped", "cat <<EOF\nA=9\nEOF\nB=1\n", {"B": "1"}),
    ("return-stops", "A=1\nreturn\nA=2\n", {"A": "1"}),
    ("unset", "A=1\nunset A\nB=x$A\n", {"B": "x"}),
    ("trusty-default", TRUSTY_DEFAULT, {"KSM_ENABLED": "1", "SLEEP_MILLISECS": "200", "VHOST_NET_ENABLED": "0",
                                        "KVM_HUGEPAGES": "0"}),
    ("huge-value", "A=" + "x" * 200000 + "\n", {"A": "x" * 200000}),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in VARS_CASES], ids=[c[0] for c in VARS_CASES])
def test_vars(text, expected):
    result = parse(text)
    assert result["vars"] == expected
    json.dumps(result)


# (id, text, expected {NAME: substring of the reason}, expected vars)
UNCERTAIN_CASES = [
    ("cmd-subst", "A=$(cat /x)\n", {"A": "command substitution"}, {"A": ""}),
    ("backquote", "A=`cat /x`\n", {"A": "command substitution"}, {"A": ""}),
    ("cmd-subst-in-dquote", "A=\"1$(true)\"\n", {"A": "command substitution"}, {"A": "1"}),
    ("unset-env-var", "A=$HOME\n", {"A": "$HOME is not set earlier"}, {"A": ""}),
    ("env-var-braced", "A=\"${UNKNOWN}1\"\n", {"A": "$UNKNOWN is not set earlier"}, {"A": "1"}),
    ("positional", "A=$1\n", {"A": "special parameter"}, {"A": ""}),
    ("param-op", "A=${B:-1}\n", {"A": "parameter expansion"}, {"A": ""}),
    ("arith", "A=$((1+1))\n", {"A": "arithmetic"}, {"A": ""}),
    ("tilde", "A=~/x\n", {"A": "tilde"}, {"A": "~/x"}),
    ("propagates", "A=$(x)\nB=$A\n", {"A": "command substitution", "B": "uses $A"}, {"A": "", "B": ""}),
    ("if-block", "A=0\nif [ -x /bin/x ]; then\n  A=1\nfi\n", {"A": "inside `if`"}, {"A": "1"}),
    ("one-line-if", "if true; then A=1; fi\n", {"A": "inside `if`"}, {"A": "1"}),
    ("and-and", "[ -e /x ] && VHOST_NET_ENABLED=1\n", {"VHOST_NET_ENABLED": "shell operators"},
     {"VHOST_NET_ENABLED": "1"}),
    ("pipeline", "A=1 | cat\n", {"A": "shell operators"}, {"A": "1"}),
    ("function-body", "f() {\n  A=1\n}\n", {"A": "inside `{`"}, {"A": "1"}),
    ("case", "case $x in\n a) A=1;;\nesac\n", {"A": "inside `case`"}, {"A": "1"}),
    ("read", "read A < /x\n", {"A": "`read`"}, {}),
    ("eval", "eval A=1\n", {"A": "`eval`"}, {}),
]


@pytest.mark.parametrize("text,reasons,expected_vars", [c[1:] for c in UNCERTAIN_CASES],
                         ids=[c[0] for c in UNCERTAIN_CASES])
def test_uncertain(text, reasons, expected_vars):
    result = parse(text)
    assert sorted(result["uncertain"]) == sorted(reasons)
    for name, fragment in reasons.items():
        assert fragment in result["uncertain"][name]
    assert result["vars"] == expected_vars


def test_later_certain_assignment_clears_uncertainty():
    result = parse("VHOST_NET_ENABLED=$(x)\nVHOST_NET_ENABLED=1\n")
    assert result["uncertain"] == {}
    assert result["vars"] == {"VHOST_NET_ENABLED": "1"}


def test_blocks_close_and_later_lines_are_certain():
    result = parse("if x; then\n A=1\nfi\nB=2\nwhile x; do C=1; done\nD=4\n")
    assert sorted(result["uncertain"]) == ["A", "C"]
    assert result["vars"] == {"A": "1", "B": "2", "C": "1", "D": "4"}


# (id, text, expected unparsed [(line, reason fragment)], expected vars)
UNPARSED_CASES = [
    ("env-for-command", "KEY=a b\n", [(1, "runs command `b` with KEY in its environment only")], {}),
    ("two-env-for-command", "A=1 B=2 cmd x\n", [(1, "with A, B in its environment only")], {}),
    ("blanks-around-equals", "AND = 'so should this'\n", [(1, "no blanks around `=`")], {}),
    ("free-text", "this line should be in unparsed lines afterward\n", [(1, "command `this`")], {}),
    ("cr-only-line", "A=1\r\n\r\n", [(2, "command `\r`")], {"A": "1\r"}),
    ("mixed-semicolon", "A=1; echo hi; B=2\n", [(1, "command `echo`")], {"A": "1", "B": "2"}),
    ("and-line", "A=1 && B=2\n", [(1, "`&&`")], {"A": "1", "B": "2"}),
    ("source-other", ". /etc/other\n", [(1, "`.` may set variables")], {}),
    ("continued-command", "echo a \\\n b\nA=1\n", [(1, "command `echo`")], {"A": "1"}),
]


@pytest.mark.parametrize("text,unparsed,expected_vars", [c[1:] for c in UNPARSED_CASES],
                         ids=[c[0] for c in UNPARSED_CASES])
def test_unparsed(text, unparsed, expected_vars):
    result = parse(text)
    assert [u["line"] for u in result["unparsed"]] == [line for line, _ in unparsed]
    for got, (_line, fragment) in zip(result["unparsed"], unparsed):
        assert fragment in got["reason"]
        assert got["raw"].split("\n")[0] == text.split("\n")[got["line"] - 1]
    assert result["vars"] == expected_vars


def test_unparsed_raw_spans_continued_lines():
    assert parse("echo a \\\n b\nA=1\n")["unparsed"][0]["raw"] == "echo a \\\n b"


def test_assignment_records():
    result = parse("# c\nexport A=1\n  B='x y' # c\nexport B\nC=2; D=3\nE=a\\\nb\n")
    assert result["assignments"] == [
        {"name": "A", "value": "1", "line": 2, "raw": "export A=1", "exported": True, "span": [11, 14]},
        {"name": "B", "value": "x y", "line": 3, "raw": "  B='x y' # c", "exported": False, "span": [17, 24]},
        {"name": "C", "value": "2", "line": 5, "raw": "C=2; D=3", "exported": False, "span": [38, 41]},
        {"name": "D", "value": "3", "line": 5, "raw": "C=2; D=3", "exported": False, "span": [43, 46]},
        {"name": "E", "value": "ab", "line": 6, "raw": "E=a\\\nb", "exported": False, "span": [47, 53]},
    ]
    # span: the assignment word itself, what the fix replaces (library/vhost_net_config.py)
    text = "# c\nexport A=1\n  B='x y' # c\nexport B\nC=2; D=3\nE=a\\\nb\n"
    assert [text[a["span"][0]:a["span"][1]] for a in result["assignments"]] == \
        ["A=1", "B='x y'", "C=2", "D=3", "E=a\\\nb"]
    assert result["unparsed"] == []
    assert result["uncertain"] == {}


def test_exported_flag_carries_over_from_bare_export():
    result = parse("export A\nA=1\n")
    assert result["assignments"] == [{"name": "A", "value": "1", "line": 2, "raw": "A=1", "exported": True,
                                      "span": [9, 12]}]


def test_crlf_file_line_numbers_and_raw():
    result = parse("KSM_ENABLED=AUTO\r\nVHOST_NET_ENABLED=1\r\n")
    item = result["assignments"][1]
    assert (item["name"], item["value"], item["line"], item["raw"]) == ("VHOST_NET_ENABLED", "1\r", 2,
                                                                         "VHOST_NET_ENABLED=1\r")


def test_tricky_config_shell_semantics():
    result = parse(TRICKY_CONFIG)
    assert result["vars"] == {
        "SELECTOR": "and all that",
        "SPACES_IN_FRONT": "yes",
        "COMMENT_SPACE_OK": "value_with_#",
        "SPACE_COMMENT_IGNORED": "value_with",
        "COMMENT_NOSPACE_OK": "value_with_#_in_it",
        "COMMENT_QUOTED_IN_VALUE": "This value should have a # character in it",
        "MANY_QUOTES": "this is valid",
        "QUOTE_HANDLING": "single ' allowed",
        "OPTION_WITH_NO_VALUE": "",
        "DOUBLE_EQUALS": "=included",
        "VALUE_ON_QUOTE_COMMENT_LINE": "this_is_OK",
        "SPACES_AFTER_VALUE": "should_be_ignored",
    }
    assert [(u["line"], u["raw"]) for u in result["unparsed"]] == [
        (18, "this line should be in unparsed lines afterward"), (19, "AND = 'so should this'")]
    assert result["uncertain"] == {}


# (id, text, expected error line)
SYNTAX_ERROR_CASES = [
    ("single-to-eof", "A=1\nB='open\nC=2\n", 2),
    ("double-to-eof", "A=\"open\n\n\nC=2\n", 1),
    ("double-escaped-close", "A=\"x\\\"\n", 1),
    ("quote-in-second-word", "A=1 B='x\n", 1),
    ("quote-after-continuation", "A=1\\\n'x\n", 2),
    ("backquote-open", "A=`date\n", 1),
    ("cmd-subst-open", "A=$(date\n", 1),
    ("brace-open", "A=${B\n", 1),
    ("unclosed-if", "if true; then\nA=1\n", 1),
    ("fi-unexpected", "A=1\nfi\n", 2),
    ("readonly-reassigned", "readonly A=1\nA=2\n", 2),
    ("export-bad-name", "export 1A=2\n", 1),
    ("unquoted-cr-quote", "A='1\r\n", 1),
]


@pytest.mark.parametrize("text,line", [c[1:] for c in SYNTAX_ERROR_CASES], ids=[c[0] for c in SYNTAX_ERROR_CASES])
def test_syntax_errors(text, line):
    with pytest.raises(ShellSyntaxError) as info:
        parse(text)
    assert info.value.line == line
    assert isinstance(info.value, ParseError)


def test_error_after_return_is_not_reached():
    # dash reads and runs command by command: a bad quote after `return` is never read.
    assert parse("A=1\nreturn\nB='open\n")["vars"] == {"A": "1"}


def test_bytes_input_is_decoded():
    assert parse(b"VHOST_NET_ENABLED=1\xff\n")["vars"] == {"VHOST_NET_ENABLED": "1\ufffd"}


def test_not_text_is_a_typed_error():
    with pytest.raises(ShellSyntaxError):
        parse(None)


def test_binary_garbage_does_not_crash():
    garbage = "".join(chr(c) for c in range(256)) * 3
    try:
        result = parse(garbage)
    except ShellSyntaxError as exc:
        assert exc.line is not None
    else:
        json.dumps(result)


def test_deep_nesting_is_a_typed_error_or_parses():
    text = "A=" + "$(" * 5000 + ")" * 5000 + "\n"
    try:
        result = parse(text)
    except ShellSyntaxError:
        pass
    else:
        assert "A" in result["uncertain"]


def test_doctests():
    failures, tests = doctest.testmod(shellvars)
    assert tests > 0
    assert failures == 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("AB_=1 \t\n\r#'\"\\$`(){};&|<>x~\x00")) | st.characters(),
               max_size=120))
def test_property_only_typed_errors(text):
    try:
        result = parse(text)
    except ShellSyntaxError:
        return
    json.dumps(result)
    for item in result["assignments"]:
        assert item["name"] in result["vars"] or "unset" in text


# --- differential: the same files through the real /bin/sh (dash), when it is here ------------

DASH = shutil.which("dash")

DIFF_CASES = [c for c in VARS_CASES if c[0] not in ("huge-value", "nul-bytes-dropped")] + [
    ("tricky", TRICKY_CONFIG, None),
    ("export-forms", "export A B=2\nreadonly C=3\nexport D='4 5'\n", None),
    ("mixed", "A=1; echo x >/dev/null; B=\"$A\"'$A'\\$A\n", None),
]


@pytest.mark.skipif(DASH is None, reason="dash is not installed")
@pytest.mark.parametrize("text", [c[1] for c in DIFF_CASES], ids=[c[0] for c in DIFF_CASES])
def test_matches_dash(text):
    result = parse(text)
    names = sorted(set(result["vars"]) | {"A", "B", "KEY", "AND"})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "default")
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        script = ('. "$1" >/dev/null 2>&1; for n in %s; do eval "v=\\${$n-__UNSET__}"; '
                  'printf "%%s=%%s\\0" "$n" "$v"; done' % " ".join(names))
        out = subprocess.run([DASH, "-c", script, "sh", path], stdout=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
                             cwd=tmp, timeout=10).stdout.decode("utf-8")
    seen = dict(item.split("=", 1) for item in out.split("\0") if item)
    for name in names:
        if name in result["uncertain"]:
            continue
        assert seen[name] == result["vars"].get(name, "__UNSET__"), name
