"""`python -m dcgan` (and `torchrun -m dcgan`): the `dcgan` command."""

from .cli import main

main()
