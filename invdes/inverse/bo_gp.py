"""The Gaussian-process surrogate of the Bayesian optimization, made cheap enough for 650 points.

scikit-optimize's ``Optimizer(base_estimator="GP")`` builds a GP with a constant x Matern-5/2
kernel (one length scale per latent dimension) plus a fitted white-noise term, and after every
new point it (1) refits the kernel hyperparameters by maximum marginal likelihood (L-BFGS-B
from the kernel's start values plus ``n_restarts_optimizer`` random starts) and (2) scores
10,000 random candidates with each GP-Hedge acquisition. Measured with
``benchmarks/bo_speed.py`` at 250-500 points, both are slow for reasons that are not the model:

- the predictive variance is computed with a three-operand ``einsum`` that NumPy evaluates as
  a plain loop, O(candidates x points^2), from an explicit inverse of the kernel matrix;
  :class:`FastVarianceGP` computes the same quantity, ``diag(K*^T K^-1 K*)``, as
  ``|L^-1 K*|^2`` with one triangular solve (BLAS) against the Cholesky factor, as
  scikit-learn's own GP does. Same numbers where the kernel matrix is well conditioned, and
  fewer rounding errors where it is not (points nearly repeated late in a run).
- every refit starts from the kernel's default hyperparameters (all length scales 1) and
  repeats from random starts; :func:`warm_start` makes the next refit start from the previous
  fit's hyperparameters, which one more point barely moves, so one local search
  (``gp_restarts=0``) usually suffices. This one changes the optimizer's path, not the model,
  and is a configuration choice (:class:`invdes.config.BOConfig`) reported in the book.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.utils import check_array
from skopt.learning import GaussianProcessRegressor


class FastVarianceGP(GaussianProcessRegressor):
    """scikit-optimize's GP with the predictive standard deviation computed by one triangular
    solve against the Cholesky factor; every other path (covariance, gradients, prior) is the
    parent's."""

    def predict(self, X, return_std=False, return_cov=False, return_mean_grad=False,
                return_std_grad=False):
        if (not return_std or return_cov or return_mean_grad or return_std_grad
                or not hasattr(self, "X_train_")):
            return super().predict(X, return_std=return_std, return_cov=return_cov,
                                   return_mean_grad=return_mean_grad,
                                   return_std_grad=return_std_grad)
        X = check_array(X)
        k_trans = self.kernel_(X, self.X_train_)  # (m, n)
        y_mean = self.y_train_std_ * (k_trans @ self.alpha_) + self.y_train_mean_  # (m,)
        v = solve_triangular(self.L_, k_trans.T, lower=True, check_finite=False)  # (n, m)
        y_var = self.kernel_.diag(X) - np.einsum("ij,ij->j", v, v)
        negative = y_var < 0
        if np.any(negative):
            warnings.warn("Predicted variances smaller than 0. Setting those variances to 0.",
                          stacklevel=2)
            y_var[negative] = 0.0
        return y_mean, np.sqrt(y_var * self.y_train_std_**2)


def use_fast_gp(opt, n_restarts: int) -> None:
    """Swap the GP that ``Optimizer(base_estimator="GP")`` built for a :class:`FastVarianceGP`
    with the same parameters (kernel, noise, normalization, random state) and ``n_restarts``
    random restarts of the hyperparameter search. Call before the first ``tell``."""
    params = opt.base_estimator_.get_params(deep=False)
    params["n_restarts_optimizer"] = int(n_restarts)
    opt.base_estimator_ = FastVarianceGP(**params)


def warm_start(opt) -> None:
    """Let the next GP refit start from the last fitted hyperparameters (amplitude and length
    scales; the white-noise level restarts from its default, as scikit-optimize adds it anew at
    every fit)."""
    if opt.models:
        fitted = opt.models[-1].kernel_
        signal = getattr(fitted, "k1", fitted)  # Sum(signal, WhiteKernel) -> signal
        opt.base_estimator_.set_params(kernel=signal)


def start_theta(opt) -> np.ndarray:
    """The log-hyperparameters the next refit starts from (saved with a resumable record)."""
    return np.asarray(opt.base_estimator_.kernel.theta, dtype=np.float64)


def set_start_theta(opt, theta: np.ndarray) -> None:
    kernel = opt.base_estimator_.kernel
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != kernel.theta.shape:
        raise ValueError(f"saved GP start has {theta.size} hyperparameters; the kernel has "
                         f"{kernel.theta.size}")
    opt.base_estimator_.set_params(kernel=kernel.clone_with_theta(theta))
