"""``python -m physml``: the command line of physml/cli.py."""

import sys

try:
    from physml.cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line itself is imported (its first ~0.1 s)
    exec("pass", {})  # see physml.cli._forget_unhandled_keyboard_interrupt
    sys.stderr.write("physml: interrupted; no partial results were kept\n")
    raise SystemExit(130) from None

raise SystemExit(main())
