"""Try grucomplete on this: `grucomplete complete examples/demo.py:12:33` (after `os.`)."""

import os
import sys


def list_python_files(root):
    found = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(".py"):
                found.append(os.path.join(dirpath, name))
    return sorted(found)


if __name__ == "__main__":
    for path in list_python_files(sys.argv[1]):
        print(path)
