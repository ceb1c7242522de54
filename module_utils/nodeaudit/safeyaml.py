"""YAML for people-written documents (policies), loaded with limits. Controller side.

PyYAML's ``SafeLoader`` builds no objects but still shares aliased nodes, so
a few hundred bytes of nested aliases ("billion laughs") expand into a
document that later walks (validation, JSON, deepcopy) take minutes and
gigabytes over. This loader refuses, before anything is constructed:

- text over ``max_bytes``;
- more than ``max_aliases`` alias uses;
- a document whose size with every alias expanded is over ``max_nodes``
  (counted on the composed node graph with memoised sizes: linear time even
  for an exponential expansion).

Errors are ``YAMLLimitError`` / ``YAMLLoadError`` naming the document and, for
bad YAML, the line and column.

Only the controller imports this module (PyYAML is a controller dependency;
the node-side package stays standard-library only). Why not another library:
ruamel.yaml and PyYAML have no alias or expansion limit of their own;
``yaml.SafeLoader`` is the well-kept parser, this adds only the limits.
"""

MAX_BYTES = 1024 * 1024
MAX_ALIASES = 100
MAX_NODES = 100000


class YAMLLoadError(ValueError):
    """The document is not YAML (or not the YAML it must be); says where."""

    def __init__(self, message, name=None, line=None, column=None):
        super().__init__(message)
        self.message = message
        self.name = name
        self.line = line
        self.column = column

    def __str__(self):
        where = self.name or "<yaml>"
        if self.line is not None:
            where += ", line %d" % self.line
            if self.column is not None:
                where += ", column %d" % self.column
        return "%s: %s" % (where, self.message)


class YAMLLimitError(YAMLLoadError):
    """The document is over a size, alias or expansion limit."""


def _expanded_size(root, limit):
    import yaml
    sizes = {}
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[key] = 1
            continue
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value))
        if done:
            total = 1
            for child in children:
                total += sizes.get(id(child), 1)
                if total > limit:
                    return total
            sizes[key] = total
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 1)


def load(text, name=None, max_bytes=MAX_BYTES, max_aliases=MAX_ALIASES, max_nodes=MAX_NODES):
    """One YAML document, safely: plain data (dict/list/str/int/float/bool/None/dates) or YAMLLoadError.

    >>> load("a: 1")
    {'a': 1}
    >>> load("a: [1", name="p.yml")
    Traceback (most recent call last):
    ...
    nodeaudit.safeyaml.YAMLLoadError: p.yml, line 2, column 1: while parsing a flow sequence: expected ',' or ']', but got '<stream end>'
    """
    import yaml

    if isinstance(text, bytes):
        if len(text) > max_bytes:
            raise YAMLLimitError("%d bytes: more than the limit of %d" % (len(text), max_bytes), name)
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YAMLLoadError("not UTF-8 text (%s)" % exc, name)
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise YAMLLimitError("more than the limit of %d bytes" % max_bytes, name)

    aliases = [0]

    class _Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                aliases[0] += 1
                if aliases[0] > max_aliases:
                    mark = self.peek_event().start_mark
                    raise YAMLLimitError("more than %d aliases" % max_aliases, name, mark.line + 1, mark.column + 1)
            return super().compose_node(parent, index)

    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, max_nodes)
        if size > max_nodes:
            raise YAMLLimitError("more than %d nodes once its aliases are expanded" % max_nodes, name,
                                 node.start_mark.line + 1)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p)
        if exc.context and exc.problem:
            message = "%s: %s" % (exc.context, exc.problem)
        raise YAMLLoadError(message or str(exc), name, mark.line + 1 if mark else None,
                            mark.column + 1 if mark else None)
    except yaml.YAMLError as exc:
        raise YAMLLoadError(str(exc), name)
    except RecursionError:
        raise YAMLLimitError("nested too deeply", name)
    finally:
        loader.dispose()
