/* MatMul: y = x @ x2 per sample, where x (the primary input) is
 * [..., M, K] and x2 (nd->x2, the output of the earlier node cfg.src, -1:
 * the model input) is [..., K, N]; the leading (batch) axes broadcast as
 * NumPy's (torch.matmul on the dims after the batch, ONNX MatMul with both
 * operands of rank >= 2). The output is [batch..., M, N].
 *   forward:  Y_b = A_b B_b
 *   backward: dA_b = dY_b B_b^T (overwritten; summed over the batches a
 *             stretched A serves), dB_b += A_b^T dY_b (accumulated)
 * Backward reads both operands, so the memory planner keeps x2 until this
 * node's backward step. The products run on al_sgemm, one at a time, each
 * split over the pool's threads. */

#include "layers/layers.h"

#include <string.h>

typedef struct mm_geom {
    int M, K, N;
    int ob[2];            /* output batch dims, padded at the front with ones */
    size_t sa[2], sb[2];  /* matrix strides of a and b per batch axis (0: stretched) */
    size_t na, nb, no;    /* floats per sample */
} mm_geom;

static al_status mm_geometry(const al_shape *a, const al_shape *b, al_shape *out, mm_geom *g) {
    char x[64], y[64];
    al_shape_str(a, x, sizeof x);
    al_shape_str(b, y, sizeof y);
    if (a->ndim < 2 || b->ndim < 2)
        return al_error(AL_ESHAPE, "matmul: operands %s and %s must have at least 2 dimensions each", x, y);
    int ra = a->ndim - 2, rb = b->ndim - 2;
    g->M = a->d[ra];
    g->K = a->d[ra + 1];
    g->N = b->d[rb + 1];
    if (b->d[rb] != g->K) return al_error(AL_ESHAPE, "matmul: %s @ %s: inner sizes %d and %d differ", x, y, g->K, b->d[rb]);
    int pa[2], pb[2];
    for (int d = 0; d < 2; d++) {
        int ia = d - (2 - ra), ib = d - (2 - rb);
        pa[d] = ia >= 0 ? a->d[ia] : 1;
        pb[d] = ib >= 0 ? b->d[ib] : 1;
        if (pa[d] != pb[d] && pa[d] != 1 && pb[d] != 1)
            return al_error(AL_ESHAPE, "matmul: the batch axes of %s and %s do not broadcast", x, y);
        g->ob[d] = pa[d] > pb[d] ? pa[d] : pb[d];
    }
    g->sa[1] = pa[1] == 1 ? 0 : 1;
    g->sb[1] = pb[1] == 1 ? 0 : 1;
    g->sa[0] = pa[0] == 1 ? 0 : (size_t)pa[1];
    g->sb[0] = pb[0] == 1 ? 0 : (size_t)pb[1];
    g->na = al_shape_numel(a);
    g->nb = al_shape_numel(b);
    int rank = (ra > rb ? ra : rb) + 2;
    out->ndim = rank;
    for (int d = 0; d < rank - 2; d++) out->d[d] = g->ob[2 - (rank - 2) + d];
    out->d[rank - 2] = g->M;
    out->d[rank - 1] = g->N;
    g->no = al_shape_numel(out);
    return AL_OK;
}

static al_status matmul_shape(al_node *nd, const al_shape *in) {
    if (nd->cfg.src < -1 || nd->cfg.src >= nd->index)
        return al_error(AL_EINVAL, "matmul: operand node %d must be an earlier node or -1 (the input)", nd->cfg.src);
    mm_geom g = {0, 0, 0, {1, 1}, {0, 0}, {0, 0}, 0, 0, 0};
    return mm_geometry(in, &nd->in2, &nd->out, &g);
}

static al_status matmul_forward(al_node *nd, const al_exec *e, const float *x, float *y, int n) {
    if (!nd->x2) return al_error(AL_ESTATE, "matmul: second operand (node %d) is not bound", nd->cfg.src);
    mm_geom g = {0, 0, 0, {1, 1}, {0, 0}, {0, 0}, 0, 0, 0};
    al_shape o;
    mm_geometry(&nd->in, &nd->in2, &o, &g);
    size_t MK = (size_t)g.M * g.K, KN = (size_t)g.K * g.N, MN = (size_t)g.M * g.N;
    for (int s = 0; s < n; s++)
        for (int i0 = 0, c = 0; i0 < g.ob[0]; i0++)
            for (int i1 = 0; i1 < g.ob[1]; i1++, c++) {
                const float *A = x + (size_t)s * g.na + ((size_t)i0 * g.sa[0] + (size_t)i1 * g.sa[1]) * MK;
                const float *B = nd->x2 + (size_t)s * g.nb + ((size_t)i0 * g.sb[0] + (size_t)i1 * g.sb[1]) * KN;
                float *C = y + (size_t)s * g.no + (size_t)c * MN;
                al_sgemm(e->pool, 0, 0, g.M, g.N, g.K, 1.0f, A, g.K, B, g.N, 0.0f, C, g.N);
            }
    return AL_OK;
}

static void matmul_backward(al_node *nd, const al_exec *e, const float *x, const float *y, const float *dy, float *dx,
                            int n) {
    AL_UNUSED(y);
    if (!dx && !nd->dx2) return;
    mm_geom g = {0, 0, 0, {1, 1}, {0, 0}, {0, 0}, 0, 0, 0};
    al_shape o;
    mm_geometry(&nd->in, &nd->in2, &o, &g);
    size_t MK = (size_t)g.M * g.K, KN = (size_t)g.K * g.N, MN = (size_t)g.M * g.N;
    if (dx) memset(dx, 0, sizeof(float) * (size_t)n * g.na);
    for (int s = 0; s < n; s++)
        for (int i0 = 0, c = 0; i0 < g.ob[0]; i0++)
            for (int i1 = 0; i1 < g.ob[1]; i1++, c++) {
                size_t oa = (size_t)s * g.na + ((size_t)i0 * g.sa[0] + (size_t)i1 * g.sa[1]) * MK;
                size_t ob = (size_t)s * g.nb + ((size_t)i0 * g.sb[0] + (size_t)i1 * g.sb[1]) * KN;
                const float *dC = dy + (size_t)s * g.no + (size_t)c * MN;
                if (dx) al_sgemm(e->pool, 0, 1, g.M, g.K, g.N, 1.0f, dC, g.N, nd->x2 + ob, g.N, 1.0f, dx + oa, g.K);
                if (nd->dx2) al_sgemm(e->pool, 1, 0, g.K, g.N, g.M, 1.0f, x + oa, g.K, dC, g.N, 1.0f, nd->dx2 + ob, g.N);
            }
}

/* M * K * N per batch matrix. */
static uint64_t matmul_macs(const al_node *nd) {
    mm_geom g = {0, 0, 0, {1, 1}, {0, 0}, {0, 0}, 0, 0, 0};
    al_shape o;
    if (mm_geometry(&nd->in, &nd->in2, &o, &g)) return 0;
    return (uint64_t)g.ob[0] * (uint64_t)g.ob[1] * (uint64_t)g.M * (uint64_t)g.K * (uint64_t)g.N;
}

/* One GEMM a sample and batch element; backward, the two operands'
 * gradients. */
static size_t matmul_pack_floats(const al_node *nd, int n, int backward) {
    AL_UNUSED(n);
    mm_geom g = {0, 0, 0, {1, 1}, {0, 0}, {0, 0}, 0, 0, 0};
    al_shape o;
    mm_geometry(&nd->in, &nd->in2, &o, &g);
    if (backward) return AL_MAX(al_gemm_pack_floats(g.M, g.K, g.N), al_gemm_pack_floats(g.K, g.N, g.M));
    return al_gemm_pack_floats(g.M, g.N, g.K);
}

const al_layer_vt al_matmul_vt = {"matmul", matmul_shape, NULL, matmul_forward, matmul_backward, matmul_macs,
                                  matmul_pack_floats};
