"""RCWA speed and agreement, measured in one run (no timing is asserted anywhere else).

Prints:
1. the wall time of the band-averaged absorption of one 64x64 microstructure at the paper
   profile's default optics (both polarizations, all wavelengths);
2. time per wavelength per polarization against harmonics m (orders -m..m in x and y) for
   invdes (Li and Laurent factorizations) and for grcwa (an independent open RCWA, Laurent rule,
   DFT coefficients), with the ratio invdes/grcwa at equal m and the agreement |dR|, |dT|
   between invdes in grcwa's convention (laurent + dft) and grcwa itself;
3. error against a converged reference (invdes Li, exact coefficients, large m) for each code
   and truncation, and the time each code needs to reach a given error.

grcwa is needed only here: ``pip install grcwa==0.1.2 autograd``. All runs use one BLAS thread.
Usage: ``python benchmarks/rcwa_speed.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from invdes import microstructure
from invdes.config import MicrostructureConfig, get_profile
from invdes.physics import optics, rcwa
from invdes.physics.materials import permittivity

WAVELENGTH_NM = 550.0


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ours(grid, m, cfg, formulation, fourier):
    r, t = rcwa.stack_reflectance_transmittance(
        [rcwa.Layer(grid, cfg.thickness_nm)], wavelength=WAVELENGTH_NM, period=cfg.period_nm,
        harmonics=(m, m), eps_in=1.0, eps_out=permittivity(cfg.substrate, WAVELENGTH_NM),
        formulation=formulation, fourier=fourier)
    return r, t


def theirs(grcwa, grid, m, cfg):
    """grcwa, same problem: both polarizations (one setup, two excitations)."""
    ny, nx = grid.shape
    obj = grcwa.obj((2 * m + 1) ** 2, [cfg.period_nm, 0], [0, cfg.period_nm], 1 / WAVELENGTH_NM,
                    0.0, 0.0, verbose=0)
    obj.Add_LayerUniform(0.0, 1.0)
    obj.Add_LayerGrid(cfg.thickness_nm, nx, ny)
    obj.Add_LayerUniform(0.0, permittivity(cfg.substrate, WAVELENGTH_NM).real)
    obj.Init_Setup(Gmethod=1)
    if obj.nG != (2 * m + 1) ** 2:
        raise RuntimeError(f"grcwa kept {obj.nG} orders, not {(2 * m + 1) ** 2}")
    obj.GridLayer_geteps(grid.flatten())
    out = []
    for p_amp, s_amp in ((0, 1), (1, 0)):  # E along x, then E along y (normal incidence)
        obj.MakeExcitationPlanewave(p_amp, 0, s_amp, 0, order=0)
        out.append(obj.RT_Solve(normalize=1))
    r, t = np.array(out, dtype=float).T
    return r, t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer harmonics, one repeat")
    args = parser.parse_args()
    try:
        import grcwa
    except ImportError:
        msg = "grcwa is needed for this benchmark: pip install grcwa==0.1.2 autograd"
        raise SystemExit(msg) from None
    grcwa.set_backend("numpy")

    cfg = get_profile("paper").optics
    image = microstructure.generate(1, MicrostructureConfig(size=64), seed=0)[0]
    grid = np.where(image.astype(bool), permittivity(cfg.inclusion, WAVELENGTH_NM),
                    permittivity(cfg.absorber, WAVELENGTH_NM))
    repeats = 1 if args.quick else 3
    ms = (2, 3, 4, 5, 6) if args.quick else (2, 3, 4, 5, 6, 7, 8)
    m_ref = 9 if args.quick else 13

    with threadpool_limits(limits=1):
        t_img = best_time(lambda: optics.absorption_spectrum(image, cfg), repeats)
        print(f"[1] absorption of one 64x64 image, paper defaults (m={cfg.harmonics}, "
              f"{cfg.n_wavelengths} wavelengths x 2 polarizations, {cfg.formulation}): "
              f"{t_img:.3f} s")

        r_ref, t_ref = ours(grid, m_ref, cfg, "li", "exact")
        a_ref = 1 - r_ref - t_ref
        print(f"\nreference: invdes li/exact at m={m_ref}, lambda={WAVELENGTH_NM:g} nm: "
              f"A_x={a_ref[0]:.5f} A_y={a_ref[1]:.5f}")
        print("\n[2] time per wavelength per polarization (s) and agreement with grcwa")
        header = (f"{'m':>3} {'N':>5} {'ours li':>9} {'ours laur':>9} {'grcwa':>9} "
                  f"{'ratio':>6} {'|dR|':>9} {'|dT|':>9}   {'err li':>8} {'err grcwa':>9}")
        print(header)
        rows = []
        for m in ms:
            t_li = best_time(lambda m=m: ours(grid, m, cfg, "li", "exact"), repeats) / 2
            t_la = best_time(lambda m=m: ours(grid, m, cfg, "laurent", "dft"), repeats) / 2
            t_gr = best_time(lambda m=m: theirs(grcwa, grid, m, cfg), repeats) / 2
            r_o, t_o = ours(grid, m, cfg, "laurent", "dft")
            r_g, t_g = theirs(grcwa, grid, m, cfg)
            r_li, t_li_val = ours(grid, m, cfg, "li", "exact")
            err_li = np.abs((1 - r_li - t_li_val) - a_ref).max()
            err_gr = np.abs((1 - r_g - t_g) - a_ref).max()
            rows.append((m, t_li, t_gr, err_li, err_gr))
            print(f"{m:>3} {(2 * m + 1) ** 2:>5} {t_li:>9.4f} {t_la:>9.4f} {t_gr:>9.4f} "
                  f"{t_la / t_gr:>6.2f} {np.abs(r_o - r_g).max():>9.1e} "
                  f"{np.abs(t_o - t_g).max():>9.1e}   {err_li:>8.4f} {err_gr:>9.4f}")

    print("\nratio = ours (laurent+dft, grcwa's convention) / grcwa at equal m; <= 1 is faster.")
    print("\n[3] time to reach an error (max over polarizations of |A - A_ref|) at 550 nm")
    for tol in (0.05, 0.02, 0.01):
        ok_li = [r[1] for r in rows if r[3] <= tol]
        ok_gr = [r[2] for r in rows if r[4] <= tol]
        li_s = f"{min(ok_li):.4f} s" if ok_li else "not reached"
        gr_s = f"{min(ok_gr):.4f} s" if ok_gr else f"not reached by m={ms[-1]}"
        speed = (f"speed-up >= {min(ok_gr) / min(ok_li):.1f}x" if ok_li and ok_gr else
                 f"speed-up > {rows[-1][2] / min(ok_li):.1f}x (grcwa never reached it)"
                 if ok_li else "")
        print(f"  error <= {tol:<5}: invdes li {li_s:>12}   grcwa {gr_s:>22}   {speed}")


if __name__ == "__main__":
    main()
