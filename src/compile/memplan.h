/* The memory planner (device side: libc only). It lists every buffer a
 * training step of a model needs at a batch size -- activations, their
 * gradients, residual side gradients, each layer's saved state (aux) and
 * scratch, the LSTM carried state, the input gradient -- with the steps
 * during which each one holds a value, and gives each an offset in one
 * arena so that buffers alive at the same time never share bytes. The model
 * planner (model.c, al_model_plan) carves its block from this plan, so
 * al_model_plan_bytes is the plan's total and the peak training memory is
 * known before the first step. docs/COMPILE.md explains the schedule. */
#ifndef AL_MEMPLAN_H
#define AL_MEMPLAN_H

#include "al_internal.h"

/* Schedule of one training step over n nodes with L the lowest node
 * backward reaches (al_memplan_lowest):
 *   forward of node i          at time i           (0 .. n-1)
 *   backward of node i (i >= L) at time 2n-1-i      (n .. 2n-1-L)
 * Buffers that outlive a step (LSTM state, the pointer tables) are alive
 * over [0, AL_MEMPLAN_END]. Intervals are inclusive. */
#define AL_MEMPLAN_END (2 * AL_MAX_NODES + 1)

typedef enum al_membuf_kind {
    AL_MB_TABLES = 0, /* the act/dact/dside pointer tables */
    AL_MB_ACT,        /* act[i], output of node i */
    AL_MB_DACT,       /* dact[i], gradient w.r.t. act[i] */
    AL_MB_DSIDE,      /* dside[i], gradient reaching node i through an add */
    AL_MB_AUX,        /* node i's aux: what forward keeps for backward */
    AL_MB_STATE,      /* node i's carried recurrent state */
    AL_MB_WS,         /* node i's scratch (-1: one scratch shared by all, naive plan) */
    AL_MB_DINPUT,     /* gradient w.r.t. the model input (want_input_grad) */
    AL_MB_DSIDE_INPUT /* gradient reaching the input through an add */
} al_membuf_kind;

typedef struct al_membuf {
    al_membuf_kind kind;
    int node;         /* node index; -1 for model-wide buffers */
    size_t bytes;     /* a multiple of 64 */
    size_t offset;    /* from the arena's start, a multiple of 64 */
    int nlive;        /* 1 or 2 live intervals (scratch: its forward and its backward step) */
    int t0[2], t1[2];
} al_membuf;

/* At most 6 buffers per node plus the model-wide ones. */
#define AL_MEMPLAN_MAX (6 * AL_MAX_NODES + 4)

typedef struct al_memplan {
    int nbuf;
    al_membuf buf[AL_MEMPLAN_MAX];
    size_t total;     /* bytes of the arena: the peak */
    size_t live_peak; /* the most bytes alive at one step: the bound no placement beats */
    int lowest;       /* L the plan was made for */
    int naive;        /* 1: every buffer alive all the time (the planner before liveness) */
} al_memplan;

/* The lowest node backward reaches: 0 with want_input_grad, else the lowest
 * trainable node with trained weights, nnodes when there is none. */
int al_memplan_lowest(const al_model *m);
/* The same after al_model_freeze(m, freeze) (freeze < 0: as m stands). */
int al_memplan_lowest_at(const al_model *m, int freeze);

/* Lists the buffers of m at batch maxbatch and places them. naive = 1 gives
 * the layout without liveness: one buffer per activation and gradient of
 * every node, aux for every node, one shared scratch, laid end to end (what
 * an uncompiled model would need; the comparison in autlearn info). */
al_status al_memplan_build(const al_model *m, int maxbatch, int naive, al_memplan *p);
/* The same for the model frozen at `freeze` (< 0: as it stands). */
al_status al_memplan_build_at(const al_model *m, int maxbatch, int naive, int freeze, al_memplan *p);

/* 0 when the plan is sound: every buffer lies inside total, and no two
 * buffers whose live intervals intersect share a byte. Otherwise 1 with a
 * description of the first conflict in why[cap]. */
int al_memplan_check(const al_memplan *p, char *why, size_t cap);

/* The buffer of (kind, node), or NULL. */
const al_membuf *al_memplan_find(const al_memplan *p, al_membuf_kind kind, int node);

#endif /* AL_MEMPLAN_H */
