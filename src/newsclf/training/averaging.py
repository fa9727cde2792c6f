"""An average of the weights over optimizer steps, validated and saved in their place:
an exponential moving average (`ema_decay`, bias-corrected as Adam corrects its moments) or
stochastic weight averaging over the last epochs (`swa_epochs`, Izmailov et al. 2018: here the
plain mean of the weights after every step of those epochs).

Only the values are averaged, so the saved model is the same plain checkpoint. The average is
part of every resumable checkpoint (Accelerate's `register_for_checkpointing`), so a resumed
run continues it exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from newsclf.config import TrainConfig


class WeightAverage:
    """The running average of `params`: after step n it is `avg + w_n * (params - avg)`, with
    w_n = (1 - d) / (1 - d**n) for an EMA of decay d (so the first weights are not biased
    towards the starting point) and w_n = 1 / n for SWA (the plain mean of the n weights)."""

    def __init__(self, params: list[torch.Tensor], ema_decay: float = 0.0, first_epoch: int = 1):
        self.params = params
        self.ema_decay = ema_decay
        self.first_epoch = first_epoch  # the first epoch whose steps are averaged
        self.average = [p.detach().clone() for p in params]
        self.count = 0  # the steps averaged so far

    def weight(self, n: int) -> float:
        """How much the n-th averaged step's weights count against the average so far."""
        if self.ema_decay:
            return (1 - self.ema_decay) / (1 - self.ema_decay**n)
        return 1.0 / n

    def update(self, epoch: int) -> None:
        """Fold in the weights after an optimizer step of `epoch`."""
        import torch

        if epoch < self.first_epoch:
            return
        self.count += 1
        with torch.no_grad():
            torch._foreach_lerp_(
                self.average, [p.detach() for p in self.params], self.weight(self.count)
            )

    @contextmanager
    def in_model(self) -> Iterator[None]:
        """Within the block the parameters hold the average (once a step has been averaged);
        afterwards, bit for bit the weights they held."""
        import torch

        if self.count == 0:
            yield
            return
        with torch.no_grad():
            kept = [p.detach().clone() for p in self.params]
            torch._foreach_copy_([p.detach() for p in self.params], self.average)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_([p.detach() for p in self.params], kept)

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        with torch.no_grad():
            torch._foreach_copy_(self.average, state["average"])
        self.count = state["count"]


def weight_average(cfg: TrainConfig, model: torch.nn.Module) -> WeightAverage | None:
    """The average `cfg` asks for over `model`'s trained parameters, or None."""
    if not (cfg.ema_decay or cfg.swa_epochs):
        return None
    params = [p for p in model.parameters() if p.requires_grad]
    first_epoch = cfg.epochs - cfg.swa_epochs + 1 if cfg.swa_epochs else 1
    return WeightAverage(params, cfg.ema_decay, first_epoch)


@contextmanager
def averaged(average: WeightAverage | None) -> Iterator[None]:
    """The averaged weights in the model for the block, if there is an average."""
    if average is None:
        yield
    else:
        with average.in_model():
            yield
