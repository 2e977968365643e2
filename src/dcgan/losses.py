"""GAN losses on discriminator logits, registered by name in `LOSSES`.

Every loss works on D's raw outputs of shape (N,) (the sigmoid, where there is one, lives here)
and gives:

- `d_loss(real_logits, fake_logits, real_label=1.0) -> (loss_real, loss_fake)`, whose sum is Loss_D;
- `g_loss(fake_logits) -> loss_g`;
- `needs_gradient_penalty`: True for wgan-gp, whose `gradient_penalty(...)` the loop adds to Loss_D.

The losses, with r = D(x) on real images and f = D(G(z)) on fakes:

- `bce`: DCGAN's binary cross-entropy (Radford et al. 2015), with the non-saturating G loss
  (G maximises log sigmoid(f)); `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016).
- `hinge`: D minimises relu(1 - r) + relu(1 + f), G minimises -f (SAGAN, BigGAN).
- `lsgan`: least squares (Mao et al. 2017) with a = 0 (fake target), b = 1 (real target),
  c = 1 (G's target): D minimises (r - b)^2 / 2 + (f - a)^2 / 2, G minimises (f - c)^2 / 2;
  `real_label` replaces b.
- `wgan-gp`: the Wasserstein critic (Gulrajani et al. 2017): D minimises f - r plus
  10 * (||grad D(x_hat)|| - 1)^2 on random interpolates x_hat; G minimises -f. The penalty is per
  sample, so BatchNorm in D (which mixes samples) breaks it: train it with --no-d-batchnorm.

`r1_penalty` (Mescheder et al. 2018) can be added to any of them, and `classification_loss` (AC-GAN's
auxiliary loss, --class-loss) to any of them in a conditional run. `get_loss(name)` is the one
lookup by name; it raises ConfigError naming --loss for an unknown name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError


class GANLoss:
    """One GAN objective: the D loss split into its real and fake halves, and the G loss."""

    name: str = ""
    needs_gradient_penalty: bool = False  # the loop adds gradient_penalty(...) to Loss_D

    def d_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss on real, loss on fake), each a scalar; logits of shape (N,)."""
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """G's loss on D's logits for fresh fakes, a scalar."""
        raise NotImplementedError

    def gradient_penalty(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        weight: float = 10.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A scalar penalty on D's gradients, for losses with `needs_gradient_penalty`."""
        raise NotImplementedError(f"the {self.name} loss has no gradient penalty")

    def __repr__(self) -> str:
        return f"<GANLoss {self.name}>"


class BCELoss(GANLoss):
    """Binary cross-entropy on logits; real_label < 1 is one-sided label smoothing."""

    name = "bce"

    def d_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real, fake

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        # Non-saturating: G maximises log D(G(z)) rather than minimising log(1 - D(G(z))).
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class HingeLoss(GANLoss):
    """real_label is ignored: the hinge margin is what keeps D's logits bounded."""

    name = "hinge"

    def d_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(1.0 - real_logits).mean(), F.relu(1.0 + fake_logits).mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()


class LSGANLoss(GANLoss):
    """Targets a = 0 (fake), b = real_label (real, 1 by default), c = 1 (G); D's output is not squashed."""

    name = "lsgan"
    fake_target = 0.0  # a
    g_target = 1.0  # c

    def d_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        real = 0.5 * (real_logits - real_label).pow(2).mean()
        fake = 0.5 * (fake_logits - self.fake_target).pow(2).mean()
        return real, fake

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_logits - self.g_target).pow(2).mean()


class WGANGPLoss(GANLoss):
    """The Wasserstein critic with gradient penalty; real_label is ignored (there are no labels)."""

    name = "wgan-gp"
    needs_gradient_penalty = True

    def d_loss(
        self, real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # The critic maximises E[D(x)] - E[D(G(z))]; the two halves are -E[D(x)] and E[D(G(z))].
        return -real_logits.mean(), fake_logits.mean()

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return -fake_logits.mean()

    def gradient_penalty(
        self,
        discriminator: nn.Module,
        real: torch.Tensor,
        fake: torch.Tensor,
        weight: float = 10.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """weight * E[(||grad D(x_hat)||_2 - 1)^2], x_hat = alpha * real + (1 - alpha) * fake.

        real, fake: (N, C, H, W) (or (N, ...)) on the same device; both are detached here.
        alpha ~ U[0, 1), one per sample, drawn from `generator` on its own device when given
        (pass the loop's checkpointed device generator to keep runs resumable), otherwise from
        torch's global CPU generator (whose state checkpoints hold) and moved to real's device.
        The graph is kept (create_graph=True) so the penalty trains D.
        """
        n = real.shape[0]
        shape = (n,) + (1,) * (real.dim() - 1)  # (N, 1, 1, 1): one alpha per sample
        if generator is not None:
            alpha = torch.rand(shape, generator=generator, device=generator.device)
        else:
            alpha = torch.rand(shape)
        alpha = alpha.to(device=real.device, dtype=real.dtype)
        x_hat = torch.lerp(fake.detach(), real.detach(), alpha).requires_grad_(True)  # (N, C, H, W)
        out = discriminator(x_hat)  # (N,)
        (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)  # (N, C, H, W)
        norm = grad.flatten(1).norm(2, dim=1)  # (N,)
        return weight * (norm - 1.0).pow(2).mean()


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * E[||grad_x D(x)||^2] on real images x.

    Works with any loss; `real` (N, C, H, W) is detached and made to require grad here, so the
    caller's tensor is untouched. Lazy regularisation (every k steps, gamma * k) is the caller's.
    """
    x = real.detach().requires_grad_(True)  # (N, C, H, W)
    out = discriminator(x)  # (N,)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)  # (N, C, H, W)
    return 0.5 * gamma * grad.flatten(1).pow(2).sum(dim=1).mean()


def classification_loss(class_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """AC-GAN's auxiliary loss (Odena et al. 2017): cross-entropy of D's class head against the labels.

    Classes: class_logits (N, K), y (N,) indices, softmax cross-entropy. Attributes: class_logits (N, A),
    y (N, A) in {-1, 1}, binary cross-entropy per attribute (several may hold at once)."""
    logits = class_logits.float()
    if y.dim() == 1:
        return F.cross_entropy(logits, y.long())
    return F.binary_cross_entropy_with_logits(logits, (y.float() + 1) / 2)


def get_loss(name: str) -> GANLoss:
    """The registered loss called `name`; ConfigError naming --loss and the choices if there is none.

    Looked up in `LOSSES` at call time, so a loss swapped into the registry (as tests do) is used.
    """
    if name not in LOSSES:
        raise ConfigError(f"--loss: unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]


LOSSES: dict[str, GANLoss] = {loss.name: loss for loss in (BCELoss(), HingeLoss(), LSGANLoss(), WGANGPLoss())}
