"""``stopsafe web-password``: make the hash for ``web.password_hash`` (the password itself is
never stored). Asks twice on a terminal; ``--stdin`` reads one line (scripts, installers)."""

from __future__ import annotations

import argparse
import getpass
import sys


def cmd_web_password(args: argparse.Namespace) -> int:
    from edge.web.passwords import MIN_PASSWORD_CHARS, hash_password

    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password for the stop's page: ")
        if getpass.getpass("again: ") != password:
            print("stopsafe web-password: the two passwords differ", file=sys.stderr)
            return 1
    if len(password) < MIN_PASSWORD_CHARS:
        print(f"stopsafe web-password: use at least {MIN_PASSWORD_CHARS} characters",
              file=sys.stderr)
        return 1
    print(hash_password(password))
    print("put it in the config:  web:\n                          password_hash: "
          "'<the line above>'", file=sys.stderr)
    return 0


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_web_password)
