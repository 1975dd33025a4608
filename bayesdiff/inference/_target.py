"""The unnormalized posterior in the samplers' unconstrained space.

:class:`Target` is ``log q(theta) = log prior + log likelihood`` (Jacobians
included) on the flattened unconstrained latent sites of a model's NumPyro
model, the space in which NUTS samples; the evidence estimators, the mode
finder and NUTS's mode start all use it. The helpers map parameter values to
latent sites and back and build the NumPyro model function for a data layout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.flatten_util import ravel_pytree
from numpyro import handlers
from numpyro.handlers import seed as seed_handler
from numpyro.infer.initialization import init_to_median
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from ..errors import InferenceError
from ..models.base import Model, as_data
from ..tracks import Track, TrackSet
from ._programs import cached_jit

__all__ = ["Target", "latent_values", "default_latents", "prior_latents", "model_function"]


def latent_values(model: Model, values: Mapping[str, jax.Array], dim: int) -> dict:
    """Map constrained parameter values to the NumPyro latent sites (``D_base`` = log D...)."""
    out = {}
    for p, val in values.items():
        prior = model.prior(p)
        if isinstance(prior, dist.TransformedDistribution) and not model.param_shape(p, dim):
            for t in reversed(prior.transforms):
                val = t.inv(val)
            out[f"{p}_base"] = val
        else:
            out[p] = val
    return out


def default_latents(
    model: Model, model_fn: Callable, args: tuple, key: tuple, seed: int = 0
) -> dict:
    """Unconstrained values of every latent site at the prior medians (NumPyro's
    ``init_to_median``), compiled once per ``(model, key, seed)`` (``key``: the
    data layout of ``model_fn``): the likelihood is traced but, unused,
    compiled away (NumPyro's ``initialize_model`` would evaluate it and its
    gradient op by op)."""
    fn = cached_jit(
        "default-latents",
        model,
        *key,
        seed,
        build=lambda: jax.jit(partial(prior_latents, model_fn, seed=seed)),
    )
    return fn(args)


def prior_latents(model_fn: Callable, args: tuple, seed: int = 0) -> dict:
    """Traceable body of :func:`default_latents`."""
    m = handlers.substitute(handlers.seed(model_fn, rng_seed=seed), substitute_fn=init_to_median)
    tr = handlers.trace(m).get_trace(*args)
    vals = {
        k: site["value"]
        for k, site in tr.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    return unconstrain_fn(model_fn, args, {}, vals)


def model_function(model: Model, regs: tuple, pooled: bool) -> Callable:
    """The NumPyro model function that :func:`bayesdiff.sample` runs for this data layout."""
    if not pooled:
        return partial(model.numpyro_model, regular=regs[0])

    def model_fn(*data):
        model.numpyro_model_pooled(list(zip(data, regs, strict=True)))

    return model_fn


def compile_target(model_fn, unravel) -> dict:
    def logq1(th, args):
        return -potential_energy(model_fn, args, {}, unravel(th))

    def neg(th, args):
        return -logq1(th, args)

    many = jax.vmap(logq1, in_axes=(0, None))
    return {
        "logq1": jax.jit(logq1),
        "logq": jax.jit(many),
        "grad": jax.jit(jax.value_and_grad(neg)),
    }


def to_latent(
    model_fn, order: tuple, missing: tuple, z0: dict, known: dict, targets: dict, args: tuple
):
    """One draw: known latent values (constrained) -> flat unconstrained vector."""
    # sites not in ``known`` are drawn by the seeded model and then overwritten
    z = unconstrain_fn(seed_handler(model_fn, rng_seed=0), args, {}, known) if known else {}
    if missing:
        z_m0 = {k: jnp.zeros_like(z0[k]) for k in missing}
        flat_m, unravel_m = ravel_pytree(z_m0)
        flat_t, _ = ravel_pytree(targets)

        def resid(fm):
            full = {**z, **unravel_m(fm)}
            out = constrain_fn(model_fn, args, {}, full, return_deterministic=True)
            return ravel_pytree({k: out[k] for k in targets})[0] - flat_t

        if flat_t.shape != flat_m.shape:
            raise InferenceError(
                f"latent sites {list(missing)} do not match parameters {list(targets)}"
            )

        def step(fm, _):
            # reverse mode: models' fast likelihoods may define only a VJP (custom_vjp)
            return fm - jnp.linalg.solve(jax.jacrev(resid)(fm), resid(fm)), None

        flat_m, _ = jax.lax.scan(step, flat_m, None, length=8)
        ok = jnp.max(jnp.abs(resid(flat_m))) <= 1e-8 * (1.0 + jnp.max(jnp.abs(flat_t)))
        z = {**z, **unravel_m(jnp.where(ok, flat_m, jnp.nan))}
    return ravel_pytree({k: z[k] for k in order})[0]


class Target:
    """``log q(theta) = log prior + log likelihood`` (Jacobians included) on the
    flattened unconstrained latent sites of the model's NumPyro model, the
    same space in which NUTS samples.

    The compiled functions take the data as an argument and are cached per
    model configuration, so targets for many tracks of one shape share them.
    """

    def __init__(self, model: Model, track: Track | TrackSet, pad_to: int | None = None):
        self.model = model
        self.dim = track.dim
        if isinstance(track, Track):
            data, regular = as_data(track, pad_to=pad_to)
            self.args: tuple = (data,)
            regs: tuple = (bool(regular),)
            pooled = False
        else:
            datas = [as_data(b) for b in track.batches(bucket="pow2", min_steps=1)]
            regs = tuple(bool(r) for _, r in datas)
            self.args = tuple(d for d, _ in datas)
            pooled = True
        self.model_fn = model_function(model, regs, pooled)
        self.z0 = dict(default_latents(model, self.model_fn, self.args, (regs, pooled)))
        flat, self.unravel = ravel_pytree(self.z0)
        self.size = int(flat.shape[0])
        self.flat0 = np.asarray(flat)
        shapes = tuple((k, tuple(jnp.shape(v))) for k, v in self.z0.items())
        self.fns = cached_jit(
            "evidence-target",
            model,
            regs,
            pooled,
            shapes,
            build=lambda: compile_target(self.model_fn, self.unravel),
        )
        self.n_evals = 0

    def logq1(self, theta) -> jax.Array:
        return self.fns["logq1"](jnp.asarray(theta), self.args)

    def grad(self, theta) -> tuple:
        return self.fns["grad"](jnp.asarray(theta), self.args)

    def hess(self, theta) -> np.ndarray:
        """Hessian of ``-log q`` by central differences of the gradient (one
        compiled gradient serves; exact second derivatives would compile a
        second, much larger program)."""
        th = np.asarray(theta, float)
        p = th.size
        h = 1e-4 * (1.0 + np.abs(th))
        pts = np.concatenate([th + np.diag(h), th - np.diag(h)])
        grads = np.stack([np.asarray(self.grad(x)[1]) for x in pts])
        H = (grads[:p] - grads[p:]) / (2.0 * h[:, None])
        self.n_evals += 2 * p
        return 0.5 * (H + H.T)

    def logq(self, theta: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Vectorized log density at rows of ``theta`` (n, size); NaN -> -inf."""
        theta = np.asarray(theta, float)
        out = np.empty(len(theta))
        for i in range(0, len(theta), chunk):
            block = theta[i : i + chunk]
            k = len(block)
            if k < chunk and len(theta) > chunk:
                block = np.concatenate([block, np.repeat(block[-1:], chunk - k, 0)])
            out[i : i + k] = np.asarray(self.fns["logq"](jnp.asarray(block), self.args))[:k]
        self.n_evals += len(theta)
        return np.where(np.isnan(out), -np.inf, out)

    def constrained(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Rows of unconstrained latent vectors -> the model's parameters (leading draw axis)."""
        names = tuple(self.model.param_names)
        key = ("constrained", names)
        if key not in self.fns:
            model_fn, unravel = self.model_fn, self.unravel

            def one(th, args):
                out = constrain_fn(model_fn, args, {}, unravel(th), return_deterministic=True)
                return {p: out[p] for p in names}

            self.fns[key] = jax.jit(jax.vmap(one, in_axes=(0, None)))
        return {k: np.asarray(v) for k, v in self.fns[key](jnp.asarray(theta), self.args).items()}

    # -- constrained draws -> unconstrained latent vectors --------------------------
    def unconstrained(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Map posterior draws of the model's parameters (leading draw axis) to
        rows of unconstrained latent vectors, shape (n, size).

        Latent sites named after a parameter (or ``<name>_base`` for log-scale
        reparametrized priors) are unconstrained directly; any other latent site
        (e.g. a non-centred ``c_z`` whose deterministic image is the parameter
        ``c``) is found by Newton's method on the deterministic sites.
        """
        model = self.model
        known = latent_values(model, {k: jnp.asarray(v) for k, v in params.items()}, self.dim)
        known = {k: v for k, v in known.items() if k in self.z0}
        missing = tuple(k for k in self.z0 if k not in known)
        used = {k[:-5] if k.endswith("_base") else k for k in known}
        targets = {k: jnp.asarray(v) for k, v in params.items() if k not in used}
        if missing and not targets:
            raise InferenceError(
                f"{model.name}: cannot map posterior draws to the latent sites {list(missing)}"
            )
        n = len(next(iter(params.values())))
        key = ("unconstrained", missing, tuple(sorted(targets)))
        if key not in self.fns:
            self.fns[key] = jax.jit(
                jax.vmap(
                    partial(to_latent, self.model_fn, tuple(self.z0), missing, self.z0),
                    in_axes=(0, 0, None),
                )
            )
        rows = np.asarray(self.fns[key](known, targets, self.args))
        if rows.shape != (n, self.size) or not np.all(np.isfinite(rows)):
            bad = int(np.sum(~np.all(np.isfinite(rows), axis=1))) if rows.ndim == 2 else n
            raise InferenceError(
                f"{model.name}: {bad} posterior draws map to non-finite latent values"
            )
        return rows

    # -- the mode ------------------------------------------------------------------
    def mode(self, starts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Posterior mode in unconstrained space (BFGS, then Newton polish) and
        the Hessian of ``-log q`` there."""
        from scipy.optimize import minimize

        if starts is None:
            starts = [self.flat0, self._init_from_model()]
        best, n_eval = None, 0
        for x0 in starts:
            if x0 is None or not np.all(np.isfinite(x0)):
                continue

            def fun(th):
                v, g = self.grad(jnp.asarray(th))
                return float(v), np.asarray(g)

            res = minimize(
                fun,
                np.asarray(x0, float),
                jac=True,
                method="BFGS",
                options={"gtol": 1e-8, "maxiter": 2000},
            )
            n_eval += int(res.nfev)
            if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
                best = res
        if best is None:
            raise InferenceError(f"{self.model.name}: could not find the posterior mode")
        th = np.asarray(best.x)
        for _ in range(5):  # Newton polish
            _, g = self.grad(jnp.asarray(th))
            H = np.asarray(self.hess(jnp.asarray(th)))
            try:
                step = np.linalg.solve(H, np.asarray(g))
            except np.linalg.LinAlgError:
                break
            if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 1.0:
                break
            th = th - step
            n_eval += 1
        H = np.asarray(self.hess(jnp.asarray(th)))
        self.n_evals += n_eval
        return th, H, n_eval

    def _init_from_model(self) -> np.ndarray | None:
        first_track = self.args[0]
        if first_track.increments.ndim == 3:  # pooled: a batch; start from its first track
            first_track = jax.tree.map(lambda a: a[0], first_track)
        try:
            vals = self.model.init_values(first_track)
        except Exception:  # noqa: BLE001 -- a starting point only
            return None
        if not vals:
            return None
        first = {k: jnp.asarray(v)[None] for k, v in vals.items() if k in self.model.param_names}
        try:
            return self.unconstrained(first)[0]
        except Exception:  # noqa: BLE001
            return None
