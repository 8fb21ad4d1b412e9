"""Command line of tools/lab.sh (see there)."""
import argparse
import os
import shutil
import signal
import sys
import tempfile

from . import compare, netns


def main():
    parser = argparse.ArgumentParser(prog="tools/lab.sh")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("compare", help="vipgate vs the kernel's load balancers, one table")
    run.add_argument("--seconds", type=int, default=10, help="per measurement (default 10)")
    run.add_argument("--build", default="build", help="meson build directory (default build)")
    commands.add_parser("clean", help="remove lab namespaces left by dead runs")
    args = parser.parse_args()

    # SIGTERM unwinds like Ctrl-C, so every namespace and process is torn down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.command == "clean":
        print("\n".join(netns.clean_stale()) or "nothing to clean")
        return
    exe = os.path.join(args.build, "control", "vipgate")
    flood = os.path.join(args.build, "tools", "lab_udp_flood")
    workdir = tempfile.mkdtemp(prefix="vipgate-lab-")
    try:
        print(compare.run(os.path.abspath(exe), os.path.abspath(flood), args.seconds, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
