"""The `dcgan` command: the group, its error handling, and its subcommands (one module each).

Heavy modules (torch, numpy) are imported inside the commands so `dcgan --help` stays fast.
Every problem the user can fix ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import DcganError


def one_line(message: str) -> str:
    """`message` with line breaks and other control characters escaped (``\\n``): a value the user gave
    (a file name, a --split) may hold them, and an error must stay one line."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in message)


class Group(click.Group):
    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # noqa: D401
        """Run standalone, but turn every user error into one line and exit status 2."""
        try:
            return super().main(args=args, prog_name=prog_name or "dcgan", standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "dcgan"
            click.echo(f"error: {one_line(e.format_message())} (see '{cmd} --help')", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"error: {one_line(e.format_message())}", err=True)
            sys.exit(2)
        except DcganError as e:
            click.echo(f"error: {one_line(str(e))}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dcgan")
def main() -> None:
    """Train DCGAN-family image generators on real image collections, and use them."""


# The subcommands, each in its own module (all torch-free at import, like this one).
from .evaluate import evaluate  # noqa: E402
from .export import export  # noqa: E402
from .generate import generate  # noqa: E402
from .inverse import inpaint, outpaint, project  # noqa: E402
from .latent import animate, arithmetic, interpolate  # noqa: E402
from .serve import serve  # noqa: E402
from .study import study  # noqa: E402
from .train import prepare, presets, train  # noqa: E402

for command in (
    presets,
    prepare,
    train,
    generate,
    evaluate,
    animate,
    interpolate,
    arithmetic,
    project,
    inpaint,
    outpaint,
    export,
    serve,
    study,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
