"""Test set-up shared by every suite.

The package under module_utils/ is imported as plain `nodeaudit` here (it uses
relative imports inside, so the same files also work as
`ansible.module_utils.nodeaudit` inside a module).
"""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "module_utils"))
# Shared test helpers in tests/ (library_loader) by their own unique names.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# ../shared/corpus: real files from real nodes; absent for users who clone the repo.
CORPUS = os.environ.get("CORPUS_DIR") or os.path.join(os.path.dirname(REPO), "shared", "corpus")


def strip_corpus_header(text):
    """Drop only the leading provenance header of a corpus file.

    `#@ ...` / `# source: ...` lines at the top, or one leading `<!-- ... -->`
    comment for XML. Lines further down that start with `#` are content.
    """
    if text.lstrip().startswith("<!--"):
        start = text.index("<!--")
        end = text.find("-->", start)
        return text[end + 3:].lstrip("\n") if end >= 0 else text
    lines = text.splitlines(True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#@") or lines[i].startswith("# source:")):
        i += 1
    return "".join(lines[i:])


@pytest.fixture
def corpus():
    if not os.path.isdir(CORPUS):
        pytest.skip("../shared/corpus is not here (it is not shipped with the project)")

    def read(rel):
        with open(os.path.join(CORPUS, rel), "r", encoding="utf-8", errors="surrogateescape") as handle:
            return strip_corpus_header(handle.read())

    read.dir = CORPUS
    return read
