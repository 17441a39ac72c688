/* The runtime cache: frozen-prefix outputs keyed by (sample id, variant).
 * The binding says what an entry's features were computed with: the frozen
 * prefix (its weights and freeze point; a change clears the cache) and, for
 * augmented variants (> 0), the augmentation settings and seed: an entry of
 * variant > 0 is stored under its id mixed with the augmentation
 * fingerprint it was made under, so it is found only under the same one
 * (the entry stays 24 bytes, as the memory plan counts it). The data is in the key itself: the
 * caller's sample ids, or a hash of the sample's content when it has none
 * (al_cache_content_key). 
 * An open-addressing hash table maps keys to a slot in memory (slots are
 * carved from chunks, up to the byte bound) or to a record in the spill file.
 * Any failure to store (no memory, bound reached without a spill file, a
 * failed write) only means the entry is recomputed next time. */
#include "train/train.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    uint64_t id;
    int32_t variant;  /* -1: empty slot */
    int32_t spilled;
    uint64_t loc;     /* memory slot or spill record */
} entry;

#define CHUNK_SLOTS 256

struct al_cache {
    size_t max_bytes;
    char *spill_path;
    int fd;
    size_t feat;
    uint64_t fingerprint;
    uint64_t aug;     /* the augmentation bound now (al_cache_bind_augment) */
    uint64_t data;    /* the data bound now, where ids are not content (al_cache_bind_data) */
    uint64_t aug_entries; /* entries of variant > 0 held */
    int bound;
    entry *tab;
    size_t cap, used;
    float **chunks;
    size_t nchunks, chunk_cap, mem_slots;
    uint64_t spill_records;
    al_cache_stats st;
};

/* The spill file is made when the first entry goes past the bound; a
 * directory that cannot hold it is said at once, not found then and
 * logged. */
static al_status check_spill_dir(const char *path) {
    if (!*path) return al_error(AL_EINVAL, "the cache's spill path is empty");
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir) return al_error(AL_EINVAL, "the cache's spill path is too long");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) != 0) return al_error(AL_EIO, "cache spill file %s: %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return al_error(AL_EIO, "cache spill file %s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return al_error(AL_EIO, "cache spill file %s: cannot write in %s: %s", path, dir, strerror(errno));
    return AL_OK;
}

al_status al_cache_new(size_t max_bytes, const char *spill_path, al_cache **out) {
    if (!out) return al_error(AL_EINVAL, "al_cache_new: out is NULL");
    *out = NULL;
    if (spill_path) {
        al_status st = check_spill_dir(spill_path);
        if (st) return st;
    }
    al_cache *c = al_calloc(1, sizeof *c);
    if (!c) return AL_ENOMEM;
    c->max_bytes = max_bytes;
    c->fd = -1;
    if (spill_path) {
        c->spill_path = al_strdup(spill_path);
        if (!c->spill_path) {
            al_free(c);
            return AL_ENOMEM;
        }
    }
    *out = c;
    return AL_OK;
}

void al_cache_clear(al_cache *c) {
    if (!c) return;
    for (size_t i = 0; i < c->nchunks; i++) al_free(c->chunks[i]);
    al_free(c->chunks);
    al_free(c->tab);
    c->chunks = NULL;
    c->tab = NULL;
    c->nchunks = c->chunk_cap = c->mem_slots = 0;
    c->cap = c->used = 0;
    c->spill_records = 0;
    c->aug_entries = 0;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
        unlink(c->spill_path);
    }
    uint64_t h = c->st.hits, m = c->st.misses;
    memset(&c->st, 0, sizeof c->st);
    c->st.hits = h;
    c->st.misses = m;
}

void al_cache_free(al_cache *c) {
    if (!c) return;
    al_cache_clear(c);
    al_free(c->spill_path);
    al_free(c);
}

void al_cache_get_stats(const al_cache *c, al_cache_stats *s) {
    if (!s) return;
    if (!c) {
        memset(s, 0, sizeof *s);
        return;
    }
    *s = c->st;
}

void al_cache_bind(al_cache *c, size_t feat, uint64_t fingerprint) {
    if (c->bound && c->feat == feat && c->fingerprint == fingerprint) return;
    al_cache_clear(c);
    c->feat = feat;
    c->fingerprint = fingerprint;
    c->bound = 1;
}

void al_cache_bind_data(al_cache *c, uint64_t data) {
    if (!c || c->data == data) return;
    al_cache_clear(c);
    c->data = data;
}

void al_cache_bind_augment(al_cache *c, uint64_t aug) {
    if (!c || c->aug == aug) return;
    /* entries of the old augmentation are never served again; when they
     * are all the cache holds, their room goes back at once (otherwise
     * they keep it until the cache is cleared: variant 0 stays usable) */
    if (c->aug_entries == c->used) al_cache_clear(c);
    c->aug = aug;
}

uint64_t al_cache_content_key(const float *x, size_t n) {
    /* a content hash names the sample: equal inputs share their frozen
     * features, other data never meets an entry made from this one */
    return al_hash_bytes(0xc0a7e27ULL, x, sizeof(float) * n);
}

static uint64_t hash_key(uint64_t id, int variant) {
    uint64_t h = id * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)(uint32_t)variant * 0xC2B2AE3D27D4EB4FULL);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 29);
}

/* The entry stored under (key, variant), or the empty slot where it would go. */
static entry *find_key(al_cache *c, uint64_t key, int variant) {
    if (!c->cap) return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = hash_key(key, variant) & mask;; i = (i + 1) & mask) {
        entry *e = &c->tab[i];
        if (e->variant < 0) return e;
        if (e->id == key && e->variant == variant) return e;
    }
}

/* What (id, variant) is stored under: an augmented variant's id mixed with
 * the augmentation bound now (the mix is a bijection of the id, so two ids
 * under one augmentation never meet). */
static uint64_t store_key(const al_cache *c, uint64_t id, int variant) {
    if (variant <= 0 || c->aug == 0) return id;
    uint64_t h = c->aug * 0xD6E8FEB86659FD93ULL;
    return id ^ (h ^ (h >> 32));
}

static entry *find(al_cache *c, uint64_t id, int variant) { return find_key(c, store_key(c, id, variant), variant); }

static int grow(al_cache *c) {
    size_t ncap = c->cap ? c->cap * 2 : 1024;
    entry *nt = al_malloc(sizeof(entry) * ncap);
    if (!nt) return 0;
    for (size_t i = 0; i < ncap; i++) nt[i].variant = -1;
    entry *old = c->tab;
    size_t ocap = c->cap;
    c->tab = nt;
    c->cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].variant >= 0) *find_key(c, old[i].id, old[i].variant) = old[i];
    al_free(old);
    return 1;
}

int al_cache_contains(const al_cache *c, uint64_t id, int variant) {
    if (!c || !c->bound) return 0;
    entry *e = find((al_cache *)c, id, variant);
    return e && e->variant >= 0;
}

static float *slot(al_cache *c, uint64_t s) { return c->chunks[s / CHUNK_SLOTS] + (s % CHUNK_SLOTS) * c->feat; }

int al_cache_lookup(al_cache *c, uint64_t id, int variant, float *out) {
    if (!c || !c->bound) return 0;
    entry *e = find(c, id, variant);
    if (!e || e->variant < 0) {
        c->st.misses++;
        return 0;
    }
    size_t bytes = c->feat * sizeof(float);
    if (!e->spilled) {
        memcpy(out, slot(c, e->loc), bytes);
    } else {
        off_t off = (off_t)(e->loc * bytes);
        size_t got = 0;
        while (got < bytes) {
            ssize_t r = pread(c->fd, (char *)out + got, bytes - got, off + (off_t)got);
            if (r <= 0) {
                if (r < 0 && errno == EINTR) continue;
                c->st.misses++;
                return 0; /* unreadable: recompute */
            }
            got += (size_t)r;
        }
    }
    c->st.hits++;
    return 1;
}

static int mem_slot(al_cache *c, uint64_t *s) {
    size_t bytes = c->feat * sizeof(float);
    if ((c->mem_slots + 1) * bytes > c->max_bytes) return 0;
    if (c->mem_slots == c->nchunks * CHUNK_SLOTS) {
        if (c->nchunks == c->chunk_cap) {
            size_t ncap = c->chunk_cap ? c->chunk_cap * 2 : 16;
            float **nc = al_malloc(sizeof(float *) * ncap);
            if (!nc) return 0;
            if (c->nchunks) memcpy(nc, c->chunks, sizeof(float *) * c->nchunks);
            al_free(c->chunks);
            c->chunks = nc;
            c->chunk_cap = ncap;
        }
        /* a chunk never exceeds what the bound still allows */
        size_t room = (c->max_bytes / bytes) - c->mem_slots;
        size_t n = room < CHUNK_SLOTS ? room : CHUNK_SLOTS;
        float *ch = al_malloc(bytes * (n ? n : 1)); /* the last chunk only what the bound allows */
        if (!ch || n == 0) {
            al_free(ch);
            return 0;
        }
        c->chunks[c->nchunks++] = ch;
    }
    *s = c->mem_slots++;
    return 1;
}

static int spill(al_cache *c, const float *f, uint64_t *rec) {
    if (!c->spill_path) return 0;
    if (c->fd < 0) {
        /* Always a new file of our own, mode 0600: whatever sits at the
         * path goes first (a stale spill keeps its old mode under O_TRUNC;
         * a symlink would send private features elsewhere), and O_EXCL |
         * O_NOFOLLOW refuse anything that reappears there. */
        unlink(c->spill_path);
        c->fd = open(c->spill_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (c->fd < 0) {
            al_log(AL_LOG_WARN, "cache: cannot create spill file %s: %s", c->spill_path, strerror(errno));
            al_free(c->spill_path);
            c->spill_path = NULL; /* recompute from now on */
            return 0;
        }
    }
    size_t bytes = c->feat * sizeof(float);
    off_t off = (off_t)(c->spill_records * bytes);
    size_t put = 0;
    while (put < bytes) {
        ssize_t w = pwrite(c->fd, (const char *)f + put, bytes - put, off + (off_t)put);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) continue;
            return 0;
        }
        put += (size_t)w;
    }
    *rec = c->spill_records++;
    return 1;
}

void al_cache_store(al_cache *c, uint64_t id, int variant, const float *f) {
    if (!c || !c->bound || variant < 0) return;
    if ((c->used + 1) * 2 > c->cap && !grow(c)) {
        c->st.dropped++;
        return;
    }
    entry *e = find(c, id, variant);
    if (e->variant >= 0) return; /* already held */
    uint64_t loc;
    int spilled = 0;
    if (mem_slot(c, &loc)) {
        memcpy(slot(c, loc), f, c->feat * sizeof(float));
        c->st.entries_mem++;
        c->st.bytes_mem += c->feat * sizeof(float);
    } else if (spill(c, f, &loc)) {
        spilled = 1;
        c->st.entries_spilled++;
        c->st.bytes_spilled += c->feat * sizeof(float);
    } else {
        c->st.dropped++;
        return;
    }
    e->id = store_key(c, id, variant);
    e->variant = variant;
    e->spilled = spilled;
    e->loc = loc;
    if (variant > 0) c->aug_entries++;
    c->used++;
}

size_t al_cache_bound(const al_cache *c) { return c ? c->max_bytes : 0; }

int al_cache_has_spill(const al_cache *c) { return c && c->spill_path; }

void al_cache_set_bound(al_cache *c, size_t max_bytes) {
    if (!c) return;
    /* entries in memory past a lower bound cannot stay, and a higher one
     * would outgrow the last chunk (sized by the old bound): start afresh */
    if (c->mem_slots && (max_bytes > c->max_bytes || c->mem_slots * c->feat * sizeof(float) > max_bytes))
        al_cache_clear(c);
    c->max_bytes = max_bytes;
}

uint64_t al_model_prefix_fingerprint(const al_model *m) {
    uint32_t crc = al_crc32(0, &m->freeze, sizeof m->freeze);
    crc = al_crc32(crc, m->spec, strlen(m->spec));
    uint32_t crc2 = crc ^ 0x5a5a5a5au;
    for (int i = 0; i < m->freeze; i++) {
        /* the int8 forward of the same (dequantized) weights differs */
        unsigned char q = m->nodes[i].q != NULL;
        crc = al_crc32(crc, &q, 1);
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            const al_param *pr = &m->nodes[i].params[p];
            crc = al_crc32(crc, pr->w, sizeof(float) * pr->n);
            crc2 = al_crc32(crc2, pr->w, sizeof(float) * pr->n / 2);
        }
    }
    return ((uint64_t)crc << 32) | crc2;
}

/* Sample i's cache key: the caller's id, else its content's hash. */
static uint64_t key_at(const uint64_t *ids, const float *x, size_t xi, int i) {
    return ids ? ids[i] : al_cache_content_key(x + (size_t)i * xi, xi);
}

al_status al_model_predict_cached(al_model *m, al_pool *pool, const float *x, int n, const uint64_t *ids,
                                  al_cache *c, float *y) {
    if (!m || !x || !y) return al_error(AL_EINVAL, "al_model_predict_cached: NULL argument");
    if (n < 0) return al_error(AL_ERANGE, "al_model_predict_cached: negative count");
    int k = m->freeze;
    /* a node past the frontier that reads the model input would read what a
     * cache hit never provides: no cache then */
    if (!c || k == 0 || k >= m->nnodes || al_model_src_across(m, k) >= 0) return al_model_predict(m, pool, x, n, y);
    int chunk = m->maxbatch > 0 ? m->maxbatch : AL_MIN(n, 64);
    if (chunk <= 0) return AL_OK;
    /* inference alone, the frontier at k kept whole (al_model_plan_infer):
     * a plan made here has no buffer for backward */
    al_status st = al_model_plan_infer(m, chunk, k);
    if (st) return st;
    size_t feat = al_model_frontier_numel(m, k);
    al_cache_bind(c, feat, al_model_prefix_fingerprint(m));
    size_t xi = al_shape_numel(&m->in), yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    /* the suffix reads the packed frontier: when that is node k-1's first
     * output alone it is act[k-1] itself, gather hits there; in a graph with
     * several tensors (or a later output of a split), gather them in a
     * buffer of their own. When any sample misses, run the prefix for the
     * chunk and keep the misses. */
    float *fb = m->act[k - 1], *own = NULL;
    if (!al_model_frontier_plain(m, k)) {
        own = fb = al_malloc(sizeof(float) * (size_t)chunk * feat);
        if (!fb) return AL_ENOMEM;
    }
    for (int s = 0; s < n && st == AL_OK; s += chunk) {
        int b = AL_MIN(chunk, n - s);
        int misses = 0;
        for (int i = 0; i < b && !misses; i++)
            misses = !al_cache_lookup(c, key_at(ids, x, xi, s + i), 0, fb + (size_t)i * feat);
        if (misses) {
            st = al_model_infer_range(m, pool, 0, k, x + (size_t)s * xi, b, k);
            if (st) break;
            al_model_frontier_pack(m, k, b, fb);
            for (int i = 0; i < b; i++) al_cache_store(c, key_at(ids, x, xi, s + i), 0, fb + (size_t)i * feat);
        }
        st = al_model_infer_range(m, pool, k, m->nnodes, fb, b, k);
        if (st) break;
        memcpy(y + (size_t)s * yo, m->act[m->nnodes - 1], sizeof(float) * (size_t)b * yo);
    }
    al_free(own);
    return st;
}
