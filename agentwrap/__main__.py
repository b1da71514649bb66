"""`python -m agentwrap`: the same as the `agentwrap` command."""

from agentwrap.cli.main import run

if __name__ == "__main__":
    run()
