"""python3 -m benchsuite (from tools/): the same as tools/bench_suite.py."""
import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
