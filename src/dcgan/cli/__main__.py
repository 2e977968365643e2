"""`python -m dcgan.cli`: the `dcgan` command."""

from . import main

main()
