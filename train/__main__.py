"""`python -m train reader [options]`: train a model the product ships."""

import sys

COMMANDS = {
    "reader": "train.reader",
    "calibrate": "train.reader_calibration",
    "soup": "train.soup",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m train {{{','.join(COMMANDS)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(COMMANDS[sys.argv[1]]).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
