"""The optimiser's interior-point method and its structured KKT solve, compiled.

Why compiled: at the sizes of real accounts (tens to a few hundred variables) an
iteration's arithmetic is a few microseconds, and the same iteration in numpy was about
a hundred calls of a microsecond each. Compiled with numba, one solve is one call. The
algorithm is cvxopt's ``coneqp`` on the nonnegative orthant (cvxopt is the tests'
reference), the KKT algebra that of ``qp.StructuredKKT`` (see its docstring for why
each step is written as it is) as loops over segments.

Deterministic: plain loops in a fixed order, no threads, no fast-math, no BLAS (the same
bits whatever BLAS the machine has).

``setup.py`` compiles ``interior_point`` ahead of time (numba's pycc, signature
``INTERIOR_POINT_SIGNATURE``) into ``_kernel``, which ``qp.compiled_interior_point``
prefers: importing numba and loading its cache would cost a process about 0.45 s.
Without it, numba compiles this source on first use (about ten seconds; ``cache=True``
keeps the machine code for later processes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

OPTIMAL = 0
UNKNOWN = 1
SINGULAR_AT_START = 2

_STEP = 0.99


# Small dense products as loops: no BLAS (the same bits whatever BLAS the machine has),
# and far less for numba to compile than its generic ``@``.
@njit(cache=True, error_model="numpy")
def _mm(a, b):
    """a @ b"""
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            t = a[i, p]
            for j in range(b.shape[1]):
                out[i, j] += t * b[p, j]
    return out


@njit(cache=True, error_model="numpy")
def _mtm(a, b):
    """a' @ b"""
    out = np.zeros((a.shape[1], b.shape[1]))
    for p in range(a.shape[0]):
        for i in range(a.shape[1]):
            t = a[p, i]
            for j in range(b.shape[1]):
                out[i, j] += t * b[p, j]
    return out


@njit(cache=True, error_model="numpy")
def _mmt(a, b):
    """a @ b'"""
    out = np.zeros((a.shape[0], b.shape[0]))
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            t = 0.0
            for p in range(a.shape[1]):
                t += a[i, p] * b[j, p]
            out[i, j] = t
    return out


@njit(cache=True, error_model="numpy")
def _dot(a, b):
    t = 0.0
    for i in range(a.shape[0]):
        t += a[i] * b[i]
    return t


@njit(cache=True, error_model="numpy")
def _mv(a, v):
    """a @ v"""
    out = np.zeros(a.shape[0])
    for i in range(a.shape[0]):
        t = 0.0
        for p in range(a.shape[1]):
            t += a[i, p] * v[p]
        out[i] = t
    return out


@njit(cache=True, error_model="numpy")
def _mtv(a, v):
    """a' @ v"""
    out = np.zeros(a.shape[1])
    for p in range(a.shape[0]):
        t = v[p]
        for i in range(a.shape[1]):
            out[i] += a[p, i] * t
    return out


@njit(cache=True, error_model="numpy")
def _cholesky_plain(a, factor):
    n = a.shape[0]
    for j in range(n):
        for i in range(n):
            factor[j, i] = 0.0
    for j in range(n):
        pivot = a[j, j]
        for p in range(j):
            pivot -= factor[j, p] * factor[j, p]
        if not pivot > 0.0:
            return False
        root = np.sqrt(pivot)
        factor[j, j] = root
        for i in range(j + 1, n):
            t = a[i, j]
            for p in range(j):
                t -= factor[i, p] * factor[j, p]
            factor[i, j] = t / root
    return True


@njit(cache=True, error_model="numpy")
def _cholesky(a, factor):
    """The lower Cholesky factor of a, into factor; False when singular even after a
    jitter (LAPACK's dpotrf would refuse it the same way)."""
    if _cholesky_plain(a, factor):
        return True
    # Rounding can leave a semidefinite Schur complement a hair short of definite.
    n = a.shape[0]
    trace = 0.0
    for i in range(n):
        trace += a[i, i]
    jitter = 1e-14 * max(trace / max(n, 1), 1e-300)
    shifted = a.copy()
    for i in range(n):
        shifted[i, i] += jitter
    return _cholesky_plain(shifted, factor)


@njit(cache=True, error_model="numpy")
def _cholesky_solve(factor, b):
    """factor factor' x = b for a vector b."""
    n = factor.shape[0]
    y = b.copy()
    for i in range(n):
        t = y[i]
        for p in range(i):
            t -= factor[i, p] * y[p]
        y[i] = t / factor[i, i]
    for i in range(n - 1, -1, -1):
        t = y[i]
        for p in range(i + 1, n):
            t -= factor[p, i] * y[p]
        y[i] = t / factor[i, i]
    return y


@njit(cache=True, error_model="numpy")
def _add(target, other, sign):
    for i in range(target.shape[0]):
        for j in range(target.shape[1]):
            target[i, j] += sign * other[i, j]


@njit(cache=True, error_model="numpy")
def _shift_inside(v):
    """cvxopt's start: shift v strictly inside the cone when it is not."""
    if v.shape[0] == 0:
        return
    smallest = v[0]
    for i in range(v.shape[0]):
        smallest = min(smallest, v[i])
    shift = -smallest
    if shift >= -1e-8 * max(np.sqrt(_dot(v, v)), 1.0):
        for i in range(v.shape[0]):
            v[i] += 1.0 + shift


@njit(cache=True, error_model="numpy")
def _transpose(a):
    out = np.empty((a.shape[1], a.shape[0]))
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[j, i] = a[i, j]
    return out


@njit(cache=True, error_model="numpy")
def _cholesky_solve_columns(factor, b):
    """factor factor' X = b, column by column."""
    n = factor.shape[0]
    out = b.copy()
    for c in range(b.shape[1]):
        for i in range(n):
            t = out[i, c]
            for p in range(i):
                t -= factor[i, p] * out[p, c]
            out[i, c] = t / factor[i, i]
        for i in range(n - 1, -1, -1):
            t = out[i, c]
            for p in range(i + 1, n):
                t -= factor[p, i] * out[p, c]
            out[i, c] = t / factor[i, i]
    return out


@njit(cache=True, error_model="numpy")
def _segment_sums(values, segment_of, segments):
    out = np.zeros(segments)
    for i in range(values.shape[0]):
        out[segment_of[i]] += values[i]
    return out


@njit(cache=True, error_model="numpy")
def _factor(d, n, nu, m, upper_index, signs, segment_of, alpha, loadings, rows, row_segments, residual_basis,
            residual_mix, tail_rows, scaled, per_variable, per_segment, pivots, is_pivot, cap_factor, h0_e, z_rows,
            rows_factor):
    """The KKT system's factorisation for scaling d (``StructuredKKT.factor``), into the
    work arrays: ``scaled`` (1/d, 1/d^2 of the bounds; the rows' d; 1/delta of the
    tail), ``per_variable`` (a, g, u a), ``per_segment`` (1 + alpha total, kappa, the
    pivot's own and rest coefficients, g at the pivot, rest). False when singular."""
    k = loadings.shape[1]
    r = rows.shape[0]
    e = residual_basis.shape[1]
    segments = alpha.shape[0]
    nb = n + nu
    di, di2, d_rows, inv_tail = scaled[0], scaled[1], scaled[2], scaled[3]
    a, g, ua = per_variable[0], per_variable[1], per_variable[2]
    one_plus, kappa, pivot_self = per_segment[0], per_segment[1], per_segment[2]
    pivot_rest, g_pivot, rest = per_segment[3], per_segment[4], per_segment[5]
    for i in range(nb):
        di[i] = 1.0 / d[i]
        di2[i] = di[i] * di[i]
    for i in range(r):
        d_rows[i] = d[nb + i]
    delta = np.empty(n)
    for i in range(n):
        delta[i] = di2[i]
    for j in range(nu):
        delta[upper_index[j]] += di2[n + j]
    for i in range(m, n):
        inv_tail[i - m] = 1.0 / delta[i]
    for i in range(m):
        a[i] = 1.0 / delta[i]
    # The pivot of a segment: its most interior variable (first on ties).
    for s in range(segments):
        pivots[s] = -1
        rest[s] = 0.0
    for i in range(m):
        s = segment_of[i]
        is_pivot[i] = False
        if pivots[s] < 0 or a[i] > a[pivots[s]]:
            pivots[s] = i
    for s in range(segments):
        is_pivot[pivots[s]] = True
    for i in range(m):
        if not is_pivot[i]:
            rest[segment_of[i]] += a[i]
    for s in range(segments):
        p = pivots[s]
        total = a[p] + rest[s]
        one_plus[s] = 1.0 + alpha[s] * total
        kappa[s] = total / one_plus[s]
        scale = 1.0 / (delta[p] * one_plus[s])
        pivot_self[s] = (1.0 + alpha[s] * rest[s]) * scale
        pivot_rest[s] = alpha[s] * signs[p] * scale
    for i in range(m):
        ua[i] = signs[i] * a[i]
        g[i] = ua[i] / one_plus[segment_of[i]]
    for s in range(segments):
        g_pivot[s] = g[pivots[s]]

    capacitance = np.zeros((k, k))
    for i in range(k):
        capacitance[i, i] = 1.0
    for s in range(segments):
        for i in range(k):
            t = kappa[s] * loadings[s, i]
            for j in range(k):
                capacitance[i, j] += t * loadings[s, j]
    if not _cholesky(capacitance, cap_factor):
        return False

    # Schur complement of the dense rows (see StructuredKKT.factor).
    b_matrix = np.zeros((segments, r))
    residual_part = np.zeros((r, r))
    if e and m:
        w = np.empty((m, e))
        for i in range(m):
            for c in range(e):
                w[i, c] = ua[i] * residual_basis[i, c]
        w_pivots = np.empty((segments, e))
        for s in range(segments):
            for c in range(e):
                w_pivots[s, c] = w[pivots[s], c]
                w[pivots[s], c] = 0.0
        others_e = np.zeros((segments, e))
        g_sums = np.zeros((segments, e))
        for i in range(m):
            s = segment_of[i]
            for c in range(e):
                others_e[s, c] += w[i, c]
                g_sums[s, c] += g[i] * residual_basis[i, c]
        for i in range(m):
            s = segment_of[i]
            for c in range(e):
                h0_e[i, c] = a[i] * residual_basis[i, c] - g[i] * (alpha[s] * (others_e[s, c] + w_pivots[s, c]))
        for s in range(segments):
            p = pivots[s]
            for c in range(e):
                h0_e[p, c] = pivot_self[s] * residual_basis[p, c] - pivot_rest[s] * others_e[s, c]
        b_matrix = _mm(g_sums, residual_mix)
        residual_part = _mtm(residual_mix, _mm(_mtm(residual_basis, h0_e), residual_mix))
    rows_h0_m = np.empty((r, segments))
    for i in range(r):
        for s in range(segments):
            rows_h0_m[i, s] = row_segments[i, s] * kappa[s] + b_matrix[s, i]
            z_rows[s, i] = row_segments[i, s]
    schur = _mmt(rows_h0_m, row_segments)
    _add(schur, _mm(row_segments, b_matrix), 1.0)
    _add(schur, residual_part, 1.0)
    if k:
        rows_y = _mm(rows_h0_m, loadings)  # (r x k)
        correction = _cholesky_solve_columns(cap_factor, _transpose(rows_y))  # (k x r)
        _add(schur, _mm(rows_y, correction), -1.0)
        _add(z_rows, _mm(loadings, correction), -1.0)
    for i in range(r):
        for j in range(r):
            t = 0.0
            for c in range(n - m):
                t += tail_rows[i, c] * inv_tail[c] * tail_rows[j, c]
            schur[i, j] += t
    for i in range(r):
        for j in range(i):
            mean = (schur[i, j] + schur[j, i]) * 0.5
            schur[i, j] = mean
            schur[j, i] = mean
        schur[i, i] += d_rows[i] * d_rows[i]
    return _cholesky(schur, rows_factor)


@njit(cache=True, error_model="numpy")
def work_arrays(n, nu, m, segments, k, e, r):
    """The arrays ``_factor`` fills and ``_kkt_solve`` reads, in their argument order:
    scaled, per_variable, per_segment, pivots, is_pivot, cap_factor, h0_e, z_rows,
    rows_factor (n variables, nu upper bounds, m segmented, k factors, e residual
    directions, r dense rows)."""
    return (
        np.zeros((4, max(n + nu, r))),
        np.zeros((3, m)),
        np.zeros((6, segments)),
        np.zeros(segments, dtype=np.int64),
        np.zeros(m, dtype=np.bool_),
        np.zeros((k, k)),
        np.zeros((m, e)),
        np.zeros((segments, r)),
        np.zeros((r, r)),
    )


@njit(cache=True, error_model="numpy")
def _kkt_solve(bx, bz, n, nu, m, upper_index, segment_of, alpha, loadings, rows, residual_mix, tail_rows, scaled,
               per_variable, per_segment, pivots, is_pivot, cap_factor, h0_e, z_rows, rows_factor):
    """Solve the KKT system in place (``qp._kkt_solve``): bx becomes ux, bz becomes W uz."""
    di, di2, d_rows, inv_tail = scaled[0], scaled[1], scaled[2], scaled[3]
    a, g, ua = per_variable[0], per_variable[1], per_variable[2]
    one_plus, pivot_self, pivot_rest, g_pivot = per_segment[0], per_segment[2], per_segment[3], per_segment[4]
    segments = alpha.shape[0]
    k = loadings.shape[1]
    nb = n + nu
    r = rows.shape[0]
    r1 = np.empty(n)
    for i in range(n):
        r1[i] = bx[i] - di2[i] * bz[i]
    for j in range(nu):
        r1[upper_index[j]] += di2[n + j] * bz[n + j]

    # (H0 + M' Lambda Lambda' M)^-1 on the segments: with w = u a v, out = a v -
    # g * (alpha * W + F)[segment], W the segment sums of w and F the factor
    # correction; at a pivot the same with its own term taken out of W before the sum.
    ux = np.empty(n)
    others = np.zeros(segments)
    for i in range(m):
        if not is_pivot[i]:
            others[segment_of[i]] += ua[i] * r1[i]
    everyone = np.empty(segments)
    for s in range(segments):
        everyone[s] = others[s] + ua[pivots[s]] * r1[pivots[s]]
    f = np.zeros(segments)
    if k:
        y = np.zeros(k)
        for s in range(segments):
            weight = everyone[s] / one_plus[s]
            for j in range(k):
                y[j] += weight * loadings[s, j]
        f = _mv(loadings, _cholesky_solve(cap_factor, y))
    for i in range(m):
        s = segment_of[i]
        ux[i] = a[i] * r1[i] - g[i] * (alpha[s] * everyone[s] + f[s])
    for s in range(segments):
        p = pivots[s]
        ux[p] = pivot_self[s] * r1[p] - pivot_rest[s] * others[s] - g_pivot[s] * f[s]
    for i in range(m, n):
        ux[i] = r1[i] * inv_tail[i - m]

    if r:
        rhs = _mv(rows, ux)
        for i in range(r):
            rhs[i] -= bz[nb + i]
        v_rows = _cholesky_solve(rows_factor, rhs)
        zv = _mv(z_rows, v_rows)
        ev = _mv(h0_e, _mv(residual_mix, v_rows))
        for i in range(m):
            ux[i] -= g[i] * zv[segment_of[i]] + ev[i]
        tv = _mtv(tail_rows, v_rows)
        for i in range(m, n):
            ux[i] -= tv[i - m] * inv_tail[i - m]
        for i in range(r):
            bz[nb + i] = d_rows[i] * v_rows[i]
    for i in range(n):
        bz[i] = (-ux[i] - bz[i]) * di[i]
    for j in range(nu):
        bz[n + j] = (ux[upper_index[j]] - bz[n + j]) * di[n + j]
    for i in range(n):
        bx[i] = ux[i]


@njit(cache=True, error_model="numpy")
def _hessian(x, n, m, signs, segment_of, segments, alpha, loadings):
    out = np.zeros(n)
    if m:
        t = np.zeros(segments)
        for i in range(m):
            t[segment_of[i]] += signs[i] * x[i]
        qt = _mv(loadings, _mtv(loadings, t))
        for s in range(segments):
            qt[s] = alpha[s] * t[s] + qt[s]
        for i in range(m):
            out[i] = signs[i] * qt[segment_of[i]]
    return out


@njit(cache=True, error_model="numpy")
def _step_to_boundary(ratio_min):
    return np.inf if ratio_min >= 0.0 else -1.0 / ratio_min


# The exported signature of ``interior_point`` (setup.py compiles it ahead of time).
INTERIOR_POINT_SIGNATURE = (
    "UniTuple(i8, 2)(f8[::1], f8[::1], f8[::1], i8[::1], f8[::1], f8[:, ::1], i8[::1], f8[:, ::1], f8[:, ::1],"
    " f8[:, ::1], f8[:, ::1], f8[:, ::1], f8[::1], f8[::1], f8[::1], b1, f8, f8, f8, i8)"
)


@njit(cache=True, error_model="numpy")
def interior_point(q, h, signs, segment_of, alpha, loadings, upper_index, rows, row_segments,
                   residual_basis, residual_mix, tail_rows, x, s, z, cold, abstol, reltol, feastol, maxiters):
    """A primal-dual interior-point method for the problem's linear inequalities,
    cvxopt's ``coneqp`` restricted to the nonnegative orthant: the same starting point
    (when ``cold``), Nesterov-Todd scaling (for this cone d = sqrt(s / z), lambda =
    sqrt(s z)), Mehrotra predictor and corrector, step 0.99 of the way to the boundary,
    and the same stopping rule and tolerances. x, s, z are the start and are updated in
    place; returns (status, iterations)."""
    n = q.shape[0]
    nu = upper_index.shape[0]
    m = signs.shape[0]
    r = rows.shape[0]
    nb = n + nu
    cone = h.shape[0]
    resx0 = max(1.0, np.sqrt(_dot(q, q)))
    resz0 = max(1.0, np.sqrt(_dot(h, h)))
    segments = alpha.shape[0]
    # The factorisation's work arrays, reused every iteration.
    work = work_arrays(n, nu, m, segments, loadings.shape[1], residual_basis.shape[1], r)
    if cold:
        if not _factor(np.ones(cone), n, nu, m, upper_index, signs, segment_of, alpha, loadings, rows, row_segments,
                       residual_basis, residual_mix, tail_rows, *work):
            return SINGULAR_AT_START, 0
        for i in range(n):
            x[i] = -q[i]
        bz = h.copy()
        _kkt_solve(x, bz, n, nu, m, upper_index, segment_of, alpha, loadings, rows, residual_mix, tail_rows, *work)
        for i in range(cone):
            s[i] = -bz[i]
            z[i] = bz[i]
        _shift_inside(s)
        _shift_inside(z)
    if cone == 0:
        return OPTIMAL, 0
    status = UNKNOWN
    iterations = 0
    rx = np.empty(n)
    rz = np.empty(cone)
    lam = np.empty(cone)
    d = np.empty(cone)
    for iterations in range(maxiters + 1):
        px = _hessian(x, n, m, signs, segment_of, segments, alpha, loadings)
        # rx = G' z + P x + q;  rz = G x + s - h
        z_rows_part = np.empty(r)
        for i in range(r):
            z_rows_part[i] = z[nb + i]
        rx = _mtv(rows, z_rows_part)
        for i in range(n):
            rx[i] -= z[i]
        for j in range(nu):
            rx[upper_index[j]] += z[n + j]
        gap = 0.0
        pcost_quadratic = 0.0
        pcost_linear = 0.0
        for i in range(n):
            rx[i] += px[i]
            rx[i] += q[i]
            pcost_quadratic += x[i] * px[i]
            pcost_linear += q[i] * x[i]
        row_x = _mv(rows, x)
        for i in range(n):
            rz[i] = -x[i] + s[i] - h[i]
        for j in range(nu):
            rz[n + j] = x[upper_index[j]] + s[n + j] - h[n + j]
        for i in range(r):
            rz[nb + i] = row_x[i] + s[nb + i] - h[nb + i]
        zrz = 0.0
        rz_norm2 = 0.0
        for i in range(cone):
            gap += s[i] * z[i]
            zrz += z[i] * rz[i]
            rz_norm2 += rz[i] * rz[i]
        rx_norm2 = 0.0
        for i in range(n):
            rx_norm2 += rx[i] * rx[i]
        pcost = 0.5 * pcost_quadratic + pcost_linear
        dcost = pcost + zrz - gap
        has_relgap = True
        relgap = 0.0
        if pcost < 0.0:
            relgap = gap / -pcost
        elif dcost > 0.0:
            relgap = gap / dcost
        else:
            has_relgap = False
        if (np.sqrt(rz_norm2) <= feastol * resz0 and np.sqrt(rx_norm2) <= feastol * resx0
                and (gap <= abstol or (has_relgap and relgap <= reltol))):
            status = OPTIMAL
            break
        if iterations == maxiters:
            break
        for i in range(cone):
            lam[i] = np.sqrt(s[i] * z[i])
            d[i] = s[i] / lam[i]
        if not _factor(d, n, nu, m, upper_index, signs, segment_of, alpha, loadings, rows, row_segments,
                       residual_basis, residual_mix, tail_rows, *work):
            if iterations == 0:
                return SINGULAR_AT_START, 0
            break  # cvxopt's answer too: the last iterate, status unknown
        for i in range(n):
            rx[i] = -rx[i]
        for i in range(cone):
            rz[i] -= s[i]

        # Predictor: the affine direction, in scaled coordinates.
        dx = rx.copy()
        wdz = np.empty(cone)
        for i in range(cone):
            wdz[i] = -rz[i]
        _kkt_solve(dx, wdz, n, nu, m, upper_index, segment_of, alpha, loadings, rows, residual_mix, tail_rows, *work)
        ratio_min = np.inf
        ratio_max = -np.inf
        dsdz = 0.0
        minus_ds = np.empty(cone)
        for i in range(cone):
            ratio = wdz[i] / lam[i]
            ratio_min = min(ratio_min, ratio)
            ratio_max = max(ratio_max, ratio)
            minus_ds[i] = lam[i] + wdz[i]
            dsdz -= minus_ds[i] * wdz[i]
        step = min(1.0, _step_to_boundary(min(ratio_min, -1.0 - ratio_max)))
        sigma = min(1.0, max(0.0, 1.0 - step + dsdz / gap * step * step)) ** 3

        # Corrector: centred, with the predictor's second-order term.
        centre = sigma * gap / cone
        minus_e = np.empty(cone)
        wdz2 = np.empty(cone)
        for i in range(cone):
            minus_e[i] = minus_ds[i] * wdz[i] + centre
            wdz2[i] = -(minus_e[i] / z[i]) - rz[i]
        dx2 = rx
        _kkt_solve(dx2, wdz2, n, nu, m, upper_index, segment_of, alpha, loadings, rows, residual_mix, tail_rows, *work)
        ds = np.empty(cone)
        ratio_min = np.inf
        for i in range(cone):
            ds[i] = minus_e[i] / lam[i] - lam[i] - wdz2[i]
            ratio_min = min(ratio_min, min(ds[i], wdz2[i]) / lam[i])
        step = min(1.0, _STEP * _step_to_boundary(ratio_min))
        for i in range(n):
            x[i] += step * dx2[i]
        for i in range(cone):
            s[i] += step * (ds[i] * d[i])
            z[i] += step * (wdz2[i] / d[i])
    return status, iterations
