"""What a fit carries from one epoch, or one ``partial_fit`` call, to the next."""

import copy

import numpy as np

from ._optimizers import init_state


class GDState:
    """Weights, optimizer state, averages and the update count of a fit.

    ``W`` and ``b`` are the weights the optimizer moves, in the coordinates
    of ``preconditioner``; ``W_avg`` and ``b_avg`` their Polyak-Ruppert
    averages, taken from update number ``average_start`` on (0: none), with
    weights 1 (``average_power`` 0: the mean) or growing with the update
    number (1); ``S1``/``S2`` the optimizer's state; ``t`` the update count
    (from 1); ``epochs`` the epochs run. ``average`` is the estimator's
    parameter the averages were set up for; ``first_schedule`` the
    ``(name, eta0)`` that the first call of the fit resolved to (see
    :func:`skgd._steps.resolve_schedule`); ``weight_scale`` the uniform row
    weight of the first call to take "auto"'s "optimal" steps, their scale
    (:func:`skgd._steps.uniform_row_weight`; None before); ``scaled_until``
    the update at which "auto"'s shortened hinge steps end (None before the
    first call to take them: :meth:`skgd._schedules.EpochSchedule.scaled_until`);
    ``stats`` the column statistics the coordinates come from
    (:class:`skgd._precondition.ColumnStats`).
    """

    weight_scale = None  # (a class default too, for states pickled before it, 2026-12-06)
    scaled_until = None  # (the same, 2026-12-08)

    def __init__(self, W, b, preconditioner, optimizer_code, average, averaging):
        self.W = W
        self.b = b
        self.preconditioner = preconditioner
        self.t = 1
        self.epochs = 0
        self.optimizer_code = None
        self.average = object()  # matches no parameter value
        self.keep_zeros = False
        self.first_schedule = None
        self.weight_scale = None
        self.scaled_until = None
        self.stats = None  # the column statistics behind the preconditioner
        self.match_parameters(optimizer_code, average, averaging)

    def match_parameters(self, optimizer_code, average, averaging):
        """Reset the optimizer state (and the first call's step) or the averages
        if their parameters changed.

        A ``set_params`` between ``partial_fit`` calls may switch the
        optimizer or the averaging; the old state then means nothing.
        ``averaging`` is ``(start, power)`` for the parameter ``average``.
        Averaging switched on part-way starts at the current update (or at
        update ``start``, if that is later): the mean is over the updates it
        has seen, not over updates it was not there for.
        """
        if optimizer_code != self.optimizer_code:
            self.S1, self.S2 = init_state(optimizer_code, *self.W.shape)
            self.optimizer_code = optimizer_code
            # The first call's step was another rule's (momentum's is damped
            # by 1 - momentum): the next call's is the new rule's first.
            self.first_schedule = None
            self.scaled_until = None
        if average != self.average:
            start, self.average_power = averaging
            self.average = average
            self.average_start = max(start, self.t) if start > 0 else 0
            shape = self.W.shape if start > 0 else (0, 0)
            self.W_avg = np.zeros(shape, dtype=self.W.dtype)
            self.b_avg = np.zeros(shape[0], dtype=self.W.dtype)

    @property
    def averaged(self):
        """Whether the published weights are the averages (some update was averaged)."""
        return self.average_start > 0 and self.t > self.average_start

    def current_weights(self, keep_zeros=None):
        """The weights a prediction uses now, in the kernels' coordinates.

        The averages once averaging has run; with ``keep_zeros`` (the
        averaging of ``learning_rate="auto"`` under an l1 penalty), the
        coefficients that are exactly zero at the last iterate are zero:
        the l1 steps find which coefficients the optimum leaves out, the
        average smooths the others. The argument ``keep_zeros``, when
        given, overrides the state's. (The arrays returned may be the
        state's own: do not write to them.)
        """
        if not self.averaged:
            return self.W, self.b
        if self.keep_zeros if keep_zeros is None else keep_zeros:
            return np.where(self.W == 0, 0, self.W_avg).astype(self.W.dtype), self.b_avg
        return self.W_avg, self.b_avg

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
