/* The model graph: nodes in an order where every node reads earlier ones
 * only (a directed acyclic graph): its primary input, by default the
 * previous node's output (cfg.back), and for an add, a mul, ... a second
 * operand (cfg.src), for a concat or a sum any number more (cfg.more). Building validates shapes and
 * carves all weights out of one block; planning carves activations, their
 * gradients, saved state and scratch out of another, so a training step
 * allocates nothing. */
#include "model/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void al_model_free(al_model *m) {
    if (!m) return;
    al_model_release_plan(m);
    for (int i = 0; m->nodes && i < m->nnodes; i++) {
        al_qnode_free(m->nodes[i].q);
        al_free(m->nodes[i].more);
        al_free(m->nodes[i].xout);
    }
    al_free(m->nodes);
    al_free(m->xbase);
    al_free(m->t_node);
    al_free(m->t_port);
    al_free(m->t_last_reader);
    al_free(m->t_last_primary);
    al_free(m->i8_y);
    al_free(m->i8_add);
    al_free(m->wblock);
    al_free(m->gblock);
    al_free(m->spec);
    for (int i = 0; i < m->nmeta; i++) {
        al_free(m->meta_key[i]);
        al_free(m->meta_val[i]);
    }
    al_free(m);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names: valid (al_name_valid) or empty, and unique. */
static al_status check_names(const al_model *m) {
    const int n = m->nnodes;
    const char **v = al_malloc(sizeof *v * (size_t)n);
    if (!v) return AL_ENOMEM;
    int k = 0;
    al_status st = AL_OK;
    for (int i = 0; i < n && st == AL_OK; i++) {
        const char *s = m->nodes[i].cfg.name;
        if (!s[0]) continue;
        if (memchr(s, 0, AL_MAX_NAME) == NULL || !al_name_valid(s))
            st = al_error(AL_EINVAL, "layer %d: invalid name (1 to %d printable characters without space ; = : , "
                                     "not starting with a digit or sign, not 'input')", i, AL_MAX_NAME - 1);
        else
            v[k++] = s;
    }
    if (st == AL_OK && k > 1) {
        qsort(v, (size_t)k, sizeof *v, cmp_name);
        for (int i = 1; i < k && st == AL_OK; i++)
            if (!strcmp(v[i - 1], v[i])) st = al_error(AL_EINVAL, "two layers are named '%s'", v[i]);
    }
    al_free(v);
    return st;
}

/* Every node must have an output that is read (the last node's output 0
 * is the model's output; a later output of a split may go unread); each
 * tensor's last reader and last primary reader; each node's gradient route
 * (al_node.dx_direct): the last node reading a tensor as its primary input
 * writes that tensor's gradient, the others add theirs to its dside. */
static al_status link_readers(al_model *m) {
    const int n = m->nnodes, nt = m->ntensors;
    unsigned char *read = al_calloc((size_t)n + 1, 1); /* read[x + 1]: some output of node x is read */
    if (!read) return AL_ENOMEM;
    for (int t = 0; t < nt; t++) m->t_last_reader[t] = m->t_last_primary[t] = -1;
    m->input_last_reader = -1;
    for (int i = 0; i < n; i++) { /* readers in index order: the last one wins */
        const al_node *nd = &m->nodes[i];
        const int ns = al_cfg_nsrc(&nd->cfg);
        for (int k = -1; k < ns; k++) {
            int r = k < 0 ? al_node_input(nd) : al_cfg_src(&nd->cfg, k);
            int t = al_model_tensor(m, r, k < 0 ? nd->cfg.in_port : al_cfg_src_port(&nd->cfg, k));
            read[r + 1] = 1;
            if (t < 0) {
                m->input_last_reader = i;
                continue;
            }
            m->t_last_reader[t] = i;
            if (k < 0) m->t_last_primary[t] = i;
        }
    }
    for (int i = 0; i < n; i++) {
        al_node *nd = &m->nodes[i];
        int x = al_node_input(nd), t = al_model_tensor(m, x, nd->cfg.in_port);
        nd->dx_direct = t < 0 ? 1 : m->t_last_primary[t] == i;
        nd->primary_read = m->t_last_primary[i] >= 0;
        nd->last_reader = m->t_last_reader[i];
    }
    /* the model input: the last primary reader writes dinput */
    int lastp = -1;
    for (int i = 0; i < n; i++)
        if (al_node_input(&m->nodes[i]) < 0) lastp = i;
    for (int i = 0; i < n; i++)
        if (al_node_input(&m->nodes[i]) < 0) m->nodes[i].dx_direct = i == lastp;
    al_status st = AL_OK;
    for (int x = 0; x + 1 < n && st == AL_OK; x++)
        if (!read[x + 1])
            st = al_error(AL_EINVAL, "layer %d (%s): its output is never read (only the last layer's output may be "
                                     "left unread)", x, al_layer_type_name(m->nodes[x].cfg.type));
    al_free(read);
    return st;
}

/* The tensor table: port 0 of node i is tensor i, the later outputs of
 * multi-output nodes follow in node order. */
static al_status make_tensors(al_model *m) {
    const int n = m->nnodes;
    int nt = n;
    m->xbase = al_malloc(sizeof *m->xbase * (size_t)n);
    if (!m->xbase) return AL_ENOMEM;
    for (int i = 0; i < n; i++) {
        m->xbase[i] = nt;
        nt += al_cfg_nout(&m->nodes[i].cfg) - 1;
    }
    m->ntensors = nt;
    m->t_node = al_malloc(sizeof(int) * (size_t)nt);
    m->t_port = al_malloc(sizeof(int) * (size_t)nt);
    m->t_last_reader = al_malloc(sizeof(int) * (size_t)nt);
    m->t_last_primary = al_malloc(sizeof(int) * (size_t)nt);
    m->i8_y = al_calloc((size_t)n, sizeof(float));
    m->i8_add = al_calloc((size_t)n, 1);
    if (!m->t_node || !m->t_port || !m->t_last_reader || !m->t_last_primary || !m->i8_y || !m->i8_add)
        return AL_ENOMEM;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < al_cfg_nout(&m->nodes[i].cfg); p++) {
            int t = al_model_tensor(m, i, p);
            m->t_node[t] = i;
            m->t_port[t] = p;
        }
    return AL_OK;
}

/* The shape of output `port` of node r (-1: the model input), or NULL with
 * the message set when there is no such output. */
static const al_shape *operand_shape(const al_model *m, const al_shape *in, int i, int r, int port,
                                     const char *what) {
    if (r < 0) {
        if (port != 0) {
            al_error(AL_EINVAL, "layer %d (%s): reads port %d of the model input, which has one", i, what, port);
            return NULL;
        }
        return in;
    }
    const al_node *src = &m->nodes[r];
    int no = al_cfg_nout(&src->cfg);
    if (port < 0 || port >= no) {
        al_error(AL_EINVAL, "layer %d (%s): reads port %d of node %d (%s%s%s), which has %d output%s (ports 0..%d)", i,
                 what, port, r, al_layer_type_name(src->cfg.type), src->cfg.name[0] ? " " : "", src->cfg.name, no,
                 no == 1 ? "" : "s", no - 1);
        return NULL;
    }
    return al_node_out(src, port);
}

al_status al_model_build(const al_shape *in, int input_tokens, const al_layer_cfg *layers, int n,
                         al_model **out) {
    if (!out || !in || (!layers && n > 0)) return al_error(AL_EINVAL, "al_model_build: NULL argument");
    *out = NULL;
    if (n <= 0 || n > AL_MAX_NODES)
        return al_error(AL_ERANGE, "a model needs 1 to %d layers, got %d", AL_MAX_NODES, n);
    if (in->ndim < 1 || in->ndim > 3) return al_error(AL_ESHAPE, "input must have 1 to 3 dimensions");
    for (int d = 0; d < in->ndim; d++)
        if (in->d[d] <= 0 || in->d[d] > (1 << 24))
            return al_error(AL_ESHAPE, "input dimension %d is %d, must be in 1..%d", d, in->d[d], 1 << 24);
    if (al_shape_numel(in) > (size_t)1 << 26) return al_error(AL_ESHAPE, "input is too large");
    al_model *m = al_calloc(1, sizeof *m);
    if (!m) return AL_ENOMEM;
    m->nodes = al_calloc((size_t)n, sizeof *m->nodes);
    if (!m->nodes) {
        al_free(m);
        return AL_ENOMEM;
    }
    m->in = *in;
    m->input_tokens = input_tokens;
    m->nnodes = n;
    m->i8_chain = 1;
    al_shape cur = *in;
    size_t nw = 0, ng = 0;
    al_status st = AL_OK;
    for (int i = 0; i < n; i++) {
        al_node *nd = &m->nodes[i];
        nd->cfg = layers[i];
        nd->index = i;
        nd->trainable = 1;
        if (nd->cfg.back < 0 || nd->cfg.back > i) {
            st = al_error(AL_EINVAL, "layer %d reads node %d, must be an earlier node or -1 (the input)", i,
                          i - 1 - nd->cfg.back);
            goto fail;
        }
        int x = al_node_input(nd);
        const char *tname = al_layer_type_name(nd->cfg.type);
        const al_shape *xs = operand_shape(m, in, i, x, nd->cfg.in_port, tname ? tname : "?");
        if (!xs) {
            st = AL_EINVAL;
            goto fail;
        }
        cur = *xs;
        if (nd->cfg.nout < 0 || nd->cfg.nout > al_layer_max_outs(nd->cfg.type)) {
            st = al_error(AL_EINVAL, "layer %d (%s): %d outputs; only split (up to %d), lstm (3) and gru (2) have several",
                          i, tname ? tname : "?", nd->cfg.nout, AL_MAX_OUTS);
            goto fail;
        }
        if (nd->cfg.nout > 1) {
            nd->xout = al_calloc((size_t)nd->cfg.nout - 1, sizeof *nd->xout);
            if (!nd->xout) {
                st = AL_ENOMEM;
                goto fail;
            }
        }
        if (nd->cfg.type == AL_L_BATCHNORM) {
            if (nd->cfg.eps <= 0.0f) nd->cfg.eps = 1e-5f;
            if (nd->cfg.momentum <= 0.0f) nd->cfg.momentum = 0.1f;
        }
        if (nd->cfg.type == AL_L_EMBEDDING && (i != 0 || !input_tokens)) {
            st = al_error(AL_EINVAL, "layer %d: embedding must be the first layer of a 'tokens' model", i);
            goto fail;
        }
        if (i == 0 && input_tokens && nd->cfg.type != AL_L_EMBEDDING) {
            st = al_error(AL_EINVAL, "a 'tokens' model must start with an embedding layer");
            goto fail;
        }
        if (nd->cfg.nmore < 0 || nd->cfg.nmore > AL_MAX_SRCS - 1 ||
            (nd->cfg.nmore > 0 && !al_layer_nary(nd->cfg.type))) {
            if (al_layer_nary(nd->cfg.type))
                st = al_error(AL_ERANGE, "layer %d (%s%s%s): %d inputs, at most %d are allowed", i,
                              al_layer_type_name(nd->cfg.type), nd->cfg.name[0] ? " " : "", nd->cfg.name,
                              nd->cfg.nmore + 2, AL_MAX_SRCS + 1);
            else
                st = al_error(AL_EINVAL, "layer %d (%s): only concat and sum read more than two inputs", i,
                              al_layer_type_name(nd->cfg.type));
            goto fail;
        }
        /* a port on an operand the layer does not read would be dropped by
         * the spec and the file: refused */
        int stray = !al_layer_reads_src(nd->cfg.type) && nd->cfg.src_port != 0;
        for (int k = nd->cfg.nmore; k < AL_MAX_SRCS - 1 && !stray; k++) stray = nd->cfg.more_port[k] != 0;
        if (stray) {
            st = al_error(AL_EINVAL, "layer %d (%s): a port is given for an operand it does not read", i,
                          tname ? tname : "?");
            goto fail;
        }
        if (nd->cfg.nmore > 0) {
            nd->more = al_calloc((size_t)nd->cfg.nmore, sizeof *nd->more);
            if (!nd->more) {
                st = AL_ENOMEM;
                goto fail;
            }
        }
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) {
            int s = al_cfg_src(&nd->cfg, k);
            const char *what = al_layer_type_name(nd->cfg.type);
            if (s < -1 || s >= i) {
                st = al_error(AL_EINVAL, "layer %d: %s refers to node %d, must be an earlier node or -1", i, what, s);
                goto fail;
            }
            const al_shape *o = operand_shape(m, in, i, s, al_cfg_src_port(&nd->cfg, k), what);
            if (!o) {
                st = AL_EINVAL;
                goto fail;
            }
            /* the layer's shape() checks its operands */
            if (k == 0)
                nd->in2 = *o;
            else
                nd->more[k - 1].in = *o;
        }
        nd->vt = al_layer_vtable(nd->cfg.type);
        nd->mvt = al_cfg_nout(&nd->cfg) > 1 ? al_layer_multi_vtable(nd->cfg.type) : NULL;
        if (!nd->vt) {
            st = al_error(AL_EUNSUPPORTED, "layer %d: unknown or unavailable layer type %d", i, (int)nd->cfg.type);
            goto fail;
        }
        nd->in = cur;
        st = nd->vt->shape(nd, &cur);
        if (st != AL_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", al_last_error());
            st = al_error(st, "layer %d (%s): %s", i, nd->vt->name, msg);
            goto fail;
        }
        for (int p = 0; p < al_cfg_nout(&nd->cfg); p++) {
            const al_shape *os = al_node_out(nd, p);
            /* each size >= 1 and the count checked without wrapping: the
             * kernels index by the sizes */
            if (os->ndim < 1 || os->ndim > AL_SHAPE_MAX || al_shape_numel_max(os, (size_t)1 << 26) == 0) {
                st = al_error(AL_ESHAPE, "layer %d (%s): output shape is empty or too large", i, nd->vt->name);
                goto fail;
            }
        }
        for (int p = 0; p < nd->nparams; p++) {
            if (nd->params[p].n > (size_t)1 << 28) {
                st = al_error(AL_ESHAPE, "layer %d: parameter %s is too large", i, nd->params[p].name);
                goto fail;
            }
            nw += nd->params[p].n;
            if (!nd->params[p].is_state) ng += nd->params[p].n;
        }
    }
    if ((st = make_tensors(m)) != AL_OK || (st = link_readers(m)) != AL_OK || (st = check_names(m)) != AL_OK)
        goto fail;
    m->nweights = nw;
    m->wblock = al_calloc(nw ? nw : 1, sizeof(float));
    m->gblock = al_calloc(ng ? ng : 1, sizeof(float));
    if (!m->wblock || !m->gblock) {
        st = AL_ENOMEM;
        goto fail;
    }
    size_t ow = 0, og = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            al_param *pr = &m->nodes[i].params[p];
            pr->w = m->wblock + ow;
            ow += pr->n;
            if (!pr->is_state) {
                pr->g = m->gblock + og;
                og += pr->n;
            } else {
                pr->g = NULL;
            }
        }
    /* from the configs as the layers completed them (a pool's stride 0
     * means k): the canonical spec must parse back to this model */
    al_layer_cfg *done = al_malloc(sizeof *done * (size_t)n);
    if (done) {
        for (int i = 0; i < n; i++) done[i] = m->nodes[i].cfg;
        m->spec = al_spec_format(in, input_tokens, done, n);
        al_free(done);
    }
    if (!m->spec) {
        st = AL_ENOMEM;
        goto fail;
    }
    al_rng_seed(&m->rng, 0x5eed, 0xd0);
    *out = m;
    return AL_OK;
fail:
    al_model_free(m);
    return st;
}

void al_model_init_weights(al_model *m, uint64_t seed) {
    for (int i = 0; i < m->nnodes; i++) {
        al_node *nd = &m->nodes[i];
        if (nd->nparams == 0 || !nd->vt->init) continue;
        al_rng r;
        al_rng_seed(&r, seed, (uint64_t)i + 1);
        nd->vt->init(nd, &r);
    }
    al_rng_seed(&m->rng, seed, 0xd0);
}

/* size_only != NULL: a dry run (memory budgets) that only measures the
 * block and touches nothing in m; otherwise carves and installs it. */
/* cut 0: the plan of a training step as the model stands; cut > 0: of
 * inference whose forward from node 0 ends at cut (al_memplan_build_infer). */
static al_status plan_layout(al_model *m, int maxbatch, int cut, size_t *size_only);
static int slim_serves(const al_model *m, int from, int e);

/* A plan made for lowest backward node L_p serves any L >= L_p (it holds a
 * superset of the buffers), and any plan an inference call; al_model_plan
 * still re-plans to the exact L so the block is what al_model_plan_bytes
 * reported. */
static int plan_fits(const al_model *m, int maxbatch, int exact) {
    if (!m->plan_block || m->maxbatch < maxbatch) return 0;
    if (m->infer) return 1;
    if (m->want_input_grad && !m->dinput) return 0;
    if (m->plan_naive) return 1;
    int L = al_memplan_lowest(m);
    return exact ? L == m->plan_lowest : L >= m->plan_lowest;
}

al_status al_model_plan(al_model *m, int maxbatch) {
    if (!m) return al_error(AL_EINVAL, "al_model_plan: model is NULL");
    if (maxbatch <= 0 || maxbatch > (1 << 20)) return al_error(AL_ERANGE, "batch %d out of range", maxbatch);
    if (plan_fits(m, maxbatch, 1)) return AL_OK;
    al_model_release_plan(m);
    return plan_layout(m, maxbatch, 0, NULL);
}

/* An inference call's cut is a node of the model, 1..nnodes. */
static al_status check_cut(const al_model *m, int cut) {
    return cut >= 1 && cut <= m->nnodes ? AL_OK
                                        : al_error(AL_ERANGE, "inference cut at node %d out of 1..%d", cut, m->nnodes);
}

al_status al_model_plan_infer(al_model *m, int maxbatch, int cut) {
    if (!m) return al_error(AL_EINVAL, "al_model_plan_infer: model is NULL");
    if (maxbatch <= 0 || maxbatch > (1 << 20)) return al_error(AL_ERANGE, "batch %d out of range", maxbatch);
    al_status st = check_cut(m, cut);
    if (st != AL_OK) return st;
    m->infer = cut;
    /* a plan that holds the batch and lets the forward from node 0 to cut
     * run its chunked range entire */
    if (!plan_fits(m, maxbatch, 0) || !slim_serves(m, 0, al_chunk_end(m, 0, cut, 0))) {
        al_model_release_plan(m);
        st = plan_layout(m, maxbatch, cut, NULL);
    }
    m->infer = 0;
    return st;
}

al_status al_model_infer_range(al_model *m, al_pool *pool, int from, int to, const float *x, int n, int cut) {
    if (!m) return al_error(AL_EINVAL, "al_model_infer_range: model is NULL");
    al_status st = check_cut(m, cut);
    if (st != AL_OK) return st;
    m->infer = cut;
    st = al_model_forward_range(m, pool, from, to, x, n, 0);
    m->infer = 0;
    return st;
}

al_status al_model_infer(al_model *m, al_pool *pool, const float *x, int n, const float **y) {
    if (!m) return al_error(AL_EINVAL, "al_model_infer: model is NULL");
    al_status st = al_model_infer_range(m, pool, 0, m->nnodes, x, n, m->nnodes);
    if (st == AL_OK && y) *y = m->act[m->nnodes - 1];
    return st;
}

size_t al_model_plan_bytes(const al_model *m, int maxbatch) {
    size_t n = 0;
    if (!m || maxbatch <= 0 || maxbatch > (1 << 20)) return 0;
    (void)plan_layout((al_model *)m, maxbatch, 0, &n); /* a dry run only reads m */
    return n;
}

size_t al_model_plan_bytes_at(const al_model *m, int maxbatch, int freeze) {
    al_memplan p;
    if (!m || al_memplan_build_at(m, maxbatch, m->plan_naive, freeze, &p) != AL_OK) return 0;
    size_t total = p.total;
    al_memplan_free(&p);
    return total;
}

static al_status plan_layout(al_model *m, int maxbatch, int cut, size_t *size_only) {
    al_memplan p;
    al_status st = cut ? al_memplan_build_infer(m, maxbatch, m->plan_naive, cut, &p)
                       : al_memplan_build(m, maxbatch, m->plan_naive, &p);
    if (st != AL_OK) return st;
    if (size_only) {
        *size_only = p.total;
        al_memplan_free(&p);
        return AL_OK;
    }
    /* the spans the chunked forwards from node 0 leave unused */
    for (int k = 0; k < 2 && st == AL_OK; k++) {
        /* an inference plan's: the forward from node 0 to cut */
        m->chunk_gap[k].e = cut ? al_chunk_end_at(m, cut, 1) : al_chunk_end_at(m, -1, k);
        m->chunk_gap[k].size = 0;
        if (m->chunk_gap[k].e >= 2)
            st = al_chunk_gap(m, &p, m->chunk_gap[k].e, &m->chunk_gap[k].off, &m->chunk_gap[k].size);
    }
    char *base = st == AL_OK ? al_malloc(p.total) : NULL;
    if (!base) {
        al_memplan_free(&p);
        return AL_ENOMEM;
    }
    m->plan_block = base;
    const int n = m->nnodes, nt = m->ntensors;
    const size_t B = (size_t)maxbatch;
    float **act = NULL, **dact = NULL, **dside = NULL;
    const al_membuf *t = al_memplan_find(&p, AL_MB_TABLES, -1);
    act = (float **)(void *)(base + t->offset);
    dact = act + nt;
    dside = dact + nt;
    memset(act, 0, sizeof(float *) * 3 * (size_t)nt);
    m->ws = m->dinput = m->dside_input = NULL;
    m->ws_n = 0;
    for (int i = 0; i < n; i++) {
        al_node *nd = &m->nodes[i];
        /* zero-sized aux and scratch get a valid pointer the layer never reads */
        nd->aux = nd->ws = (float *)(void *)base;
        nd->state = NULL;
        nd->dxbuf = NULL;
        nd->maxbatch = maxbatch;
        size_t w = nd->ws_fixed + B * nd->ws_per_sample;
        if (w > m->ws_n) m->ws_n = w;
    }
    for (int k = 0; k < p.nbuf; k++) {
        const al_membuf *b = &p.buf[k];
        float *f = (float *)(void *)(base + b->offset);
        al_node *nd = b->node >= 0 ? &m->nodes[b->node] : NULL;
        switch (b->kind) {
        case AL_MB_TABLES: break;
        case AL_MB_ACT: act[al_model_tensor(m, b->node, b->port)] = f; break;
        case AL_MB_DACT: dact[al_model_tensor(m, b->node, b->port)] = f; break;
        case AL_MB_DSIDE: dside[al_model_tensor(m, b->node, b->port)] = f; break;
        case AL_MB_AUX: nd->aux = f; break;
        case AL_MB_STATE:
            nd->state = f;
            memset(f, 0, sizeof(float) * 2 * B * (size_t)nd->cfg.units);
            break;
        case AL_MB_WS:
            if (nd)
                nd->ws = f;
            else { /* naive: one scratch for every node */
                m->ws = f;
                for (int i = 0; i < n; i++) m->nodes[i].ws = f;
            }
            break;
        case AL_MB_DINPUT: m->dinput = f; break;
        case AL_MB_DSIDE_INPUT: m->dside_input = f; break;
        case AL_MB_DX: nd->dxbuf = f; break;
        case AL_MB_CHUNK: break; /* the chunk arena's, found by al_chunk_gap */
        }
    }
    m->act = act;
    m->dact = dact;
    m->dside = dside;
    m->maxbatch = maxbatch;
    m->plan_lowest = p.naive ? 0 : p.lowest;
    m->plan_slim = p.slim;
    m->plan_size = p.total;
    al_memplan_free(&p);
    return AL_OK;
}

/* Binds the extra operands of node i (node src's output, or the model
 * input x; then each of cfg.more) and, in backward (L: the lowest node
 * backward reaches; -1: forward, no gradients), where each one's gradient
 * accumulates: the producer's dside when backward reaches the producer. */
/* Where a chunk of the chunked forward (chunk.c) finds its tensors,
 * scratch and aux: the plan, this thread's arena, its slot for a copy of
 * the node that runs (operands and aux are bound per thread), and the
 * chunk's first sample. NULL: the whole batch in the model's own buffers. */
typedef struct chunk_at {
    const al_chunkplan *cp;
    char *block;
    al_node *node;    /* the thread's copy of the node that runs */
    al_operand *more; /* and of its operand list */
    int c0;
} chunk_at;

static float *tensor_at(const al_model *m, const chunk_at *ca, int t, const float *x);

static void bind_src(al_model *m, al_node *nd, const float *x, int L, const chunk_at *ca) {
    for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++) {
        int s = al_cfg_src(&nd->cfg, k), t = al_model_tensor(m, s, al_cfg_src_port(&nd->cfg, k));
        int grad = L >= 0 && (s >= L || (s < 0 && m->want_input_grad));
        const float *v = tensor_at(m, ca, t, x);
        float *d = grad ? (t < 0 ? m->dside_input : m->dside[t]) : NULL;
        if (k == 0) {
            nd->x2 = v;
            nd->dx2 = d;
        } else {
            nd->more[k - 1].x = v;
            nd->more[k - 1].dx = d;
        }
    }
}

/* ---- the frozen frontier ---------------------------------------------------- */

/* The frontier at K, in order: the tensors of nodes below K (node order,
 * then port) that a node at or past K reads. */
static int on_frontier(const al_model *m, int t, int K) { return m->t_node[t] < K && m->t_last_reader[t] >= K; }

/* Calls fn(m, t, offset) for each frontier tensor; returns the floats per sample. */
typedef void (*frontier_fn)(const al_model *m, int t, size_t off, void *arg);
static size_t frontier_walk(const al_model *m, int K, frontier_fn fn, void *arg) {
    size_t o = 0;
    for (int i = 0; i < K; i++)
        for (int p = 0; p < al_cfg_nout(&m->nodes[i].cfg); p++) {
            int t = al_model_tensor(m, i, p);
            if (!on_frontier(m, t, K)) continue;
            if (fn) fn(m, t, o, arg);
            o += al_shape_numel(al_model_tensor_shape(m, t));
        }
    return o;
}

static void count_one(const al_model *m, int t, size_t off, void *arg) {
    (void)m, (void)t, (void)off;
    ++*(int *)arg;
}

int al_model_frontier_count(const al_model *m, int K) {
    if (!m || K <= 0 || K > m->nnodes) return 0;
    int c = 0;
    frontier_walk(m, K, count_one, &c);
    return c;
}

int al_model_frontier_plain(const al_model *m, int K) {
    return al_model_frontier_count(m, K) == 1 && on_frontier(m, K - 1, K);
}

size_t al_model_pack_floats(const al_model *m, int n, int from) {
    size_t f = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        if (!nd->vt->pack_floats) continue;
        f = AL_MAX(f, nd->vt->pack_floats(nd, n, 0));
        if (i >= from) f = AL_MAX(f, nd->vt->pack_floats(nd, n, 1));
    }
    return f;
}

size_t al_model_frontier_numel(const al_model *m, int K) {
    if (!m || K <= 0 || K > m->nnodes) return 0;
    return frontier_walk(m, K, NULL, NULL);
}

/* Copies between the tensors' buffers and the packed rows: samples
 * [0, n), feat floats per packed sample; unpack 0 packs, 1 unpacks. */
typedef struct pack_args {
    float *packed;
    size_t feat;
    int n, unpack;
} pack_args;

static void pack_one(const al_model *m, int t, size_t off, void *arg) {
    const pack_args *a = arg;
    size_t k = al_shape_numel(al_model_tensor_shape(m, t));
    for (int i = 0; i < a->n; i++) {
        float *row = a->packed + (size_t)i * a->feat + off, *ten = m->act[t] + (size_t)i * k;
        if (a->unpack)
            memcpy(ten, row, sizeof(float) * k);
        else
            memcpy(row, ten, sizeof(float) * k);
    }
}

typedef struct row_args {
    float *dst;
    int i;
} row_args;

static void row_one(const al_model *m, int t, size_t off, void *arg) {
    const row_args *a = arg;
    size_t k = al_shape_numel(al_model_tensor_shape(m, t));
    memcpy(a->dst + off, m->act[t] + (size_t)a->i * k, sizeof(float) * k);
}

void al_model_frontier_row(const al_model *m, int K, int i, float *dst) {
    row_args a = {dst, i};
    frontier_walk(m, K, row_one, &a);
}

void al_model_frontier_pack(const al_model *m, int K, int n, float *dst) {
    if (al_model_frontier_plain(m, K)) { /* node K - 1's output alone: the same layout */
        if (dst != m->act[K - 1])
            memcpy(dst, m->act[K - 1], sizeof(float) * (size_t)n * al_shape_numel(&m->nodes[K - 1].out));
        return;
    }
    pack_args a = {dst, al_model_frontier_numel(m, K), n, 0};
    frontier_walk(m, K, pack_one, &a);
}

static void frontier_unpack(al_model *m, int K, int n, const float *src) {
    if (al_model_frontier_plain(m, K)) {
        if (src != m->act[K - 1])
            memcpy(m->act[K - 1], src, sizeof(float) * (size_t)n * al_shape_numel(&m->nodes[K - 1].out));
        return;
    }
    pack_args a = {(float *)src, al_model_frontier_numel(m, K), n, 1};
    frontier_walk(m, K, pack_one, &a);
}

/* The int8 chain (docs/KERNELS.md, "int8 activations"): which tensors a
 * forward over nodes [from, to) hands on as int8, and which adds run in
 * int8. Node p's output travels as int8 at scale y[p] > 0 when p is frozen
 * and can write int8 (a quantized node, or an add running in int8), and
 * every reader lies below lim = min(L, to) (L: the lowest node backward
 * reaches; backward, the frontier and whatever a caller reads after the
 * range take floats) and takes int8: exactly one reads it as its primary
 * input, a quantized frozen node with a static input scale or an add
 * running in int8 (that reader's scale is y[p]), and any other reader is an
 * add running in int8 that reads it as its second operand. An add with a
 * calibrated scale runs in int8 when both its operands arrive as int8:
 * start from every such add and drop those with a float operand until
 * nothing changes (each drop can only turn tensors back to floats). */
static float i8_take(const al_model *m, int r) {
    const al_node *nr = &m->nodes[r];
    if (nr->trainable) return 0.0f;
    if (nr->q) return nr->q->in_scale;
    return m->i8_add[r] ? nr->add_scale : 0.0f;
}

static float i8_tensor_scale(const al_model *m, int p, int from, int lim) {
    const al_node *np = &m->nodes[p];
    if (p < from || p >= lim || np->trainable || al_cfg_nout(&np->cfg) != 1) return 0.0f;
    if (!np->q && !m->i8_add[p]) return 0.0f;
    if (np->last_reader < 0 || np->last_reader >= lim) return 0.0f;
    int primary = -1;
    for (int j = p + 1; j <= np->last_reader; j++) {
        const al_node *nj = &m->nodes[j];
        if (al_node_input(nj) == p) {
            if (primary >= 0 || nj->cfg.in_port != 0) return 0.0f;
            primary = j;
        }
        for (int k = 0; k < al_cfg_nsrc(&nj->cfg); k++)
            if (al_cfg_src(&nj->cfg, k) == p && (k > 0 || !m->i8_add[j] || al_cfg_src_port(&nj->cfg, k) != 0))
                return 0.0f;
    }
    return primary >= 0 ? i8_take(m, primary) : 0.0f;
}

static void i8_plan(al_model *m, int from, int to) {
    const int n = m->nnodes;
    int lim = AL_MIN(al_memplan_forward_lowest(m), to), any = 0;
    for (int i = 0; i < n; i++) any |= m->nodes[i].q != NULL;
    any = any && m->i8_chain;
    for (int i = 0; i < n; i++) {
        const al_node *nd = &m->nodes[i];
        m->i8_y[i] = 0.0f;
        m->i8_add[i] = (unsigned char)(any && nd->add_scale > 0.0f && !nd->trainable && i >= from && i < lim);
    }
    if (!any) return;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int p = from; p < lim; p++) m->i8_y[p] = i8_tensor_scale(m, p, from, lim);
        for (int a = from; a < lim; a++) {
            if (!m->i8_add[a]) continue;
            int x = al_node_input(&m->nodes[a]), s = m->nodes[a].cfg.src;
            if (x >= 0 && s >= 0 && m->i8_y[x] > 0.0f && m->i8_y[s] > 0.0f) continue;
            m->i8_add[a] = 0;
            changed = 1;
        }
    }
}

int al_model_i8_links(const al_model *m) {
    if (!m || !m->i8_y) return 0;
    al_model *w = (al_model *)m; /* the plan's arrays are scratch of the forward */
    i8_plan(w, 0, m->nnodes);
    int c = 0;
    for (int i = 0; i < m->nnodes; i++) c += m->i8_y[i] > 0.0f;
    return c;
}

int al_model_i8_adds(const al_model *m) {
    if (!m || !m->i8_add) return 0;
    al_model *w = (al_model *)m;
    i8_plan(w, 0, m->nnodes);
    int c = 0;
    for (int i = 0; i < m->nnodes; i++) c += m->i8_add[i];
    return c;
}

/* Tensor t (-1: the model input x) for samples [c0, ...) of this forward:
 * its chunk-local buffer when the chunk's plan places it, else its own
 * buffer at sample c0 (bytes for a tensor that travels as int8). */
static float *tensor_at(const al_model *m, const chunk_at *ca, int t, const float *x) {
    const int c0 = ca ? ca->c0 : 0;
    if (t < 0) return (float *)(uintptr_t)(x + (size_t)c0 * al_shape_numel(&m->in));
    if (ca && ca->cp->off[t] != AL_CHUNK_FULL) return (float *)(void *)(ca->block + ca->cp->off[t]);
    if (c0 == 0) return m->act[t];
    size_t es = t < m->nnodes && m->i8_y[t] > 0.0f ? 1 : sizeof(float);
    return (float *)(void *)((char *)m->act[t] + (size_t)c0 * al_shape_numel(al_model_tensor_shape(m, t)) * es);
}

/* Node i's forward on n samples (ca: of a chunk, on the chunk's copy of
 * the node; NULL: the whole batch). */
static al_status forward_node(al_model *m, al_pool *pool, int i, const float *x, int n, int training,
                              const chunk_at *ca) {
    al_node *nd = &m->nodes[i];
    if (ca) { /* a copy whose operands and aux this thread binds */
        *ca->node = *nd;
        int nm = al_cfg_nsrc(&nd->cfg) - 1;
        if (nm > 0) {
            memcpy(ca->more, nd->more, sizeof *ca->more * (size_t)nm);
            ca->node->more = ca->more;
        }
        nd = ca->node;
    }
    const float *in = tensor_at(m, ca, al_model_tensor(m, al_node_input(nd), nd->cfg.in_port), x);
    al_exec e = {pool, &m->rng, training && nd->trainable, nd->ws, 0, 0.0f, 0.0f};
    if (ca) {
        e.ws = (float *)(void *)(ca->block + ca->cp->ws_off[i]);
        nd->aux = (float *)(void *)(ca->block + ca->cp->aux_off[i]);
    }
    if (nd->q && !nd->trainable) {
        int xi = al_node_input(nd);
        e.x_i8 = xi >= 0 && m->i8_y[xi] > 0.0f;
        e.y_scale = m->i8_y[i];
    } else if (m->i8_add[i]) {
        e.x_i8 = 1;
        e.x2_scale = m->i8_y[nd->cfg.src];
        e.y_scale = m->i8_y[i];
    }
    if (m->observe) m->observe(m->observe_ctx, i, in, n);
    bind_src(m, nd, x, -1, ca);
    if (nd->mvt) {
        float *ys[AL_MAX_OUTS];
        for (int p = 0; p < al_cfg_nout(&nd->cfg); p++) ys[p] = tensor_at(m, ca, al_model_tensor(m, i, p), x);
        return nd->mvt->forward(nd, &e, in, ys, n);
    }
    return nd->vt->forward(nd, &e, in, tensor_at(m, ca, i, x), n);
}

/* The chunked forward of m->cplan's range: thread ith takes samples
 * [lo, hi) of its even share and runs them in chunks of nb through the
 * range on its own arena and node copy, the nodes on one thread each (no
 * parallel region per node). A failure is kept with its message per
 * thread. */
typedef struct chunk_job {
    al_model *m;
    const float *x;
    int n, nb, training; /* nb: samples a chunk, at most the plan's */
    al_pool *nodes;      /* the pool each node runs on (one part on the caller) */
} chunk_job;

static void chunk_task(void *arg, int ith, int nth) {
    const chunk_job *j = arg;
    al_model *m = j->m;
    al_chunkplan *cp = m->cplan;
    chunk_at ca = {cp, cp->block + (size_t)ith * cp->bytes, cp->tnodes + ith, cp->tmore + (size_t)ith * cp->nmore,
                   0};
    long lo, hi;
    al_split(j->n, ith, nth, &lo, &hi);
    cp->tst[ith] = AL_OK;
    /* the part's GEMM pack buffer from the plan (see al_gemm_lend_buffer;
     * none on one thread: the caller's own serves, chunk.c lent_floats) */
    if (cp->pack_floats) al_gemm_lend_buffer(cp->pack + (size_t)ith * cp->pack_floats, cp->pack_floats);
    for (long c0 = lo; c0 < hi && cp->tst[ith] == AL_OK; c0 += j->nb) {
        ca.c0 = (int)c0;
        for (int i = cp->from; i < cp->to; i++) {
            al_status st = forward_node(m, j->nodes, i, j->x, (int)AL_MIN((long)j->nb, hi - c0), j->training, &ca);
            if (st != AL_OK) {
                cp->tst[ith] = st;
                /* a layer counts samples from the chunk's first */
                snprintf(cp->tmsg + (size_t)ith * AL_CHUNK_MSG, AL_CHUNK_MSG, "%s (a chunk of samples from %ld)",
                         al_last_error(), c0);
                break;
            }
        }
    }
    al_gemm_lend_buffer(NULL, 0);
}

static al_status chunk_run(al_model *m, al_pool *pool, const float *x, int n, int nb, int training) {
    const al_chunkplan *cp = m->cplan;
    chunk_job j = {m, x, n, nb, training, NULL};
    if (cp->threads > 1) {
        al_pool_run(pool, chunk_task, &j);
    } else { /* one part: on the caller, each node on the pool */
        j.nodes = pool;
        chunk_task(&j, 0, 1);
    }
    for (int t = 0; t < cp->threads; t++)
        if (cp->tst[t] != AL_OK) return al_error(cp->tst[t], "%s", cp->tmsg + (size_t)t * AL_CHUNK_MSG);
    return AL_OK;
}

/* 1 when m's plan serves a forward from `from` whose chunked range ends
 * at e (al_chunk_end): whole, or slim for a range this forward runs in
 * chunks entire (or does not touch). */
static int slim_serves(const al_model *m, int from, int e) {
    if (m->plan_slim <= 0) return 1;
    return from > 0 ? from >= m->plan_slim : e >= m->plan_slim;
}

al_status al_model_forward_range(al_model *m, al_pool *pool, int from, int to, const float *x, int n,
                                 int training) {
    if (!m || !x) return al_error(AL_EINVAL, "forward: NULL argument");
    if (from < 0 || to > m->nnodes || from >= to)
        return al_error(AL_ERANGE, "forward: node range [%d,%d) out of 0..%d", from, to, m->nnodes);
    if (n <= 0) return al_error(AL_ERANGE, "forward: batch must be positive, got %d", n);
    if (!plan_fits(m, n, 0)) {
        /* a larger batch, or a freeze that moved backward's reach below the plan's */
        al_model_release_plan(m);
        al_status st = plan_layout(m, n, m->infer, NULL);
        if (st != AL_OK) return st;
    }
    /* the chunked range depends on the settings and the freeze point, not
     * on the plan */
    const int e = al_chunk_end(m, from, to, training), threads = al_pool_size(pool);
    for (int again = 0; !slim_serves(m, from, e); again++) {
        /* a slim plan this forward would run partly whole: a plan made
         * now (the freeze or the chunk settings changed), else a whole
         * one from now on */
        if ((uintptr_t)x - (uintptr_t)m->plan_block < (uintptr_t)m->plan_size)
            return al_error(AL_ESTATE, "forward of nodes %d..%d: its input lies in the memory plan, which must change",
                            from, to - 1);
        if (again) m->plan_whole = 1;
        const int B = m->maxbatch;
        al_model_release_plan(m);
        al_status st = plan_layout(m, B, m->infer, NULL);
        if (st != AL_OK) return st;
    }
    if (from > 0) {
        /* x is the frozen frontier at `from`, packed (al_model_frontier_pack):
         * node from - 1's output, and in a graph every earlier tensor a node
         * at or past `from` reads. The model input cannot be part of it. */
        int across = al_model_src_across(m, from);
        if (across >= 0 && across < to)
            return al_error(AL_ESTATE, "forward from node %d: node %d reads the model input, which lies below", from,
                            across);
        frontier_unpack(m, from, n, x);
    }
    i8_plan(m, from, to);
    int i = from;
    /* in a slim plan [0, e) has no whole-batch buffers to run in: where
     * al_chunk_samples says whole, in one part on the caller (the nodes on
     * the pool, as whole) */
    const int must = from == 0 && m->plan_slim > 0;
    int nb = al_chunk_samples(m, from, e, n, threads), parts = must && nb >= n ? 1 : threads;
    if ((nb < n || must) && al_chunk_ready(m, parts, from, e, &nb, x, n)) {
        al_status st = chunk_run(m, pool, x, n, nb, training);
        if (st != AL_OK) return st;
        i = e;
    } else if (must) {
        if (!m->cplan) return al_error(AL_ENOMEM, "forward: out of memory for the chunk arenas of nodes 0..%d", e - 1);
        return al_error(AL_ESTATE, "forward: the input lies in the model's own buffers");
    }
    for (; i < to; i++) {
        al_status st = forward_node(m, pool, i, x, n, training, NULL);
        if (st != AL_OK) return st;
    }
    return AL_OK;
}

al_status al_model_forward_from(al_model *m, al_pool *pool, int from, const float *x, int n, int training,
                                const float **y) {
    al_status st = al_model_forward_range(m, pool, from, m ? m->nnodes : 0, x, n, training);
    if (st == AL_OK && y) *y = m->act[m->nnodes - 1];
    return st;
}

al_status al_model_backward(al_model *m, al_pool *pool, const float *x, const float *dlogits, int n) {
    if (!m || !x || !dlogits) return al_error(AL_EINVAL, "backward: NULL argument");
    if (n <= 0 || n > m->maxbatch) return al_error(AL_ERANGE, "backward: batch %d exceeds the plan", n);
    if (m->want_input_grad && !m->dinput) return al_error(AL_ESTATE, "backward: plan lacks the input gradient");
    int L = al_memplan_lowest(m);
    if (!m->plan_naive && L < m->plan_lowest)
        return al_error(AL_ESTATE, "backward: the model was unfrozen down to node %d after its plan (node %d); "
                                   "run forward again", L, m->plan_lowest);
    for (int t = 0; t < m->ntensors; t++)
        if (m->dside[t]) memset(m->dside[t], 0, sizeof(float) * (size_t)n * al_shape_numel(al_model_tensor_shape(m, t)));
    if (m->dside_input) memset(m->dside_input, 0, sizeof(float) * (size_t)n * al_shape_numel(&m->in));
    for (int i = m->nnodes - 1; i >= L; i--) {
        al_node *nd = &m->nodes[i];
        const float *dys[AL_MAX_OUTS];
        const float *ys[AL_MAX_OUTS];
        for (int p = 0; p < al_cfg_nout(&nd->cfg); p++) {
            int t = al_model_tensor(m, i, p);
            const float *dy = dlogits;
            ys[p] = m->act[t];
            if (t != m->nnodes - 1) {
                if (m->t_last_primary[t] < 0) {
                    /* read only as another node's operand (or not at all: zeros) */
                    dy = m->dside[t];
                } else {
                    dy = m->dact[t];
                    if (m->dside[t]) {
                        size_t k = (size_t)n * al_shape_numel(al_node_out(nd, p));
                        for (size_t j = 0; j < k; j++) m->dact[t][j] += m->dside[t][j];
                    }
                }
            }
            dys[p] = dy;
        }
        int xi = al_node_input(nd), xt = al_model_tensor(m, xi, nd->cfg.in_port);
        float *dx = NULL, *acc = NULL; /* acc: where dx is added when the node is not the direct writer */
        if (xi >= L) {
            dx = nd->dx_direct ? m->dact[xt] : nd->dxbuf;
            if (!nd->dx_direct) acc = m->dside[xt];
        } else if (xi < 0 && m->want_input_grad) {
            dx = nd->dx_direct ? m->dinput : nd->dxbuf;
            if (!nd->dx_direct) acc = m->dside_input;
        }
        const float *in = xt < 0 ? x : m->act[xt];
        al_exec e = {pool, &m->rng, 1 && nd->trainable, nd->ws, 0, 0.0f, 0.0f};
        bind_src(m, nd, x, L, NULL);
        if (nd->mvt)
            nd->mvt->backward(nd, &e, in, ys, dys, dx, n);
        else
            nd->vt->backward(nd, &e, in, m->act[i], dys[0], dx, n);
        if (acc) {
            size_t k = (size_t)n * al_shape_numel(&nd->in);
            for (size_t j = 0; j < k; j++) acc[j] += dx[j];
        }
    }
    if (m->want_input_grad && m->dside_input) {
        size_t k = (size_t)n * al_shape_numel(&m->in);
        for (size_t j = 0; j < k; j++) m->dinput[j] += m->dside_input[j];
    }
    return AL_OK;
}

void al_model_zero_grad(al_model *m) { al_model_zero_grad_pool(m, NULL); }

/* Below this many gradient floats one thread clears them all. */
#define ZERO_PAR_MIN 65536

typedef struct zero_args {
    al_model *m;
    size_t total;
} zero_args;

/* Part ith of the gradients laid end to end, cut at multiples of 16 floats. */
static void zero_task(void *va, int ith, int nth) {
    const zero_args *za = va;
    long a, b;
    al_split((long)((za->total + 15) / 16), ith, nth, &a, &b);
    size_t lo = AL_MIN((size_t)a * 16, za->total), hi = AL_MIN((size_t)b * 16, za->total), off = 0;
    for (int i = 0; i < za->m->nnodes && lo < hi; i++)
        for (int p = 0; p < za->m->nodes[i].nparams && lo < hi; p++) {
            al_param *pr = &za->m->nodes[i].params[p];
            if (!pr->g) continue;
            size_t end = off + pr->n;
            if (end > lo) {
                size_t s = lo - off, e = AL_MIN(hi, end) - off;
                memset(pr->g + s, 0, sizeof(float) * (e - s));
                lo = off + e;
            }
            off = end;
        }
}

void al_model_zero_grad_pool(al_model *m, al_pool *pool) {
    zero_args za = {m, 0};
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            if (m->nodes[i].params[p].g) za.total += m->nodes[i].params[p].n;
    if (pool && al_pool_size(pool) > 1 && za.total >= ZERO_PAR_MIN)
        al_pool_run(pool, zero_task, &za);
    else
        zero_task(&za, 0, 1);
}

void al_model_reset_state(al_model *m) {
    for (int i = 0; i < m->nnodes; i++)
        if (m->nodes[i].state)
            memset(m->nodes[i].state, 0, sizeof(float) * 2 * (size_t)m->nodes[i].maxbatch * (size_t)m->nodes[i].cfg.units);
}

void al_model_set_carry_state(al_model *m, int on) {
    for (int i = 0; i < m->nnodes; i++) m->nodes[i].carry_state = on;
}

al_status al_model_freeze(al_model *m, int freeze) {
    if (!m) return al_error(AL_EINVAL, "al_model_freeze: model is NULL");
    if (freeze < 0 || freeze > m->nnodes)
        return al_error(AL_ERANGE, "freeze point %d out of range 0..%d", freeze, m->nnodes);
    for (int i = 0; i < m->nnodes; i++) {
        m->nodes[i].trainable = i >= freeze;
        /* a node that will be trained keeps only its (dequantized) floats:
         * int8 weights would go stale (src/cloud/compile/quant.h) */
        if (m->nodes[i].trainable && m->nodes[i].q) {
            al_qnode_free(m->nodes[i].q);
            m->nodes[i].q = NULL;
        }
    }
    m->freeze = freeze;
    return AL_OK;
}

int al_model_num_nodes(const al_model *m) { return m ? m->nnodes : 0; }
int al_model_freeze_point(const al_model *m) { return m ? m->freeze : 0; }

const char *al_model_node_type(const al_model *m, int i) {
    if (!m || i < 0 || i >= m->nnodes) return NULL;
    return al_layer_type_name(m->nodes[i].cfg.type);
}

const char *al_model_node_name(const al_model *m, int i) {
    if (!m || i < 0 || i >= m->nnodes) return NULL;
    return m->nodes[i].cfg.name;
}

int al_model_find_node(const al_model *m, const char *name) {
    if (!m || !name || !*name) return -1;
    for (int i = 0; i < m->nnodes; i++)
        if (!strcmp(m->nodes[i].cfg.name, name)) return i;
    return -1;
}

static al_tensor shape_view(const al_shape *s) {
    al_tensor t = {0};
    t.ndim = s->ndim;
    for (int i = 0; i < s->ndim; i++) t.shape[i] = s->d[i];
    return t;
}

/* NULL or an empty model: a tensor of no dimensions */
al_tensor al_model_input_shape(const al_model *m) {
    al_tensor t = {0};
    return m ? shape_view(&m->in) : t;
}
al_tensor al_model_output_shape(const al_model *m) {
    al_tensor t = {0};
    return m && m->nnodes > 0 ? shape_view(&m->nodes[m->nnodes - 1].out) : t;
}

size_t al_model_num_params(const al_model *m) {
    size_t n = 0;
    for (int i = 0; m && i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            if (!m->nodes[i].params[p].is_state) n += m->nodes[i].params[p].n;
    return n;
}

uint64_t al_model_macs(const al_model *m) {
    uint64_t s = 0;
    for (int i = 0; m && i < m->nnodes; i++)
        if (m->nodes[i].vt->macs) s += m->nodes[i].vt->macs(&m->nodes[i]);
    return s;
}

const char *al_model_spec(const al_model *m) { return m ? m->spec : NULL; }

const char *al_model_meta(const al_model *m, const char *key) {
    if (!m || !key) return NULL;
    for (int i = 0; i < m->nmeta; i++)
        if (strcmp(m->meta_key[i], key) == 0) return m->meta_val[i];
    return NULL;
}

/* Keys the layout owns; every other string key is free-form metadata. */
int al_model_meta_reserved(const char *p, size_t n) {
    static const char *const exact[] = {"general.architecture",     "general.alignment", "autlearn.format_version",
                                        "autlearn.spec",            "autlearn.layer_count", "autlearn.first_trainable",
                                        GGUF_KEY_CRC_HEADER,        GGUF_KEY_CRC_DATA};
    static const char *const prefix[] = {"autlearn.layer.", "autlearn.input."};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strlen(exact[i]) == n && memcmp(exact[i], p, n) == 0) return 1;
    for (size_t i = 0; i < sizeof prefix / sizeof prefix[0]; i++) {
        size_t k = strlen(prefix[i]);
        if (n >= k && memcmp(prefix[i], p, k) == 0) return 1;
    }
    return 0;
}

al_status al_model_meta_key_check(const char *key) {
    const size_t n = strlen(key);
    if (n == 0 || n > GGUF_MAX_KEY)
        return al_error(AL_EINVAL, "metadata key of %zu bytes: a model file holds keys of 1 to %d bytes", n,
                        GGUF_MAX_KEY);
    if (al_model_meta_reserved(key, n))
        return al_error(AL_EINVAL, "metadata key '%s' is reserved by the model file layout", key);
    return AL_OK;
}

al_status al_model_set_meta(al_model *m, const char *key, const char *value) {
    if (!m || !key || !value) return al_error(AL_EINVAL, "al_model_set_meta: NULL argument");
    al_status st = al_model_meta_key_check(key); /* what al_model_save could not write */
    if (st) return st;
    for (int i = 0; i < m->nmeta; i++)
        if (strcmp(m->meta_key[i], key) == 0) {
            char *v = al_strdup(value);
            if (!v) return AL_ENOMEM;
            al_free(m->meta_val[i]);
            m->meta_val[i] = v;
            return AL_OK;
        }
    if (m->nmeta >= AL_MAX_META) return al_error(AL_ERANGE, "too many metadata entries (max %d)", AL_MAX_META);
    char *k = al_strdup(key), *v = al_strdup(value);
    if (!k || !v) {
        al_free(k);
        al_free(v);
        return AL_ENOMEM;
    }
    m->meta_key[m->nmeta] = k;
    m->meta_val[m->nmeta] = v;
    m->nmeta++;
    return AL_OK;
}

al_status al_model_predict(al_model *m, al_pool *pool, const float *x, int n, float *y) {
    if (!m || !x || !y) return al_error(AL_EINVAL, "al_model_predict: NULL argument");
    if (n < 0) return al_error(AL_ERANGE, "al_model_predict: negative count");
    int chunk = m->maxbatch > 0 ? m->maxbatch : AL_MIN(n, 64);
    if (chunk <= 0) return AL_OK;
    al_status st = al_model_plan_infer(m, chunk, m->nnodes);
    if (st != AL_OK) return st;
    size_t xi = al_shape_numel(&m->in), yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    for (int s = 0; s < n; s += chunk) {
        int b = AL_MIN(chunk, n - s);
        const float *out;
        st = al_model_infer(m, pool, x + (size_t)s * xi, b, &out);
        if (st != AL_OK) return st;
        memcpy(y + (size_t)s * yo, out, sizeof(float) * (size_t)b * yo);
    }
    return AL_OK;
}

void al_model_release_memory(al_model *m) { al_model_release_plan(m); }

al_status al_model_copy_weights(al_model *dst, const al_model *src) {
    if (!dst || !src) return al_error(AL_EINVAL, "al_model_copy_weights: NULL argument");
    if (dst->nweights != src->nweights || strcmp(dst->spec, src->spec) != 0)
        return al_error(AL_ESHAPE, "cannot copy weights between different architectures");
    memcpy(dst->wblock, src->wblock, sizeof(float) * src->nweights);
    return AL_OK;
}

al_status al_model_clone(const al_model *m, al_model **out) {
    if (!m || !out) return al_error(AL_EINVAL, "al_model_clone: NULL argument");
    *out = NULL;
    al_layer_cfg *layers = al_malloc(sizeof *layers * (size_t)m->nnodes);
    if (!layers) return AL_ENOMEM;
    for (int i = 0; i < m->nnodes; i++) layers[i] = m->nodes[i].cfg;
    al_model *c;
    al_status st = al_model_build(&m->in, m->input_tokens, layers, m->nnodes, &c);
    al_free(layers);
    if (st) return st;
    memcpy(c->wblock, m->wblock, sizeof(float) * m->nweights);
    c->rng = m->rng;
    /* the execution settings: memory layout, int8 chain, chunked forward */
    c->plan_naive = m->plan_naive;
    c->i8_chain = m->i8_chain;
    c->chunk = m->chunk;
    (void)al_model_freeze(c, m->freeze);
    st = al_quant_copy(c, m);
    for (int i = 0; i < m->nmeta && st == AL_OK; i++) st = al_model_set_meta(c, m->meta_key[i], m->meta_val[i]);
    if (st) {
        al_model_free(c);
        return st;
    }
    *out = c;
    return AL_OK;
}

/* A model from a spec (the parser is spec.c; it knows nothing of models). */
al_status al_model_from_spec(const char *spec, uint64_t seed, al_model **out) {
    if (!out) return al_error(AL_EINVAL, "al_model_from_spec: out is NULL");
    *out = NULL;
    al_layer_cfg *layers;
    al_shape in;
    int tokens = 0, n = 0;
    al_status st = al_spec_parse_alloc(spec, &in, &tokens, &layers, &n);
    if (st) return st;
    st = al_model_build(&in, tokens, layers, n, out);
    al_free(layers);
    if (st) return st;
    al_model_init_weights(*out, seed);
    return AL_OK;
}

int al_model_arch_freeze(const al_model *m) {
    /* Measured on Fashion-MNIST (README, "Choosing the freeze point"): training
     * only the output layer is as accurate as training the whole dense head,
     * at half the device MACs and with a far larger cache speed-up. */
    for (int i = m->nnodes - 1; i >= 0; i--)
        for (int p = 0; p < m->nodes[i].nparams; p++)
            if (!m->nodes[i].params[p].is_state) return i;
    return 0;
}

int al_model_src_across(const al_model *m, int freeze) {
    if (freeze <= 0 || m->input_last_reader < freeze) return -1;
    for (int i = freeze; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        if (al_node_input(nd) < 0) return i;
        for (int k = 0; k < al_cfg_nsrc(&nd->cfg); k++)
            if (al_cfg_src(&nd->cfg, k) < 0) return i;
    }
    return -1;
}

const char *al_model_src_verb(const al_model *m, int i) {
    const al_node *nd = &m->nodes[i];
    if (al_node_input(nd) < 0) return "reads";
    return nd->cfg.type == AL_L_MUL ? "multiplies by" : nd->cfg.type == AL_L_ADD ? "adds" : "reads";
}

int al_model_resolve_freeze(const al_model *m, int freeze) {
    if (freeze >= 0) return freeze;
    const char *f = al_model_meta(m, "autlearn.freeze");
    if (f && *f >= '0' && *f <= '9') {
        char *end;
        errno = 0;
        long v = strtol(f, &end, 10);
        if (!*end && errno == 0 && v <= m->nnodes) return (int)v;
    }
    return al_model_arch_freeze(m);
}
