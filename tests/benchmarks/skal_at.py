"""Run the ``skal`` command of another source tree, to time a campaign before and after a change.

The development environment installs skal in editable mode, and that
install's import hook wins over ``PYTHONPATH``; this script drops the hook
and imports skal from the tree given first::

    git archive 0b4a089 | (mkdir -p /tmp/skal-0b4a089 && tar -x -C /tmp/skal-0b4a089)
    python tests/benchmarks/skal_at.py /tmp/skal-0b4a089 run --config ... -o before &
    skal run --config ... -o after &
    wait

Run both at once, as above, so that the machine's load touches them alike.
"""

import sys


def main():
    source = sys.argv.pop(1)
    sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, source)
    import skal

    if not skal.__file__.startswith(source):
        raise SystemExit(f"skal was imported from {skal.__file__}, not from {source}")
    print(f"skal from {skal.__file__}", flush=True)
    from skal.cli import main as skal_main

    return skal_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
