"""`python -m recgym` runs the command line."""

from recgym.cli import main

main()
