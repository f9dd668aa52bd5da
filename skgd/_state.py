"""What a fit carries from one epoch, or one ``partial_fit`` call, to the next."""

import copy

import numpy as np

from ._optimizers import init_state


class GDState:
    """Weights, optimizer state, averages and the update count of a fit.

    ``W`` and ``b`` are the weights the optimizer moves, in the coordinates
    of ``preconditioner``; ``W_avg`` and ``b_avg`` their Polyak-Ruppert
    averages, taken from update number ``average_start`` on (0: none);
    ``S1``/``S2`` the optimizer's state; ``t`` the update count (from 1);
    ``epochs`` the epochs run.
    """

    def __init__(self, W, b, preconditioner, optimizer_code, average):
        self.W = W
        self.b = b
        self.preconditioner = preconditioner
        self.t = 1
        self.epochs = 0
        self.optimizer_code = None
        self.average = None
        self.average_start = 0
        self.match_parameters(optimizer_code, average)

    def match_parameters(self, optimizer_code, average):
        """Reset the optimizer state or the averages if their parameters changed.

        A ``set_params`` between ``partial_fit`` calls may switch the
        optimizer or the averaging; the old state then means nothing.
        Averaging switched on part-way starts at the current update (or at
        update ``average``, if that is later): the mean is over the updates
        it has seen, not over updates it was not there for.
        """
        if optimizer_code != self.optimizer_code:
            self.S1, self.S2 = init_state(optimizer_code, *self.W.shape)
            self.optimizer_code = optimizer_code
        if average != self.average:
            self.average = average
            self.average_start = max(average, self.t) if average > 0 else 0
            shape = self.W.shape if average > 0 else (0, 0)
            self.W_avg = np.zeros(shape, dtype=self.W.dtype)
            self.b_avg = np.zeros(shape[0], dtype=self.W.dtype)

    @property
    def averaged(self):
        """Whether the published weights are the averages (some update was averaged)."""
        return self.average_start > 0 and self.t > self.average_start

    def current_weights(self):
        """The weights a prediction uses now, in the kernels' coordinates."""
        return (self.W_avg, self.b_avg) if self.averaged else (self.W, self.b)

    def flat_weights(self):
        """A float64 copy of the coefficients and intercepts as one vector."""
        return np.concatenate([self.W.ravel(), self.b]).astype(np.float64)

    def set_flat_weights(self, flat):
        """Inverse of :meth:`flat_weights`."""
        self.W[:] = flat[: self.W.size].reshape(self.W.shape)
        self.b[:] = flat[self.W.size:]

    def copy(self):
        new = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                setattr(new, name, value.copy())
        return new
