"""`python -m starters` is the `continuum` CLI."""

from starters.cli import main

if __name__ == "__main__":
    main()
