"""Rigorous coupled-wave analysis (RCWA) for pixelated crossed gratings at normal incidence.

A stack of layers, each uniform along z, sits between two uniform half-spaces (incidence medium
on top, light travelling towards +z). Layers are either uniform (a complex permittivity) or
patterned (a complex permittivity grid of shape (ny, nx) covering one square period). Fields are
expanded in the plane-wave orders p = -mx..mx (x) and q = -my..my (y), N = (2mx+1)(2my+1) orders.

Units: all lengths (wavelength, period, thickness) in one unit of your choice (invdes uses nm).
Time convention exp(-i omega t); a lossy medium has Im(eps) > 0.

Formulation (in the normalized units z' = k0 z, K = k / k0, H scaled by the vacuum impedance):

    d/dz' [Ex, Ey] = i P [Hx, Hy],   P = [[Kx Ez Ky, 1 - Kx Ez Kx], [Ky Ez Ky - 1, -Ky Ez Kx]]
    d/dz' [Hx, Hy] = i Q [Ex, Ey],   Q = [[-Kx Ky, Kx^2 - Eyy], [Exx - Ky^2, Ky Kx]]

with Ez = inverse of the Laurent (Toeplitz) matrix of eps (E_z is continuous everywhere), and
Exx, Eyy the matrices that map E_x, E_y to D_x, D_y. Two factorizations are offered:

- ``"laurent"``: Exx = Eyy = the Laurent Toeplitz matrix [[eps]] (the classic formulation of
  Moharam et al. 1995 as used by grcwa and S4's default).
- ``"li"``: Li's (1997) rules for crossed gratings. D_x is continuous across x-interfaces while
  E_x jumps, so along x the *inverse rule* applies, and along y (where E_x is continuous) the
  Laurent rule: Exx = Laurent_y( inverse( Toeplitz_x(1/eps) ) ), computed row by row for the
  pixel grid (exact for piecewise-constant rows); Eyy likewise with x and y exchanged.

Modes of a patterned layer: eigen-decomposition P Q = W diag(q^2) W^-1, forward modes
E = W exp(i q z'), H = V exp(i q z') with V = Q W q^-1; Im q >= 0 (decaying or propagating
forward). Uniform layers and half-spaces use the analytic modes (W = 1, q = sqrt(eps - K^2)).
Layers are combined with scattering matrices (Redheffer star products), which only ever
multiply by exp(i q k0 d) with Im q >= 0, so thick or strongly absorbing layers are stable.

Fourier coefficients of the pixel grid: ``fourier="exact"`` (default) integrates the
piecewise-constant pixels exactly (DFT times a sinc and half-pixel phase factor), the true
coefficients of the physical pixelated pattern at every order; ``fourier="dft"`` uses the plain
DFT of the samples (grcwa's convention), which aliases once 2*m approaches the grid size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMULATIONS = ("li", "laurent")
FOURIER_CONVENTIONS = ("exact", "dft")
POLARIZATIONS = ("x", "y")
_Q_FLOOR = 1e-12  # |q| below this (an exactly grazing order) is nudged off zero


# ----------------------------------------------------------------------------- input checks


def _check_positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return value


def _check_harmonics(harmonics) -> tuple[int, int]:
    if np.isscalar(harmonics):
        harmonics = (harmonics, harmonics)
    try:
        mx, my = (int(h) for h in harmonics)
    except (TypeError, ValueError):
        raise ValueError(
            f"harmonics must be (mx, my) non-negative integers; got {harmonics!r}") from None
    if mx < 0 or my < 0 or (mx, my) != tuple(harmonics):
        raise ValueError(f"harmonics must be (mx, my) non-negative integers; got {harmonics!r}")
    return mx, my


def _check_eps(name: str, eps) -> complex:
    eps = complex(eps)
    if not np.isfinite(eps):
        raise ValueError(f"{name} must be finite; got {eps}")
    return eps


def check_grid(eps_grid) -> np.ndarray:
    """Validate a permittivity grid: finite, complex-castable, shape (ny, nx) with ny, nx >= 1."""
    grid = np.asarray(eps_grid)
    if grid.ndim != 2 or min(grid.shape) < 1:
        raise ValueError(f"eps_grid must be a 2-D array (ny, nx); got shape {grid.shape}")
    if not np.issubdtype(grid.dtype, np.number):
        raise ValueError(f"eps_grid must be numeric; got dtype {grid.dtype}")
    grid = grid.astype(np.complex128)
    if not np.all(np.isfinite(grid)):
        raise ValueError("eps_grid contains non-finite values (nan or inf)")
    return grid


# ----------------------------------------------------------------------------- Fourier algebra


@dataclass(frozen=True)
class Orders:
    """The retained plane-wave orders: flattened index n = iq * (2mx+1) + ip."""

    mx: int
    my: int

    @property
    def p(self) -> np.ndarray:  # (N,) x order of each flattened index
        return np.tile(np.arange(-self.mx, self.mx + 1), 2 * self.my + 1)

    @property
    def q(self) -> np.ndarray:  # (N,) y order of each flattened index
        return np.repeat(np.arange(-self.my, self.my + 1), 2 * self.mx + 1)

    @property
    def n(self) -> int:
        return (2 * self.mx + 1) * (2 * self.my + 1)

    @property
    def zero(self) -> int:
        return self.my * (2 * self.mx + 1) + self.mx


def _pixel_factor(orders: np.ndarray, n_pixels: int) -> np.ndarray:
    """Exact-integration factor of piecewise-constant pixels: exp(-i pi m/N) sinc(m/N)."""
    return np.exp(-1j * np.pi * orders / n_pixels) * np.sinc(orders / n_pixels)


def fourier_coefficients(grid: np.ndarray, mx2: int, my2: int, fourier: str) -> np.ndarray:
    """Fourier coefficients c[q, p] for p in -mx2..mx2, q in -my2..my2; shape (2my2+1, 2mx2+1)."""
    ny, nx = grid.shape
    f = np.fft.fft2(grid) / (nx * ny)
    p = np.arange(-mx2, mx2 + 1)
    q = np.arange(-my2, my2 + 1)
    c = f[np.ix_(q % ny, p % nx)]
    if fourier == "exact":
        c = c * _pixel_factor(q, ny)[:, None] * _pixel_factor(p, nx)[None, :]
    return c


def toeplitz_2d(coeffs: np.ndarray, orders: Orders) -> np.ndarray:
    """Laurent (Toeplitz) matrix [[f]]_{n,n'} = c(p - p', q - q'), shape (N, N)."""
    p, q = orders.p, orders.q
    return coeffs[q[:, None] - q[None, :] + 2 * orders.my, p[:, None] - p[None, :] + 2 * orders.mx]


def _toeplitz_1d(coeffs: np.ndarray, m: int) -> np.ndarray:
    """coeffs (..., 4m+1) for orders -2m..2m -> Toeplitz matrices (..., 2m+1, 2m+1)."""
    k = np.arange(-m, m + 1)
    return coeffs[..., k[:, None] - k[None, :] + 2 * m]


def _li_matrix(grid: np.ndarray, orders: Orders, fourier: str) -> np.ndarray:
    """Li's mixed rule: inverse rule along x (per pixel row), Laurent rule along y. (N, N)."""
    ny, nx = grid.shape
    mx, my = orders.mx, orders.my
    p2 = np.arange(-2 * mx, 2 * mx + 1)
    # 1-D coefficients of 1/eps along x, one row of pixels at a time: (ny, 4mx+1)
    row_coeffs = np.fft.fft(1.0 / grid, axis=1)[:, p2 % nx] / nx
    if fourier == "exact":
        row_coeffs = row_coeffs * _pixel_factor(p2, nx)[None, :]
    row_matrices = np.linalg.inv(_toeplitz_1d(row_coeffs, mx))  # (ny, 2mx+1, 2mx+1)
    # Fourier coefficients along y of the matrix-valued, row-wise constant function
    q2 = np.arange(-2 * my, 2 * my + 1)
    blocks = np.fft.fft(row_matrices, axis=0)[q2 % ny] / ny  # (4my+1, 2mx+1, 2mx+1)
    if fourier == "exact":
        blocks = blocks * _pixel_factor(q2, ny)[:, None, None]
    qi = np.arange(-my, my + 1)
    big = blocks[qi[:, None] - qi[None, :] + 2 * my]  # (2my+1, 2my+1, 2mx+1, 2mx+1)
    return big.transpose(0, 2, 1, 3).reshape(orders.n, orders.n)


def _swap_xy(matrix: np.ndarray, orders: Orders) -> np.ndarray:
    """Re-index an (N, N) matrix built for the transposed grid (orders my, mx) to (mx, my)."""
    px, py = 2 * orders.mx + 1, 2 * orders.my + 1
    m = matrix.reshape(px, py, px, py)  # transposed grid: index = ip * py + iq
    return m.transpose(1, 0, 3, 2).reshape(orders.n, orders.n)


def permittivity_matrices(grid, orders: Orders, formulation: str, fourier: str):
    """(Ez, Exx, Eyy): the (N, N) operators of the patterned layer (see module docstring)."""
    laurent = toeplitz_2d(fourier_coefficients(grid, 2 * orders.mx, 2 * orders.my, fourier), orders)
    ez = np.linalg.inv(laurent)
    if formulation == "laurent":
        return ez, laurent, laurent
    exx = _li_matrix(grid, orders, fourier)
    eyy = _swap_xy(_li_matrix(grid.T, Orders(orders.my, orders.mx), fourier), orders)
    return ez, exx, eyy


# ----------------------------------------------------------------------------- layer modes


@dataclass
class Modes:
    """Modes of one layer: E = W a, H = V a for forward amplitudes a; q (2N,) with Im q >= 0."""

    w: np.ndarray | None  # (2N, 2N), None means identity (uniform medium)
    v: np.ndarray  # (2N, 2N)
    q: np.ndarray  # (2N,)


def _forward_branch(q: np.ndarray) -> np.ndarray:
    q = np.where(np.abs(q) < _Q_FLOOR, _Q_FLOOR * (1 + 1j), q)
    flip = (q.imag < 0) | ((np.abs(q.imag) <= 1e-14 * np.abs(q)) & (q.real < 0))
    return np.where(flip, -q, q)


def uniform_modes(eps: complex, kx: np.ndarray, ky: np.ndarray) -> Modes:
    """Analytic modes of a homogeneous medium: W = 1, q = sqrt(eps - Kx^2 - Ky^2), V = Q / q."""
    q = _forward_branch(np.sqrt(eps - kx**2 - ky**2 + 0j))
    n = kx.size
    v = np.zeros((2 * n, 2 * n), dtype=complex)
    idx = np.arange(n)
    v[idx, idx] = -kx * ky / q
    v[idx, n + idx] = (kx**2 - eps) / q
    v[n + idx, idx] = (eps - ky**2) / q
    v[n + idx, n + idx] = kx * ky / q
    return Modes(w=None, v=v, q=np.concatenate([q, q]))


def patterned_modes(ez, exx, eyy, kx: np.ndarray, ky: np.ndarray) -> Modes:
    """Modes of a patterned layer from its permittivity operators (eigenproblem of size 2N)."""
    n = kx.size
    ident = np.eye(n)
    kx_c, ky_c = kx[:, None], ky[:, None]  # diagonal K matrices as broadcasting columns
    p = np.block([
        [kx_c * ez * ky, ident - kx_c * ez * kx],
        [ky_c * ez * ky - ident, -ky_c * ez * kx],
    ])
    q_mat = np.block([
        [np.diag(-kx * ky), np.diag(kx**2) - eyy],
        [exx - np.diag(ky**2), np.diag(ky * kx)],
    ])
    q2, w = np.linalg.eig(p @ q_mat)
    q = _forward_branch(np.sqrt(q2 + 0j))
    v = (q_mat @ w) / q[None, :]
    return Modes(w=w, v=v, q=q)


def _uniform_v_times(v: np.ndarray, m: np.ndarray) -> np.ndarray:
    """v @ m for the (2N, 2N) matrix v of a uniform medium (four diagonal blocks), O(N^2)."""
    n = v.shape[0] // 2
    d = [np.diagonal(v[i * n : (i + 1) * n, j * n : (j + 1) * n]) for i in (0, 1) for j in (0, 1)]
    top = d[0][:, None] * m[:n] + d[1][:, None] * m[n:]
    bottom = d[2][:, None] * m[:n] + d[3][:, None] * m[n:]
    return np.vstack([top, bottom])


def single_layer_amplitudes(top: Modes, layer: Modes, bottom: Modes, phase: np.ndarray,
                            incident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reflected and transmitted amplitudes for one layer between two uniform half-spaces.

    Direct solution of the two interface conditions with the layer's backward amplitudes
    referenced at its bottom, so only ``phase`` = exp(i q k0 d) (|phase| <= 1) appears:
    c- = Rb X c+ with Rb = (V + Vs W)^-1 (V - Vs W), then the top interface gives
    [V0 W (1 + X Rb X) + V (1 - X Rb X)] c+ = 2 V0 e_inc. ``incident`` is (2N, k).
    """
    w, v = layer.w, layer.v
    vs_w = _uniform_v_times(bottom.v, w)
    rb = np.linalg.solve(v + vs_w, v - vs_w)
    m = phase[:, None] * rb * phase[None, :]
    ident = np.eye(m.shape[0])
    a_top = _uniform_v_times(top.v, w @ (ident + m)) + v @ (ident - m)
    c_plus = np.linalg.solve(a_top, 2.0 * _uniform_v_times(top.v, incident))
    reflected = w @ (c_plus + m @ c_plus) - incident
    c_minus = rb @ (phase[:, None] * c_plus)
    transmitted = w @ (phase[:, None] * c_plus + c_minus)
    return reflected, transmitted


# ----------------------------------------------------------------------------- S-matrices


@dataclass
class SMatrix:
    """Scattering matrix: (a_out_bottom, b_out_top) = S (a_in_top, b_in_bottom)."""

    s11: np.ndarray  # forward transmission
    s12: np.ndarray  # reflection of light coming from below
    s21: np.ndarray  # reflection of light coming from above
    s22: np.ndarray  # backward transmission


def _solve(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    return b if a is None else np.linalg.solve(a, b)


def interface_smatrix(top: Modes, bottom: Modes) -> SMatrix:
    """S-matrix of the interface between two layers (mode amplitudes at the interface)."""
    a = _solve(bottom.w, top.w if top.w is not None else np.eye(bottom.v.shape[0]))
    b = np.linalg.solve(bottom.v, top.v)
    t11 = 0.5 * (a + b)
    t12 = 0.5 * (a - b)
    t11_inv_t12 = np.linalg.solve(t11, t12)
    t11_inv = np.linalg.inv(t11)
    return SMatrix(s11=t11 - t12 @ t11_inv_t12, s12=t12 @ t11_inv, s21=-t11_inv_t12, s22=t11_inv)


def star(a: SMatrix, b: SMatrix) -> SMatrix:
    """Redheffer star product: S of A followed (in +z) by B."""
    ident = np.eye(a.s11.shape[0])
    f = np.linalg.solve(ident - a.s12 @ b.s21, np.hstack([a.s11, a.s12 @ b.s22]))
    g = np.linalg.solve(ident - b.s21 @ a.s12, np.hstack([b.s21 @ a.s11, b.s22]))
    n = ident.shape[0]
    return SMatrix(
        s11=b.s11 @ f[:, :n],
        s12=b.s12 + b.s11 @ f[:, n:],
        s21=a.s21 + a.s22 @ g[:, :n],
        s22=a.s22 @ g[:, n:],
    )


# ----------------------------------------------------------------------------- stacks


@dataclass(frozen=True)
class Layer:
    """One layer: ``eps`` is a complex number (uniform) or an (ny, nx) grid; ``thickness`` >= 0."""

    eps: complex | np.ndarray
    thickness: float


def _flux(e: np.ndarray, modes: Modes) -> np.ndarray:
    """z-directed power of each order of a uniform medium for amplitude vectors e (2N, k)."""
    h = modes.v @ e
    n = e.shape[0] // 2
    ex, ey, hx, hy = e[:n], e[n:], h[:n], h[n:]
    return (ex * hy.conj() - ey * hx.conj()).real


def _normal_incidence(wavelength: float, period: float, mx: int, my: int, eps_in: complex):
    """What every normal-incidence solve shares: the orders, their K = k / k0 (kx, ky), k0,
    the incidence medium's modes, the two unit incident fields (E along x, along y; (2N, 2))
    and their incident power (2,)."""
    orders = Orders(mx, my)
    kx = (orders.p * wavelength / period).astype(float)
    ky = (orders.q * wavelength / period).astype(float)
    top = uniform_modes(eps_in, kx, ky)
    n = orders.n
    incident = np.zeros((2 * n, 2), dtype=complex)
    incident[orders.zero, 0] = 1.0  # E along x
    incident[n + orders.zero, 1] = 1.0  # E along y
    p_in = _flux(incident, top).sum(axis=0)
    return orders, kx, ky, 2 * np.pi / wavelength, top, incident, p_in


def stack_reflectance_transmittance(
    layers: list[Layer],
    *,
    wavelength: float,
    period: float,
    harmonics,
    eps_in: complex = 1.0,
    eps_out: complex = 1.0,
    formulation: str = "li",
    fourier: str = "exact",
    smatrix: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Total reflectance and transmittance of a stack at normal incidence.

    Returns ``(R, T)``, each of shape (2,): index 0 for the incident electric field along x,
    index 1 along y (both polarizations come from one solve). R and T sum the power of all
    propagating orders; for a stack whose only lossy material is inside the layers, the
    absorbed fraction is 1 - R - T. ``eps_in`` must be real and positive (a lossless
    incidence medium). A single patterned layer is solved directly (cheaper); ``smatrix=True``
    forces the general S-matrix path (used by the tests to check one against the other).
    """
    wavelength = _check_positive("wavelength", wavelength)
    period = _check_positive("period", period)
    mx, my = _check_harmonics(harmonics)
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}; got {formulation!r}")
    if fourier not in FOURIER_CONVENTIONS:
        raise ValueError(f"fourier must be one of {FOURIER_CONVENTIONS}; got {fourier!r}")
    eps_in = _check_eps("eps_in", eps_in)
    eps_out = _check_eps("eps_out", eps_out)
    if eps_in.imag != 0 or eps_in.real <= 0:
        raise ValueError(f"eps_in must be real and positive (lossless incidence); got {eps_in}")

    orders, kx, ky, k0, top, incident, p_in = _normal_incidence(wavelength, period, mx, my,
                                                                eps_in)
    bottom = uniform_modes(eps_out, kx, ky)

    layer_modes = [_layer_modes(i, layer, orders, kx, ky, formulation, fourier)
                   for i, layer in enumerate(layers)]
    if len(layers) == 1 and layer_modes[0].w is not None and not smatrix:
        phase = np.exp(1j * layer_modes[0].q * k0 * float(layers[0].thickness))
        reflected, transmitted = single_layer_amplitudes(top, layer_modes[0], bottom, phase,
                                                         incident)
    else:
        s = _stack_smatrix(layers, layer_modes, top, bottom, k0)
        reflected = s.s21 @ incident
        transmitted = s.s11 @ incident
    r = _flux(reflected, top).sum(axis=0) / p_in
    t = _flux(transmitted, bottom).sum(axis=0) / p_in
    return r, t


def _layer_modes(i: int, layer: Layer, orders: Orders, kx, ky, formulation: str,
                 fourier: str) -> Modes:
    thickness = float(layer.thickness)
    if not np.isfinite(thickness) or thickness < 0:
        raise ValueError(f"layer {i}: thickness must be >= 0 and finite; got {thickness}")
    if np.ndim(layer.eps) == 0:
        return uniform_modes(_check_eps(f"layer {i} eps", layer.eps), kx, ky)
    grid = check_grid(layer.eps)
    if np.all(grid == grid.flat[0]):  # uniform grid: analytic modes, no eigenproblem
        return uniform_modes(complex(grid.flat[0]), kx, ky)
    return patterned_modes(*permittivity_matrices(grid, orders, formulation, fourier), kx, ky)


def _stack_smatrix(layers, layer_modes, top: Modes, bottom: Modes, k0: float) -> SMatrix:
    """Global S-matrix of the stack, built with Redheffer star products."""
    s: SMatrix | None = None
    previous = top
    for layer, modes in zip(layers, layer_modes, strict=True):
        step = interface_smatrix(previous, modes)
        s = step if s is None else star(s, step)
        phase = np.exp(1j * modes.q * k0 * float(layer.thickness))
        s = SMatrix(s11=phase[:, None] * s.s11, s12=phase[:, None] * s.s12 * phase[None, :],
                    s21=s.s21, s22=s.s22 * phase[None, :])
        previous = modes
    step = interface_smatrix(previous, bottom)
    return step if s is None else star(s, step)


def reflectance_transmittance(
    eps_grid,
    *,
    wavelength: float,
    period: float,
    thickness: float,
    harmonics,
    eps_in: complex = 1.0,
    eps_out: complex = 1.0,
    polarization: str = "x",
    formulation: str = "li",
    fourier: str = "exact",
) -> tuple[float, float]:
    """R and T of one patterned layer between two half-spaces, normal incidence.

    Parameters
    ----------
    eps_grid : complex array (ny, nx)
        Relative permittivity over one square period (pixel (j, i) covers
        [i, i+1) * period / nx along x and [j, j+1) * period / ny along y).
    wavelength, period, thickness : float
        Vacuum wavelength, lattice period and layer thickness, all in the same length unit.
    harmonics : (mx, my)
        Orders -mx..mx along x and -my..my along y are retained.
    eps_in, eps_out : complex
        Permittivity of the incidence (top, real) and exit (bottom) half-spaces.
    polarization : "x" or "y"
        Direction of the incident electric field.
    formulation : "li" or "laurent"
        Factorization of the permittivity products (see the module docstring).
    fourier : "exact" or "dft"
        Fourier coefficients of the pixel grid: exact pixel integrals or the plain DFT.

    Returns
    -------
    (R, T) : total reflected and transmitted power fractions over all propagating orders.
    """
    if polarization not in POLARIZATIONS:
        raise ValueError(f"polarization must be one of {POLARIZATIONS}; got {polarization!r}")
    r, t = stack_reflectance_transmittance(
        [Layer(check_grid(eps_grid), thickness)],
        wavelength=wavelength, period=period, harmonics=harmonics, eps_in=eps_in,
        eps_out=eps_out, formulation=formulation, fourier=fourier,
    )
    i = POLARIZATIONS.index(polarization)
    return float(r[i]), float(t[i])


def thin_film_reflectance_transmittance(
    eps_layers, thicknesses, *, wavelength: float, eps_in: complex = 1.0, eps_out: complex = 1.0
) -> tuple[float, float]:
    """Analytic R, T of uniform films at normal incidence (characteristic-matrix method).

    Independent of the RCWA machinery; used to validate it. Lengths in one unit.
    """
    k0 = 2 * np.pi / _check_positive("wavelength", wavelength)
    n_in = np.sqrt(complex(eps_in))
    n_out = np.sqrt(complex(eps_out))
    m = np.eye(2, dtype=complex)
    for eps, d in zip(eps_layers, thicknesses, strict=True):
        n = np.sqrt(complex(eps))
        delta = n * k0 * d
        m = m @ np.array([[np.cos(delta), -1j * np.sin(delta) / n], [-1j * n * np.sin(delta),
                                                                   np.cos(delta)]])
    b, c = m @ np.array([1.0, n_out])
    r = (n_in * b - c) / (n_in * b + c)
    t = 2 * n_in / (n_in * b + c)
    return float(abs(r) ** 2), float((n_out.real / n_in.real) * abs(t) ** 2)


def single_layer_sweep(
    eps_grid,
    *,
    wavelength: float,
    period: float,
    thicknesses,
    harmonics,
    eps_in: complex = 1.0,
    eps_outs=(1.0,),
    formulation: str = "li",
    fourier: str = "exact",
) -> tuple[np.ndarray, np.ndarray]:
    """R and T of one patterned layer for many thicknesses and exit media, one eigen-solve.

    The layer's modes depend on its pattern, the wavelength and the period, not on its
    thickness or on the half-space below it, so a sweep over both costs one eigen-decomposition
    plus one pair of linear solves per (exit medium, thickness). Used by the stack search of
    :mod:`invdes.study.stack_search`.

    Returns ``(R, T)``, each of shape (len(eps_outs), len(thicknesses), 2) (last axis: incident
    E along x, along y); equal to :func:`stack_reflectance_transmittance` of each combination.
    """
    wavelength = _check_positive("wavelength", wavelength)
    period = _check_positive("period", period)
    mx, my = _check_harmonics(harmonics)
    if formulation not in FORMULATIONS:
        raise ValueError(f"formulation must be one of {FORMULATIONS}; got {formulation!r}")
    eps_in = _check_eps("eps_in", eps_in)
    if eps_in.imag != 0 or eps_in.real <= 0:
        raise ValueError(f"eps_in must be real and positive (lossless incidence); got {eps_in}")
    thicknesses = [float(d) for d in np.atleast_1d(thicknesses)]
    if not thicknesses or any(not np.isfinite(d) or d < 0 for d in thicknesses):
        raise ValueError(f"thicknesses must be finite and >= 0; got {thicknesses}")
    eps_outs = [_check_eps("eps_out", e) for e in np.atleast_1d(eps_outs)]
    grid = check_grid(eps_grid)
    orders, kx, ky, k0, top, incident, p_in = _normal_incidence(wavelength, period, mx, my,
                                                                eps_in)
    if np.all(grid == grid.flat[0]):
        layer = uniform_modes(complex(grid.flat[0]), kx, ky)
    else:
        layer = patterned_modes(*permittivity_matrices(grid, orders, formulation, fourier), kx, ky)
    r = np.empty((len(eps_outs), len(thicknesses), 2))
    t = np.empty_like(r)
    for i, eps_out in enumerate(eps_outs):
        bottom = uniform_modes(eps_out, kx, ky)
        for j, d in enumerate(thicknesses):
            if layer.w is None:  # uniform layer: the general S-matrix path
                s = _stack_smatrix([Layer(grid.flat[0], d)], [layer], top, bottom, k0)
                reflected, transmitted = s.s21 @ incident, s.s11 @ incident
            else:
                phase = np.exp(1j * layer.q * k0 * d)
                reflected, transmitted = single_layer_amplitudes(top, layer, bottom, phase,
                                                                 incident)
            r[i, j] = _flux(reflected, top).sum(axis=0) / p_in
            t[i, j] = _flux(transmitted, bottom).sum(axis=0) / p_in
    return r, t
