"""`python -m agentwrap`: the same as the `agentwrap` command."""

from agentwrap.cli.main import script

if __name__ == "__main__":
    script()
