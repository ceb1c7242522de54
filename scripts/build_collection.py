#!/usr/bin/env python3
"""Build the Ansible collection vhostaudit.compute from this repository (`make collection`).

The repository keeps the layout its users asked for (playbooks/ roles/
library/ module_utils/ filter_plugins/ action_plugins/ callback_plugins/);
this maps it onto a collection tree and runs `ansible-galaxy collection
build` on it:

    library/*.py              -> plugins/modules/
    module_utils/nodeaudit/   -> plugins/module_utils/nodeaudit/
    action_plugins/*.py       -> plugins/action/
    filter_plugins/*.py       -> plugins/filter/ (+ one <filter>.yml doc per filter)
    callback_plugins/*.py     -> plugins/callback/
    roles/, playbooks/, policies/, schemas/, meta/runtime.yml, README.md, docs/

The only rewrites are imports: `ansible.module_utils.nodeaudit` (modules) and
the controller plugins' `nodeaudit` (found through a sys.path insertion in the
repository) become `ansible_collections.vhostaudit.compute.plugins.module_utils.nodeaudit`,
and the sys.path insertion is dropped. Unit tests go to tests/unit/plugins/
so that `ansible-test units` runs them.

    python3 scripts/build_collection.py [--out build]   -> build/vhostaudit-compute-<version>.tar.gz
"""
import argparse
import ast
import inspect
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def galaxy():
    with open(os.path.join(REPO, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)


def fqcn_prefix(meta):
    return "ansible_collections.%s.%s.plugins.module_utils" % (meta["namespace"], meta["name"])


_SYSPATH = re.compile(r"\n_MODULE_UTILS = os\.path\.join\(.*?\n(if _MODULE_UTILS not in sys\.path:\n    sys\.path\.insert\(0, _MODULE_UTILS\)\n)",
                      re.S)


def rewrite(text, prefix, controller):
    text = text.replace("ansible.module_utils.nodeaudit", prefix + ".nodeaudit")
    if controller:
        text = _SYSPATH.sub("\n", text)
        text = re.sub(r"^from nodeaudit(\.| )", lambda m: "from %s.nodeaudit%s" % (prefix, m.group(1)), text,
                      flags=re.M)
        text = re.sub(r"^import nodeaudit\b", "import %s.nodeaudit" % prefix, text, flags=re.M)
    return text


def copy_tree(src, dst, ignore=("__pycache__", "*.pyc", ".state")):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*ignore), symlinks=False)


def filter_docs(path, dest_dir, meta):
    """One <filter>.yml per filter of a filter plugin file: what ansible-doc -t filter shows."""
    sys.path.insert(0, os.path.join(REPO, "module_utils"))
    spec = importlib.util.spec_from_file_location("fp_%s" % os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, func in module.FilterModule().filters().items():
        doc = inspect.getdoc(func) or name
        first = doc.strip().splitlines()[0].rstrip(".")
        params = list(inspect.signature(func).parameters.values())
        options = {"_input": {"description": "The value the filter is applied to (%s)." % params[0].name,
                              "type": "raw", "required": True}}
        for p in params[1:]:
            options[p.name] = {"description": "Positional argument %s." % p.name, "type": "raw",
                               "required": p.default is inspect.Parameter.empty}
        body = {"DOCUMENTATION": {"name": name, "version_added": str(meta["version"]),
                                  "short_description": first[:160],
                                  "description": [line for line in doc.split("\n\n")],
                                  "author": meta["authors"], "positional": ", ".join(p.name for p in params[1:]),
                                  "options": options},
                "EXAMPLES": "# See roles/ in this collection for its use.\nresult: \"{{ value | %s.%s.%s }}\"\n"
                            % (meta["namespace"], meta["name"], name),
                "RETURN": {"_value": {"description": "The filter's result.", "type": "raw"}}}
        with open(os.path.join(dest_dir, "%s.yml" % name), "w") as handle:
            yaml.safe_dump(body, handle, sort_keys=False, width=100)


def _self_contained(text):
    """A unit test that needs only the package, pytest and the standard library (no helper from tests/, no repo path)."""
    if not re.search(r"^(from|import) nodeaudit", text, re.M) or "REPO" in text:
        return False
    if re.search(r"def \w+\([^)]*\bcorpus\b", text):
        return False            # the ../shared/corpus fixture of tests/conftest.py
    allowed = set(sys.stdlib_module_names) | {"nodeaudit", "pytest"}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names = [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module.split(".")[0]]
        else:
            continue
        if any(n not in allowed for n in names):
            return False
    return True


def build_tree(root, meta):
    prefix = fqcn_prefix(meta)
    coll = os.path.join(root, "ansible_collections", meta["namespace"], meta["name"])
    if os.path.exists(root):
        shutil.rmtree(root)
    plugins = os.path.join(coll, "plugins")
    for sub in ("modules", "action", "filter", "callback", "module_utils"):
        os.makedirs(os.path.join(plugins, sub))
    mapping = (("library", "modules", False), ("action_plugins", "action", True),
               ("filter_plugins", "filter", True), ("callback_plugins", "callback", True))
    for src, dst, controller in mapping:
        for name in sorted(os.listdir(os.path.join(REPO, src))):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(REPO, src, name)) as handle:
                text = rewrite(handle.read(), prefix, controller)
            ast.parse(text)
            with open(os.path.join(plugins, dst, name), "w") as handle:
                handle.write(text)
            if src == "filter_plugins":
                filter_docs(os.path.join(REPO, src, name), os.path.join(plugins, dst), meta)
    copy_tree(os.path.join(REPO, "module_utils", "nodeaudit"), os.path.join(plugins, "module_utils", "nodeaudit"))
    for name in ("roles", "playbooks", "policies", "schemas", "docs", "meta", "examples"):
        copy_tree(os.path.join(REPO, name), os.path.join(coll, name))
    # Roles and playbooks name the collection's own filters and modules by FQCN
    # (short filter names do not resolve inside a collection's roles).
    fq = "%s.%s." % (meta["namespace"], meta["name"])
    filters = []
    for name in os.listdir(os.path.join(plugins, "filter")):
        if name.endswith(".yml"):
            filters.append(name[:-4])
    modules = [n[:-3] for n in os.listdir(os.path.join(plugins, "modules")) if n.endswith(".py")] + \
        [n[:-3] for n in os.listdir(os.path.join(plugins, "action")) if n.endswith(".py")]
    for base in ("roles", "playbooks"):
        for dirpath, _, names in os.walk(os.path.join(coll, base)):
            for name in names:
                if not name.endswith((".yml", ".yaml")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path) as handle:
                    text = handle.read()
                for f in filters:
                    text = re.sub(r"\|(\s*)%s\b" % f, lambda m: "|%s%s%s" % (m.group(1), fq, f), text)
                for mod in set(modules):
                    text = re.sub(r"^(\s*(?:- )?)%s:" % mod, lambda m: "%s%s%s:" % (m.group(1), fq, mod), text,
                                  flags=re.M)
                with open(path, "w") as handle:
                    handle.write(text)
    # In the collection a playbook's directory is inside the installed collection:
    # the reports go to ./reports of wherever the user runs ansible-playbook.
    defaults = os.path.join(coll, "roles", "audit_report", "defaults", "main.yml")
    with open(defaults) as handle:
        text = handle.read()
    text = re.sub(r"^audit_report_dir: .*$", "audit_report_dir: \"{{ 'reports' | realpath }}\"", text, count=1,
                  flags=re.M)
    with open(defaults, "w") as handle:
        handle.write(text)
    for name in ("README.md", "CHANGELOG.md", "galaxy.yml", "requirements.yml", "execution-environment.yml"):
        shutil.copy(os.path.join(REPO, name), os.path.join(coll, name))
    # ansible-test units: the unit tests that need nothing but the package.
    units = os.path.join(coll, "tests", "unit", "plugins", "module_utils")
    os.makedirs(units)
    for name in sorted(os.listdir(os.path.join(REPO, "tests", "unit"))):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        with open(os.path.join(REPO, "tests", "unit", name)) as handle:
            text = handle.read()
        if _self_contained(text):
            # Imports inside functions too (indented).
            text = re.sub(r"^(\s*)from nodeaudit(\.| )",
                          lambda m: "%sfrom %s.nodeaudit%s" % (m.group(1), prefix, m.group(2)), text, flags=re.M)
            text = re.sub(r"^(\s*)import nodeaudit\b", lambda m: "%simport %s.nodeaudit" % (m.group(1), prefix),
                          text, flags=re.M)
            # A doctest's expected traceback names the exception's module, which is longer here.
            text = re.sub(r"doctest\.testmod\((\w+)\)", r"doctest.testmod(\1, optionflags=doctest.IGNORE_EXCEPTION_DETAIL)",
                          text)
            with open(os.path.join(units, name), "w") as handle:
                handle.write(text)
    return coll


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "build"))
    args = parser.parse_args(argv)
    meta = galaxy()
    coll = build_tree(os.path.join(args.out, "collection"), meta)
    ansible_galaxy = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    if not os.path.exists(ansible_galaxy):
        ansible_galaxy = "ansible-galaxy"
    subprocess.run([ansible_galaxy, "collection", "build", "--force", "--output-path", args.out, coll], check=True)
    tarball = os.path.join(args.out, "%s-%s-%s.tar.gz" % (meta["namespace"], meta["name"], meta["version"]))
    print(tarball)
    return 0


if __name__ == "__main__":
    sys.exit(main())
