/* Thin singular value decomposition by one-sided Jacobi rotations (Hestenes),
 * in double precision. Small and dependency-free, so the SVD compression
 * needs no LAPACK; it is accurate to near machine precision and fast enough
 * for the layer sizes of on-device models (the reference LM's 5003 x 128
 * output layer takes well under a second).
 *
 * For A (rows x cols) with rows >= cols the columns of W = A (held
 * column-major, cols columns of length rows) are rotated pairwise until all
 * are mutually orthogonal: W = A V with V orthogonal (cols x cols). Then
 * sigma_j = |w_j|, u_j = w_j / sigma_j and A = U diag(sigma) V^T. For
 * rows < cols the same runs on A^T and U and V swap roles. */
#include "compress.h"

#include <math.h>
#include <string.h>

#define SVD_MAX_SWEEPS 80

/* Rotates the columns of w (m-long, column-major) and v (n-long) until
 * orthogonal. w: n columns of m doubles; v: n columns of n doubles. */
static void jacobi(double *w, double *v, int m, int n) {
    const double tol = 1e-13; /* relative: far below float precision */
    for (int sweep = 0; sweep < SVD_MAX_SWEEPS; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                double *wp = w + (size_t)p * m, *wq = w + (size_t)q * m;
                double a = 0, b = 0, g = 0;
                for (int i = 0; i < m; i++) {
                    a += wp[i] * wp[i];
                    b += wq[i] * wq[i];
                    g += wp[i] * wq[i];
                }
                if (g == 0.0 || fabs(g) <= tol * sqrt(a * b)) continue;
                rotated = 1;
                /* the rotation that zeroes the (p,q) entry of W^T W */
                double zeta = (b - a) / (2.0 * g);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1.0 + zeta * zeta));
                double c = 1.0 / sqrt(1.0 + t * t), s = c * t;
                for (int i = 0; i < m; i++) {
                    double x = wp[i], y = wq[i];
                    wp[i] = c * x - s * y;
                    wq[i] = s * x + c * y;
                }
                double *vp = v + (size_t)p * n, *vq = v + (size_t)q * n;
                for (int i = 0; i < n; i++) {
                    double x = vp[i], y = vq[i];
                    vp[i] = c * x - s * y;
                    vq[i] = s * x + c * y;
                }
            }
        if (!rotated) break;
    }
}

/* Replaces column j of u (m-long columns; columns 0..j-1 orthonormal) with a
 * unit vector orthogonal to them: the left vector of a zero singular value is
 * arbitrary, but the factors should stay orthonormal. */
static void complete_column(double *u, int m, int j) {
    double *uj = u + (size_t)j * m;
    for (int e = 0; e < m; e++) {
        memset(uj, 0, sizeof(double) * (size_t)m);
        uj[e] = 1.0;
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < j; k++) {
                const double *uk = u + (size_t)k * m;
                double d = 0;
                for (int i = 0; i < m; i++) d += uk[i] * uj[i];
                for (int i = 0; i < m; i++) uj[i] -= d * uk[i];
            }
        double nn = 0;
        for (int i = 0; i < m; i++) nn += uj[i] * uj[i];
        if (nn > 0.25) {
            nn = sqrt(nn);
            for (int i = 0; i < m; i++) uj[i] /= nn;
            return;
        }
    }
}

al_status al_svd(const float *a, int rows, int cols, float *u, float *s, float *vt) {
    if (!a || !s || rows <= 0 || cols <= 0)
        return al_error(AL_EINVAL, "al_svd: bad arguments (%d x %d matrix)", rows, cols);
    if ((size_t)rows * (size_t)cols > ((size_t)1 << 28))
        return al_error(AL_ERANGE, "al_svd: %d x %d matrix is too large", rows, cols);
    /* work on the tall orientation: m >= n */
    int tr = rows < cols;
    int m = tr ? cols : rows, n = tr ? rows : cols;
    double *w = al_malloc(sizeof(double) * (size_t)m * (size_t)n);
    double *v = al_calloc((size_t)n * (size_t)n, sizeof(double));
    double *sig = al_malloc(sizeof(double) * (size_t)n);
    int *ord = al_malloc(sizeof(int) * (size_t)n);
    if (!w || !v || !sig || !ord) {
        al_free(w);
        al_free(v);
        al_free(sig);
        al_free(ord);
        return AL_ENOMEM;
    }
    /* column j of the tall matrix: column j of A, or row j of A when transposed */
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++)
            w[(size_t)j * m + i] = tr ? a[(size_t)j * cols + i] : a[(size_t)i * cols + j];
    for (int j = 0; j < n; j++) v[(size_t)j * n + j] = 1.0;
    jacobi(w, v, m, n);
    for (int j = 0; j < n; j++) {
        double nn = 0;
        const double *wj = w + (size_t)j * m;
        for (int i = 0; i < m; i++) nn += wj[i] * wj[i];
        sig[j] = sqrt(nn);
        ord[j] = j;
    }
    /* descending singular values (insertion sort: n is small) */
    for (int i = 1; i < n; i++) {
        int x = ord[i], k = i - 1;
        while (k >= 0 && sig[ord[k]] < sig[x]) {
            ord[k + 1] = ord[k];
            k--;
        }
        ord[k + 1] = x;
    }
    /* normalise the left vectors in sorted order, so a zero singular value's
     * vector can be completed against the ones before it */
    double *us = al_malloc(sizeof(double) * (size_t)m * (size_t)n);
    if (!us) {
        al_free(w);
        al_free(v);
        al_free(sig);
        al_free(ord);
        return AL_ENOMEM;
    }
    double smax = sig[ord[0]];
    for (int j = 0; j < n; j++) {
        const double *wj = w + (size_t)ord[j] * m;
        double *uj = us + (size_t)j * m;
        double sj = sig[ord[j]];
        if (sj > 1e-300 && sj > smax * 1e-13) {
            for (int i = 0; i < m; i++) uj[i] = wj[i] / sj;
        } else {
            complete_column(us, m, j);
        }
        s[j] = (float)sj;
    }
    /* Tall case: A = Us diag V^T, U = Us (rows x n), Vt = V^T.
     * Transposed: A^T = Us diag V^T, so A = V diag Us^T: U = V, Vt = Us^T. */
    for (int j = 0; j < n; j++) {
        const double *uj = us + (size_t)j * m, *vj = v + (size_t)ord[j] * n;
        if (!tr) {
            if (u)
                for (int i = 0; i < m; i++) u[(size_t)i * n + j] = (float)uj[i];
            if (vt)
                for (int i = 0; i < n; i++) vt[(size_t)j * n + i] = (float)vj[i];
        } else {
            if (u)
                for (int i = 0; i < n; i++) u[(size_t)i * n + j] = (float)vj[i];
            if (vt)
                for (int i = 0; i < m; i++) vt[(size_t)j * m + i] = (float)uj[i];
        }
    }
    al_free(us);
    al_free(w);
    al_free(v);
    al_free(sig);
    al_free(ord);
    return AL_OK;
}
