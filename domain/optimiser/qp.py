"""A QP solver for the shape every rebalancing problem has: an interior-point method
(cvxopt's ``coneqp`` algorithm) over a KKT solver that exploits the shape.

    minimise    1/2 z'Pz + q'z
    subject to  z >= 0,  z[upper_index] <= upper,  rows @ z <= rhs

    P = M' Q M,   Q = diag(alpha) + Lambda Lambda'

A *segment* is a run of consecutive variables belonging to one security (its buy and
its lots); M (S x N) adds up each segment with signs u (+1 buy, -1 sale), so M z is the
change of each security's weight. Q is the risk of those changes: specific variances
on the diagonal, factor loadings Lambda (S x k). Variables after the segments (the
slacks of softened constraints) carry no risk. ``rows`` are the few dense
constraints: cash, class drift, gain budget.

Why a custom KKT solver: cvxopt's generic one factorises a dense N x N matrix each
iteration (N = buys + lots, thousands), cubic in N. Here each iteration costs a few
passes over N plus S x k and r x r algebra; see ``StructuredKKT``.

Why our own interior-point loop, compiled: cvxopt's ``coneqp`` runs the same algorithm
through general cone machinery, dozens of Python-level BLAS calls per iteration, which
at these sizes cost several times the iteration's arithmetic; the same loop in numpy
still made about a hundred calls of a microsecond each per iteration.
``kernel.interior_point`` is that algorithm on the nonnegative orthant alone, with the
structured KKT solve, compiled by numba: one call per solve. cvxopt stays as the
reference (``{"solver": "cvxopt"}``, with ``StructuredKKT`` or, for small problems,
``DenseKKT`` as its KKT solver) the tests hold it to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
from scipy.linalg import lapack

# The objective is in fractions of account value: abstol 1e-9 is a cent on $10M.
# Measured against Clarabel at 1e-12 tolerances, results land within ~5e-8 relative
# of the exact optimum (Clarabel at its defaults: up to ~1e-6). Feasibility stays
# tight because a breach of a softened row is reported from these numbers. reltol
# 5e-7 would save about one iteration in three accounts of four and still land within
# ~2e-7, but it moves the continuous solution along the objective's flat directions
# (substitutes' buys) enough to change rounded orders in 5 of 48 benchmark accounts:
# not worth it.
DEFAULT_SOLVER_OPTIONS = {
    "show_progress": False,
    "abstol": 1e-9,
    "reltol": 1e-7,
    "feastol": 1e-9,
    "maxiters": 100,
    "refinement": 0,
}


@dataclass(frozen=True, eq=False)
class StructuredQP:
    q: np.ndarray  # (N,)
    signs: np.ndarray  # (segmented,) +1 / -1
    segment_starts: np.ndarray  # (S,) ascending, 0 first when S > 0
    segment_alpha: np.ndarray  # (S,) >= 0, diagonal of Q
    segment_loadings: np.ndarray  # (S, k), low-rank part of Q
    upper_index: np.ndarray  # (u,)
    upper: np.ndarray  # (u,)
    rows: np.ndarray  # (r, N)
    rhs: np.ndarray  # (r,)

    @property
    def size(self) -> int:
        return int(self.q.shape[0])

    @property
    def segmented(self) -> int:
        return int(self.signs.shape[0])

    @cached_property
    def segment_lengths(self) -> np.ndarray:
        return np.diff(np.append(self.segment_starts, self.segmented))

    @cached_property
    def segment_of(self) -> np.ndarray:
        """The segment of each segmented variable."""
        return np.repeat(np.arange(len(self.segment_starts)), self.segment_lengths)

    def segment_sums(self, z: np.ndarray) -> np.ndarray:
        """M z: the signed total of each segment."""
        if not self.segmented:
            return np.zeros(0)
        return np.add.reduceat(self.signs * z[: self.segmented], self.segment_starts)

    def hessian_times(self, z: np.ndarray) -> np.ndarray:
        out = np.zeros(self.size)
        if self.segmented:
            t = self.segment_sums(z)
            qt = self.segment_alpha * t + self.segment_loadings @ (self.segment_loadings.T @ t)
            out[: self.segmented] = self.signs * np.repeat(qt, self.segment_lengths)
        return out

    def objective(self, z: np.ndarray) -> float:
        return float(0.5 * z @ self.hessian_times(z) + self.q @ z)

    def aggregation(self) -> np.ndarray:
        """M as a dense matrix (S x N)."""
        m = np.zeros((len(self.segment_starts), self.size))
        m[self.segment_of, np.arange(self.segmented)] = self.signs
        return m

    def dense_hessian(self) -> np.ndarray:
        """P as a dense matrix: small problems and tests."""
        m = self.aggregation()
        q = np.diag(self.segment_alpha) + self.segment_loadings @ self.segment_loadings.T
        return m.T @ q @ m

    def inequality_matrix(self):
        """G of cvxopt's G z <= h (a cvxopt spmatrix): lower bounds, upper bounds, then
        the dense rows."""
        from cvxopt import spmatrix

        n = self.size
        u = len(self.upper_index)
        r_idx, c_idx = np.nonzero(self.rows)
        values = np.concatenate([-np.ones(n), np.ones(u), self.rows[r_idx, c_idx]])
        row_index = np.concatenate([np.arange(n), n + np.arange(u), n + u + r_idx])
        col_index = np.concatenate([np.arange(n), self.upper_index, c_idx])
        return spmatrix(values, row_index, col_index, (n + u + len(self.rhs), n))

    def inequality_rhs(self) -> np.ndarray:
        return np.concatenate([np.zeros(self.size), self.upper, self.rhs])


def _cholesky(a: np.ndarray) -> np.ndarray:
    # LAPACK directly: scipy's wrappers cost more than these tiny matrices do.
    factor, info = lapack.dpotrf(a, lower=1)
    if info != 0:
        # Rounding can leave a semidefinite Schur complement a hair short of definite.
        jitter = 1e-14 * max(float(np.trace(a)) / max(a.shape[0], 1), 1e-300)
        factor, info = lapack.dpotrf(a + jitter * np.eye(a.shape[0]), lower=1)
        if info != 0:
            raise ArithmeticError("KKT system is singular")
    return factor


def _cholesky_solve(factor: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, info = lapack.dpotrs(factor, b, lower=1)
    if info != 0:
        raise ArithmeticError("KKT solve failed")
    return x


def _triangular_solve(factor: np.ndarray, b: np.ndarray, transpose: int = 0) -> np.ndarray:
    x, info = lapack.dtrtrs(factor, b, lower=1, trans=transpose)
    if info != 0:
        raise ArithmeticError("KKT solve failed")
    return x


def _low_rank(matrix_: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """matrix_ (r x m) ~ (E D)' with E (m x q), D (q x r), q its numerical rank.

    Directions below 1e-14 of the rows' scale are rounding in the coefficients; the
    KKT then solves a system that much away from the true one, far inside the
    solver's tolerances (cvxopt's residuals use the true rows)."""
    r, m = matrix_.shape
    live = np.flatnonzero(np.any(matrix_ != 0.0, axis=1))
    if m == 0 or len(live) == 0:
        return np.zeros((m, 0)), np.zeros((0, r))
    columns = matrix_[live].T  # (m x p), p small
    values, vectors = np.linalg.eigh(columns.T @ columns)
    keep = values > (1e-14 * scale) ** 2 * m
    basis = vectors[:, keep]
    mix = np.zeros((int(keep.sum()), r))
    mix[:, live] = basis.T
    return np.ascontiguousarray(columns @ basis), mix


def split_rows(qp: StructuredQP) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dense rows as the KKT solve takes them: rows[:, :m] = C M + E D, with C (r x
    S) constant per security times the signs (class rows are all C), E D of low rank
    (m x q, q x r), and the columns outside the segments (the slacks)."""
    rows, m = qp.rows, qp.segmented
    if m:
        starts, u = qp.segment_starts, qp.signs
        row_segments = rows[:, starts] * u[starts]
        residual = rows[:, :m] - row_segments[:, qp.segment_of] * u
        # Few columns in E: the cash rows share one residual direction (the trading
        # cost, alike for buys and sales), the gain budget is another.
        basis, mix = _low_rank(residual, scale=float(np.abs(rows).max(initial=1.0)))
    else:
        row_segments = np.zeros((rows.shape[0], 0))
        basis, mix = np.zeros((0, 0)), np.zeros((0, rows.shape[0]))
    return row_segments, basis, mix, np.ascontiguousarray(rows[:, m:])


@dataclass(frozen=True)
class QPSolution:
    z: np.ndarray
    status: str
    iterations: int
    slacks: np.ndarray  # s of G z + s = h, for a warm start
    duals: np.ndarray  # multipliers of G z <= h, for a warm start

    def row_duals(self, qp: StructuredQP) -> np.ndarray:
        return self.duals[qp.size + len(qp.upper_index) :]


class StructuredKKT:
    """cvxopt's ``kktsolver`` for a StructuredQP.

    Each iteration cvxopt asks for solutions of

        [ P  G'W^-1 ] [ux]   [bx]
        [ G  -W     ] [uz] = [bz]      (W diagonal: only linear inequalities)

    Bound rows (one variable each) fold into a diagonal delta, giving
    H0 = diag(delta) + M' diag(alpha) M, which inverts segment by segment; the factor
    part joins by Woodbury (capacitance k x k). The dense rows stay as unknowns with
    -W^2 on their diagonal, not folded in as W^-2: an active row has W -> 0 and W^-2
    would swamp everything else in floating point. That leaves an r x r Schur
    complement.

    Everything that is constant per security times the signs u (the factor loadings,
    class rows) is handled at the security level (S x k, S x r). Only the rows that are
    not (cash, whose cost term treats buys and sales alike, and the gain budget) go
    through the lot-level segment inverse.

    Inside a segment an interior variable has delta -> 0 while its neighbours at a
    bound have delta -> infinity; textbook Sherman-Morrison then subtracts two huge
    numbers. The inverse below leaves each variable's own term out of its segment
    sums (pivoting on the segment's most interior variable), so nothing cancels in the
    common case of at most one interior variable per security.
    """

    def __init__(self, qp: StructuredQP) -> None:
        self.qp = qp
        self.n = qp.size
        self.nu = len(qp.upper_index)
        m = self.m = qp.segmented
        self.starts = qp.segment_starts
        self.lengths = qp.segment_lengths
        segments = len(self.starts)
        self.segment_of = qp.segment_of
        self.u = qp.signs
        rows = qp.rows
        self.row_segments, self.residual_basis, self.residual_mix, self.tail_rows = split_rows(qp)
        self.residual_basis_t = np.ascontiguousarray(self.residual_basis.T)
        self.rows_t = np.ascontiguousarray(rows.T)
        self.tail_t = np.ascontiguousarray(self.tail_rows.T)

    def factor(self, d: np.ndarray):
        qp = self.qp
        n, nu, m = self.n, self.nu, self.m
        starts, segment_of, u = self.starts, self.segment_of, self.u
        upper_index = qp.upper_index
        rows, rows_t = qp.rows, self.rows_t
        # d is the caller's to keep: the solve below holds on to slices of it.
        di_bounds = 1.0 / d[: n + nu]
        di2_bounds = di_bounds * di_bounds
        d_rows = d[n + nu :]
        delta = di2_bounds[:n].copy()
        if nu:
            delta[upper_index] += di2_bounds[n:]
        inv = 1.0 / delta
        inv_tail = inv[m:]
        loadings = qp.segment_loadings
        k = loadings.shape[1]
        r = rows.shape[0]
        segments = len(starts)
        tail = self.tail_rows

        if m:
            a = inv[:m]
            # The pivot of a segment: its most interior variable (first on ties).
            seg_max = np.maximum.reduceat(a, starts)
            at_max = (a == seg_max.take(segment_of)).nonzero()[0]
            if len(at_max) == segments:  # one maximum per segment: the usual case
                pivots = at_max
            else:
                seg_at = segment_of.take(at_max)
                first = np.ones(len(at_max), dtype=bool)
                first[1:] = seg_at[1:] != seg_at[:-1]
                pivots = at_max[first]
            is_pivot = np.zeros(m, dtype=bool)
            is_pivot[pivots] = True
            others_idx = (~is_pivot).nonzero()[0]
            others_seg = segment_of[others_idx]
            alpha = qp.segment_alpha
            a_pivot = a[pivots]
            rest = np.bincount(others_seg, a[others_idx], segments)  # sum of a without the pivot
            total = a_pivot + rest
            one_plus = 1.0 + alpha * total
            ua = u * a
            g = ua / one_plus[segment_of]  # H0^-1 u, segment by segment
            kappa = total / one_plus  # u' H0^-1 u
            # The pivot's own row, written so that its dominant term never cancels.
            pivot_scale = 1.0 / (delta[pivots] * one_plus)
            pivot_self = (1.0 + alpha * rest) * pivot_scale
            pivot_rest = alpha * u[pivots] * pivot_scale
            g_pivot = g[pivots]

            if k:
                capacitance = loadings.T @ (kappa[:, None] * loadings)
                capacitance.flat[:: k + 1] += 1.0
                chol_factors = _cholesky(capacitance)

            def inverse_h_segments(v: np.ndarray, woodbury: bool = True) -> np.ndarray:
                """(H0 + M' Lambda Lambda' M)^-1 on the segmented part of v (H0 alone
                without ``woodbury``).

                With w = u a v: out = a v - g * (alpha * W + F)[segment], W the segment
                sums of w and F the factor correction; at a pivot the same with its own
                term taken out of W before, not after, the sum."""
                w = ua * v
                others = np.bincount(others_seg, w[others_idx], segments)
                everyone = others + w[pivots]
                if woodbury and k:
                    f = loadings @ _cholesky_solve(chol_factors, (everyone / one_plus) @ loadings)
                    out = a * v - g * (alpha * everyone + f)[segment_of]
                    out[pivots] = pivot_self * v[pivots] - pivot_rest * others - g_pivot * f
                else:
                    out = a * v - g * (alpha * everyone)[segment_of]
                    out[pivots] = pivot_self * v[pivots] - pivot_rest * others
                return out

            # Schur complement of the dense rows: rows H~^-1 rows' + W_rows^2, assembled
            # at the security level plus the low-rank residual (rows = C M + E D).
            C = self.row_segments
            E, D = self.residual_basis, self.residual_mix
            if E.shape[1]:
                # inverse_h_segments(column, woodbury=False) for all columns at once:
                # segment sums by reduceat, the pivot's own term zeroed out of them.
                w = ua[:, None] * E
                w_pivots = w.take(pivots, axis=0)  # take: rows of a 2-D array, faster than w[pivots]
                w[pivots] = 0.0
                others_e = np.add.reduceat(w, starts, axis=0)
                h0_e = a[:, None] * E
                h0_e -= g[:, None] * (alpha[:, None] * (others_e + w_pivots)).take(segment_of, axis=0)
                h0_e[pivots] = pivot_self[:, None] * E.take(pivots, axis=0) - pivot_rest[:, None] * others_e
                g_sums = np.add.reduceat(g[:, None] * E, starts, axis=0)
                B = g_sums @ D
                residual_part = D.T @ (E.T @ h0_e) @ D
            else:
                h0_e = np.zeros((m, 0))
                B = np.zeros((segments, r))
                residual_part = 0.0
            rows_h0_m = C * kappa + B.T  # rows H0^-1 M'  (r x S)
            schur = rows_h0_m @ C.T + C @ B + residual_part
            if k:
                rows_y = rows_h0_m @ loadings  # rows H0^-1 M' Lambda
                correction = _cholesky_solve(chol_factors, rows_y.T)  # (k x r)
                schur -= rows_y @ correction
                # H~^-1 rows' v on the segments = g * (Z v)[segment] + (H0^-1 E) D v
                z_rows = C.T - loadings @ correction
            else:
                z_rows = C.T
            tail_t = self.tail_t

            def inverse_h(v: np.ndarray) -> np.ndarray:
                out = np.empty(n)
                out[:m] = inverse_h_segments(v[:m])
                out[m:] = v[m:] * inv_tail
                return out

            def inverse_h_rows(v: np.ndarray) -> np.ndarray:
                out = np.empty(n)
                out[:m] = g * (z_rows @ v)[segment_of] + h0_e @ (D @ v)
                out[m:] = (tail_t @ v) * inv_tail
                return out

        else:

            def inverse_h(v: np.ndarray) -> np.ndarray:
                return v * inv

            def inverse_h_rows(v: np.ndarray) -> np.ndarray:
                return inverse_h(rows_t @ v)

            schur = np.zeros((r, r))

        if tail.shape[1]:
            schur += (tail * inv_tail) @ tail.T
        if r:
            schur = (schur + schur.T) * 0.5
            schur.flat[:: r + 1] += d_rows * d_rows
            chol_rows = _cholesky(schur)

        return _kkt_solve(n, nu, upper_index, rows, d_rows, di_bounds, di2_bounds,
                          chol_rows if r else None, inverse_h, inverse_h_rows)


def _kkt_solve(n, nu, upper_index, rows, d_rows, di_bounds, di2_bounds, chol_rows, inverse_h, inverse_h_rows):
    """cvxopt's KKT solve, given H^-1 (as `inverse_h`, and on the dense rows as
    `inverse_h_rows`) and the Cholesky factor of the rows' Schur complement: the dense
    rows are eliminated by that complement, the bounds by their scaling."""

    def solve(bx: np.ndarray, bz: np.ndarray) -> None:
        bound_z = di2_bounds * bz[: n + nu]
        r1 = bx - bound_z[:n]
        if nu:
            r1[upper_index] += bound_z[n:]
        ux = inverse_h(r1)
        if chol_rows is not None:
            v_rows = _cholesky_solve(chol_rows, rows @ ux - bz[n + nu :])
            ux -= inverse_h_rows(v_rows)
            bz[n + nu :] = d_rows * v_rows
        gx = np.empty(n + nu)
        np.negative(ux, out=gx[:n])
        gx[n:] = ux[upper_index]
        gx -= bz[: n + nu]
        gx *= di_bounds
        bz[: n + nu] = gx
        bx[:] = ux

    return solve


class DenseKKT:
    """The same KKT system for small problems, with the Hessian as a dense matrix.

    Below a few hundred variables one LAPACK Cholesky of P + diag(delta) costs less
    than the dozens of numpy calls the structured path makes. The dense rows are kept
    out of it just the same (Schur complement with -W^2), for the same reason: with
    H = L L' and Y = L^-1 rows', the complement is Y'Y + W_rows^2."""

    def __init__(self, qp: StructuredQP) -> None:
        self.qp = qp
        n = self.n = qp.size
        nu = self.nu = len(qp.upper_index)
        self.hessian = qp.dense_hessian()
        self.rows_t = np.ascontiguousarray(qp.rows.T)
        # Fortran order, as LAPACK takes it (no copy per factorisation).
        self.rows_f = np.asfortranarray(qp.rows.T)
        self.diagonal = np.arange(n) * (n + 1)
        # The bound rows of G: variable and sign of each (-1 lower, +1 upper), so that
        # G_bounds' v and G_bounds x are one bincount and one gather.
        self.bound_variable = np.concatenate([np.arange(n), qp.upper_index]).astype(np.intp)
        self.bound_sign = np.concatenate([-np.ones(n), np.ones(nu)])

    def factor(self, d: np.ndarray):
        n, nu = self.n, self.nu
        nb = n + nu
        r = self.rows_t.shape[1]
        bound_variable, bound_sign = self.bound_variable, self.bound_sign
        di_bounds = 1.0 / d[:nb]
        di2_bounds = di_bounds * di_bounds
        signed_di2 = bound_sign * di2_bounds
        d_rows = d[nb:]
        h = self.hessian.copy()
        h.reshape(-1)[self.diagonal] += np.bincount(bound_variable, di2_bounds, n)
        # LAPACK directly (scipy's wrappers cost more than these small matrices do).
        # h is symmetric: its transpose is the Fortran-order array LAPACK factors in
        # place (no copy), and the upper triangle is left as is (never read).
        chol, info = lapack.dpotrf(h.T, lower=1, clean=0, overwrite_a=1)
        if info != 0:
            chol = _cholesky(self.hessian + np.diag(np.bincount(bound_variable, di2_bounds, n)))
        potrs, trtrs = lapack.dpotrs, lapack.dtrtrs
        if r:
            y_rows, info = trtrs(chol, self.rows_f, lower=1)
            if info != 0:
                raise ArithmeticError("KKT solve failed")
            y_rows_t = np.ascontiguousarray(y_rows.T)
            schur = y_rows_t @ y_rows
            schur.flat[:: r + 1] += d_rows * d_rows
            chol_rows = _cholesky(schur)

        def solve(bx: np.ndarray, bz: np.ndarray) -> None:
            bounds_z = bz[:nb]
            r1 = bx + np.bincount(bound_variable, signed_di2 * bounds_z, n)
            y, info = trtrs(chol, r1, lower=1)
            if r:
                v_rows, info_rows = potrs(chol_rows, y_rows_t @ y - bz[nb:], lower=1)
                if info_rows != 0:
                    raise ArithmeticError("KKT solve failed")
                y -= y_rows @ v_rows
                bz[nb:] = d_rows * v_rows
            ux, info_t = trtrs(chol, y, lower=1, trans=1)
            if info or info_t:
                raise ArithmeticError("KKT solve failed")
            gx = ux.take(bound_variable)
            gx *= bound_sign
            gx -= bounds_z
            gx *= di_bounds
            bz[:nb] = gx
            bx[:] = ux

        return solve


# The cvxopt reference's default KKT solver: below this many variables the dense one is
# faster (measured: about 2x at 80 variables, even near 160); above it the structured
# one wins and scales linearly.
DENSE_KKT_LIMIT = 150


class _Operators:
    """P, G and G' of the problem as numpy products (G = [-I; I[upper]; rows])."""

    def __init__(self, qp: StructuredQP, kkt) -> None:
        self.n, self.nu = qp.size, len(qp.upper_index)
        self.upper_index, self.rows, self.rows_t = qp.upper_index, qp.rows, kkt.rows_t
        self.segmented, self.u = qp.segmented, qp.signs
        self.segments = len(qp.segment_starts)
        self.segment_of = qp.segment_of
        self.specific, self.loadings = qp.segment_alpha, qp.segment_loadings
        self.dense = getattr(kkt, "hessian", None)
        if self.dense is not None:
            # Small problems: G as a dense matrix, one BLAS call each way.
            g = np.zeros((self.n + self.nu + self.rows.shape[0], self.n))
            g.reshape(-1)[np.arange(self.n) * (self.n + 1)] = -1.0
            g[self.n + np.arange(self.nu), self.upper_index] = 1.0
            g[self.n + self.nu :] = self.rows
            self.g, self.g_t = g, np.ascontiguousarray(g.T)
            self.inequalities = self.g.__matmul__
            self.inequalities_t = self.g_t.__matmul__

    def hessian(self, x: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense @ x
        out = np.zeros(self.n)
        if self.segmented:
            t = np.bincount(self.segment_of, self.u * x[: self.segmented], self.segments)
            qt = self.specific * t + self.loadings @ (t @ self.loadings)
            out[: self.segmented] = self.u * qt[self.segment_of]
        return out

    def inequalities(self, x: np.ndarray) -> np.ndarray:
        n, nu = self.n, self.nu
        out = np.empty(n + nu + self.rows.shape[0])
        np.negative(x, out=out[:n])
        out[n : n + nu] = x[self.upper_index]
        out[n + nu :] = self.rows @ x
        return out

    def inequalities_t(self, v: np.ndarray) -> np.ndarray:
        n, nu = self.n, self.nu
        out = self.rows_t @ v[n + nu :]
        out -= v[:n]
        if nu:
            out[self.upper_index] += v[n : n + nu]
        return out


def _cvxopt(qp: StructuredQP, kkt, start: dict | None, opts: dict) -> QPSolution:
    """The same problem through cvxopt's ``coneqp``, with ``kkt`` (``StructuredKKT``, the
    compiled kernel's algebra in numpy, or ``DenseKKT``) as its KKT solver: the
    reference the compiled interior point is checked against."""
    from cvxopt import matrix, solvers

    ops = _Operators(qp, kkt)
    n, nu = ops.n, ops.nu

    # cvxopt's operator interface: y := alpha * P x + beta * y (keywords as named).
    def hessian(x, y, alpha=1.0, beta=0.0) -> None:
        _combine(np.frombuffer(y, dtype=np.float64), ops.hessian(np.frombuffer(x, dtype=np.float64)), alpha, beta)

    def inequalities(x, y, trans="N", alpha=1.0, beta=0.0) -> None:
        xv = np.frombuffer(x, dtype=np.float64)
        product = ops.inequalities(xv) if trans == "N" else ops.inequalities_t(xv)
        _combine(np.frombuffer(y, dtype=np.float64), product, alpha, beta)

    def factor(W):
        # A copy: cvxopt updates W in place, the solve keeps using its scaling.
        solve = kkt.factor(np.array(W["d"], dtype=np.float64).ravel())

        def cvxopt_solve(x, _y, z) -> None:
            solve(np.frombuffer(x, dtype=np.float64), np.frombuffer(z, dtype=np.float64))

        return cvxopt_solve

    initvals = None
    if start is not None:
        initvals = {"x": matrix(start["x"]), "s": matrix(start["s"]), "z": matrix(start["z"])}
    options = {key: opts[key] for key in ("show_progress", "abstol", "reltol", "feastol", "maxiters", "refinement")}
    result = solvers.coneqp(
        hessian, matrix(qp.q), inequalities, matrix(qp.inequality_rhs()), kktsolver=factor, initvals=initvals, options=options
    )
    return QPSolution(
        z=np.array(result["x"], dtype=np.float64).ravel(),
        status=str(result["status"]),
        iterations=int(result["iterations"]),
        slacks=np.array(result["s"], dtype=np.float64).ravel(),
        duals=np.array(result["z"], dtype=np.float64).ravel(),
    )


def _combine(y: np.ndarray, product: np.ndarray, alpha: float, beta: float) -> None:
    if beta == 0.0:
        np.multiply(product, alpha, out=y)
    else:
        y *= beta
        y += alpha * product


# kernel.py's status codes (kept here too: importing kernel.py imports numba).
_OPTIMAL, _SINGULAR_AT_START = 0, 2


@lru_cache(maxsize=1)
def compiled_interior_point():
    """``kernel.interior_point`` as setup.py compiled it ahead of time (a plain extension
    module: numba is not imported), else compiled by numba now (cached on disk)."""
    try:
        from lotline.domain.optimiser._kernel import interior_point
    except ImportError:
        from lotline.domain.optimiser.kernel import interior_point
    return interior_point


def _interior_point(qp: StructuredQP, start: dict | None, opts: dict) -> QPSolution:
    """The interior-point method with the structured KKT solve, compiled
    (``kernel.interior_point``): one call per solve, given the rows split as
    ``StructuredKKT`` takes them (``split_rows``)."""
    if qp.segmented and not (qp.segment_lengths > 0).all():
        # The kernel indexes without bounds checks: a malformed layout must not reach it.
        raise ValueError("every segment needs at least one variable")
    row_segments, residual_basis, residual_mix, tail_rows = split_rows(qp)
    h = qp.inequality_rhs()
    cone = len(h)
    if start is None:
        x, s, z = np.zeros(qp.size), np.zeros(cone), np.zeros(cone)
    else:
        x = np.array(start["x"], dtype=np.float64)
        s = np.array(start["s"], dtype=np.float64)
        z = np.array(start["z"], dtype=np.float64)
        if cone and (s.min() <= 0.0 or z.min() <= 0.0):
            raise ValueError("initial s and z must be strictly positive")
    contiguous = np.ascontiguousarray
    status, iterations = compiled_interior_point()(
        contiguous(qp.q, dtype=np.float64),
        h,
        contiguous(qp.signs, dtype=np.float64),
        contiguous(qp.segment_of, dtype=np.int64),
        contiguous(qp.segment_alpha, dtype=np.float64),
        contiguous(qp.segment_loadings, dtype=np.float64),
        contiguous(qp.upper_index, dtype=np.int64),
        contiguous(qp.rows, dtype=np.float64),
        contiguous(row_segments, dtype=np.float64),
        contiguous(residual_basis, dtype=np.float64),
        contiguous(residual_mix, dtype=np.float64),
        contiguous(tail_rows, dtype=np.float64),
        x,
        s,
        z,
        start is None,
        float(opts["abstol"]),
        float(opts["reltol"]),
        float(opts["feastol"]),
        int(opts["maxiters"]),
    )
    if status == _SINGULAR_AT_START:
        raise ValueError("the KKT system is singular at the starting point")
    return QPSolution(z=x, status="optimal" if status == _OPTIMAL else "unknown", iterations=int(iterations),
                      slacks=s, duals=z)


def solve_structured(qp: StructuredQP, options: dict | None = None, start: dict | None = None) -> QPSolution:
    """Solve with the compiled interior-point method and structured KKT solve.
    ``start`` (x, s, z as arrays) warm-starts from a nearby solution, e.g. the
    previous solve of the day. Options: the tolerances of ``DEFAULT_SOLVER_OPTIONS``;
    ``"solver": "cvxopt"`` for cvxopt's ``coneqp`` instead, the reference, with
    ``"kkt"`` ``"dense"`` / ``"structured"`` its KKT solver."""
    opts = {**DEFAULT_SOLVER_OPTIONS, **(options or {})}
    if qp.size == 0:  # nothing to decide: the rows hold or they cannot
        h = qp.inequality_rhs()
        status = "optimal" if np.all(h >= 0.0) else "infeasible"
        return QPSolution(z=np.zeros(0), status=status, iterations=0, slacks=h, duals=np.zeros(len(h)))
    kkt_kind = opts.pop("kkt", "dense" if qp.size <= DENSE_KKT_LIMIT else "structured")
    if opts.pop("solver", "interior") != "cvxopt":
        return _interior_point(qp, start, opts)
    return _cvxopt(qp, DenseKKT(qp) if kkt_kind == "dense" else StructuredKKT(qp), start, opts)
