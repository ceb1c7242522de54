"""The floor of one node's audit: what any auditor must do, and nothing else.

Start Python, read every file of the node's evidence under ROOT once
(readlink for symbolic links: /proc/<pid>/fd/N), and parse every XML file
with ElementTree. ``bench/run.py`` times this beside the module on the same
root in the same run: ``module_vs_floor`` is the module's wall time over this
one's.

    python bench/floor.py ROOT      # prints the number of files, links and XML documents read
"""
import os
import sys
import xml.etree.ElementTree as ET


def main(root):
    files = links = xmls = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                os.readlink(path)
                links += 1
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            files += 1
            if name.endswith(".xml"):
                ET.fromstring(data)
                xmls += 1
    print("%d files, %d links, %d xml" % (files, links, xmls))


if __name__ == "__main__":
    main(sys.argv[1])
