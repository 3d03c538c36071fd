"""A QP solver for the shape every rebalancing problem has, on cvxopt's interior point.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack
from cvxopt import matrix, solvers, spmatrix

# The objective is in fractions of account value: 1e-10 is a cent per $100M. Tight
# enough that this solver and Clarabel agree on the objective to ~1e-8 relative.
DEFAULT_SOLVER_OPTIONS = {
    "show_progress": False,
    "abstol": 1e-10,
    "reltol": 1e-9,
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

    @property
    def segment_lengths(self) -> np.ndarray:
        return np.diff(np.append(self.segment_starts, self.segmented))

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
        """M as a dense matrix: for tests only."""
        m = np.zeros((len(self.segment_starts), self.size))
        for s, (start, length) in enumerate(zip(self.segment_starts, self.segment_lengths)):
            m[s, start : start + length] = self.signs[start : start + length]
        return m

    def dense_hessian(self) -> np.ndarray:
        """The matrix the structure stands for: for tests only."""
        m = self.aggregation()
        q = np.diag(self.segment_alpha) + self.segment_loadings @ self.segment_loadings.T
        return m.T @ q @ m

    def inequality_matrix(self) -> spmatrix:
        """G of cvxopt's G z <= h: lower bounds, upper bounds, then the dense rows."""
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


@dataclass(frozen=True)
class QPSolution:
    z: np.ndarray
    status: str
    iterations: int
    row_duals: np.ndarray  # multipliers of the dense rows


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
    numbers. ``inverse_h0`` leaves each variable's own term out of its segment sums
    (pivoting on the segment's most interior variable), so nothing cancels in the
    common case of at most one interior variable per security.
    """

    def __init__(self, qp: StructuredQP) -> None:
        self.qp = qp
        self.n = qp.size
        self.nu = len(qp.upper_index)
        self.m = qp.segmented
        self.lengths = qp.segment_lengths
        self.segment_of = np.repeat(np.arange(len(qp.segment_starts)), self.lengths)
        m = self.m
        rows = qp.rows
        if m:
            # rows[:, :m] = C M + R with C per security; R is zero for class rows.
            starts = qp.segment_starts
            self.row_segments = rows[:, starts] * qp.signs[starts]  # C (r x S)
            residual = rows[:, :m] - self.row_segments[:, self.segment_of] * qp.signs
            self.residual_rows = np.flatnonzero(np.any(residual != 0.0, axis=1))
            self.residual = np.ascontiguousarray(residual[self.residual_rows].T)  # (m x r_res)
        else:
            self.row_segments = np.zeros((rows.shape[0], 0))
            self.residual_rows = np.zeros(0, dtype=np.intp)
            self.residual = np.zeros((0, 0))
        self.tail_rows = rows[:, m:]  # columns outside the segments (slacks)

    def factor(self, W):
        qp = self.qp
        n, nu, m = self.n, self.nu, self.m
        lengths = self.lengths
        starts = qp.segment_starts
        u = qp.signs
        rows = qp.rows
        di = np.frombuffer(W["di"], dtype=np.float64).copy()
        d_rows = np.frombuffer(W["d"], dtype=np.float64)[n + nu :].copy()
        di2 = di * di
        delta = di2[:n].copy()
        if nu:
            delta[qp.upper_index] += di2[n : n + nu]
        inv = 1.0 / delta
        inv_tail = inv[m:]
        loadings = qp.segment_loadings
        k = loadings.shape[1]

        if m:
            a = inv[:m]
            seg_max = np.maximum.reduceat(a, starts)
            at_max = np.flatnonzero(a == np.repeat(seg_max, lengths))
            seg_at = self.segment_of[at_max]
            first = np.ones(len(at_max), dtype=bool)
            first[1:] = seg_at[1:] != seg_at[:-1]
            pivots = at_max[first]
            is_pivot = np.zeros(m, dtype=bool)
            is_pivot[pivots] = True
            not_pivot = ~is_pivot
            alpha_seg = qp.segment_alpha
            alpha = np.repeat(alpha_seg, lengths)
            rest_seg = np.add.reduceat(np.where(is_pivot, 0.0, a), starts)
            a_pivot = np.repeat(a[pivots], lengths)
            rest = np.repeat(rest_seg, lengths)
            leave_one_out = np.where(is_pivot, rest, a_pivot + (rest - a))
            total_seg = a[pivots] + rest_seg
            one_plus = 1.0 + alpha_seg * total_seg
            denominator = delta[:m] * np.repeat(one_plus, lengths)
            # H0^-1 applied to u (per segment), and u' H0^-1 u
            g = u * a / np.repeat(one_plus, lengths)
            kappa = total_seg / one_plus

            def segment_inverse(v: np.ndarray) -> np.ndarray:
                """H0^-1 on the segmented part, for v of shape (m,) or (m, c)."""
                if v.ndim == 1:
                    w = u * a * v
                    w_rest = np.repeat(np.add.reduceat(np.where(is_pivot, 0.0, w), starts), lengths)
                    w_loo = np.where(is_pivot, w_rest, np.repeat(w[pivots], lengths) + (w_rest - w))
                    return (v + alpha * (v * leave_one_out - u * w_loo)) / denominator
                col = (slice(None), None)
                w = (u * a)[col] * v
                w_rest = np.repeat(np.add.reduceat(w * not_pivot[col], starts, axis=0), lengths, axis=0)
                w_loo = np.where(is_pivot[col], w_rest, np.repeat(w[pivots], lengths, axis=0) + (w_rest - w))
                return (v + alpha[col] * (v * leave_one_out[col] - u[col] * w_loo)) / denominator[col]

            if k:
                capacitance = loadings.T @ (kappa[:, None] * loadings)
                capacitance[np.diag_indices_from(capacitance)] += 1.0
                chol_factors = _cholesky(capacitance)

            def inverse_h(v: np.ndarray) -> np.ndarray:
                """(H0 + M' Lambda Lambda' M)^-1 v for a vector v."""
                out = np.empty(n)
                out[:m] = segment_inverse(v[:m])
                out[m:] = v[m:] * inv_tail
                if k:
                    t = loadings.T @ np.add.reduceat(g * v[:m], starts)
                    w = loadings @ _cholesky_solve(chol_factors, t)
                    out[:m] -= g * np.repeat(w, lengths)
                return out

            # Schur complement of the dense rows: rows H~^-1 rows' + W_rows^2, assembled
            # at the security level plus the few residual (lot-level) rows.
            C = self.row_segments
            res_idx = self.residual_rows
            if len(res_idx):
                R = self.residual
                B = np.zeros((len(starts), rows.shape[0]))
                B[:, res_idx] = np.add.reduceat(g[:, None] * R, starts, axis=0)
                rr = R.T @ segment_inverse(R)
            else:
                B = np.zeros((len(starts), rows.shape[0]))
                rr = None
            rows_h0_m = C * kappa + B.T  # rows H0^-1 M'  (r x S)
            schur = rows_h0_m @ C.T + C @ B
            if rr is not None:
                schur[np.ix_(res_idx, res_idx)] += rr
            if k:
                rows_y = rows_h0_m @ loadings  # rows H0^-1 M' Lambda
                schur -= rows_y @ _cholesky_solve(chol_factors, rows_y.T)
        else:

            def inverse_h(v: np.ndarray) -> np.ndarray:
                return v * inv

            schur = np.zeros((rows.shape[0], rows.shape[0]))

        tail = self.tail_rows
        if tail.shape[1]:
            schur += (tail * inv_tail) @ tail.T
        has_rows = rows.shape[0] > 0
        if has_rows:
            schur = (schur + schur.T) * 0.5
            schur[np.diag_indices_from(schur)] += d_rows * d_rows
            chol_rows = _cholesky(schur)

        def solve(x, _y, z) -> None:
            bx = np.frombuffer(x, dtype=np.float64)
            bz = np.frombuffer(z, dtype=np.float64)
            bound_z = di2[: n + nu] * bz[: n + nu]
            r1 = bx - bound_z[:n]
            if nu:
                r1[qp.upper_index] += bound_z[n:]
            ux = inverse_h(r1)
            if has_rows:
                v_rows = _cholesky_solve(chol_rows, rows @ ux - bz[n + nu :])
                ux -= inverse_h(rows.T @ v_rows)
                uz_rows = d_rows * v_rows
            else:
                uz_rows = np.zeros(0)
            uz_bounds = di[: n + nu] * (np.concatenate([-ux, ux[qp.upper_index]]) - bz[: n + nu])
            bx[:] = ux
            bz[: n + nu] = uz_bounds
            bz[n + nu :] = uz_rows

        return solve


def solve_structured(qp: StructuredQP, options: dict | None = None) -> QPSolution:
    opts = dict(DEFAULT_SOLVER_OPTIONS)
    if options:
        opts.update(options)
    kkt = StructuredKKT(qp)

    def hessian(x, y, alpha=1.0, beta=0.0) -> None:
        xv = np.frombuffer(x, dtype=np.float64)
        yv = np.frombuffer(y, dtype=np.float64)
        product = qp.hessian_times(xv)
        if beta == 0.0:
            yv[:] = alpha * product
        else:
            yv *= beta
            yv += alpha * product

    result = solvers.coneqp(
        hessian,
        matrix(qp.q),
        qp.inequality_matrix(),
        matrix(qp.inequality_rhs()),
        kktsolver=kkt.factor,
        options=opts,
    )
    z = np.array(result["x"], dtype=np.float64).ravel()
    duals = np.array(result["z"], dtype=np.float64).ravel()
    return QPSolution(
        z=z,
        status=str(result["status"]),
        iterations=int(result["iterations"]),
        row_duals=duals[qp.size + len(qp.upper_index) :],
    )
