"""Typed "why not": what a parser may raise, and nothing else.

A parser that meets input it cannot read raises one of these, carrying where
(line or argv index) when it is known. Anything else escaping a parser is a bug.
"""


class ParseError(ValueError):
    """Malformed input: the text could not be read as the format it claims."""

    def __init__(self, message, line=None, index=None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.index = index

    def __str__(self):
        where = ""
        if self.line is not None:
            where = " (line %d)" % self.line
        elif self.index is not None:
            where = " (argv[%d])" % self.index
        return "%s%s" % (self.message, where)


class ShellSyntaxError(ParseError):
    """/bin/sh itself would fail to source this text (e.g. unbalanced quotes)."""


class DomainXMLError(ParseError):
    """Not a libvirt domain XML document (empty, not XML, no <domain>)."""


class ArgvError(ParseError):
    """A qemu command line that cannot be split at all."""


class PolicyError(ValueError):
    """A policy that does not validate; names the bad key."""

    def __init__(self, message, key=None):
        super().__init__(message)
        self.key = key
