"""Which image sizes each architecture can be built for (imports nothing heavy: the config asks it)."""

from __future__ import annotations

from ..errors import ConfigError

ARCHS = ("dcgan", "dcgan-fc", "mlp")
MIN_SIZE, MAX_SIZE = 12, 1024


def conv_plan(size: int) -> tuple[int, int]:
    """Split `size` into (base, doublings) with size == base * 2**doublings, base in 3..8.

    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4), 96 -> (6, 4), 128 -> (4, 5).
    """
    base, doublings = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        doublings += 1
    if not 3 <= base <= 8 or doublings < 2:
        raise ConfigError(
            f"--size {size}: a DCGAN cannot be built for this size; use b*2^k with b in 3..8 and k >= 2 "
            "(e.g. 28, 32, 48, 64, 96, 128, 256)"
        )
    return base, doublings


def check_size(arch: str, size: int) -> None:
    """Refuse, naming --size, a size the architecture cannot be built for."""
    if size < MIN_SIZE or size > MAX_SIZE:
        raise ConfigError(f"--size {size}: must be between {MIN_SIZE} and {MAX_SIZE} pixels")
    if arch == "mlp":
        return
    if arch == "dcgan-fc" and size % 16:
        raise ConfigError(f"--size {size}: the dcgan-fc architecture needs a multiple of 16 (e.g. 32, 64, 96, 128)")
    conv_plan(size)
