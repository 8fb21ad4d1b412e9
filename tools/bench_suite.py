#!/usr/bin/python3
"""vipgate line-rate benchmark suite: the entry point tools/bench.sh runs. The suite itself is the
package tools/benchsuite/ (its __init__ lists the modules); `--help` lists the options."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchsuite.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
