/* Core: status strings, per-thread errors, RNG streams, thread pool (and the
 * serial pool), the allocator hooks, arena, and the architecture spec parser. */
#include "al_test.h"

#include <pthread.h>

static void *other_thread(void *arg) {
    (void)arg;
    al_error(AL_EIO, "set in another thread");
    return NULL;
}

static void test_status(void) {
    for (int s = 0; s >= -12; s--) {
        CHECK(al_strerror((al_status)s) != NULL);
        CHECK(strncmp(al_status_name((al_status)s), "AL_", 3) == 0);
    }
    CHECK(strcmp(al_strerror((al_status)-99), "unknown status") == 0);
    CHECK(al_error(AL_ERANGE, "value %d", 7) == AL_ERANGE);
    CHECK(strcmp(al_last_error(), "value 7") == 0);
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    CHECK(strcmp(al_last_error(), "value 7") == 0); /* per-thread */
}

static int log_calls;
static void log_sink(void *user, al_log_level lv, const char *msg) {
    (void)user;
    if (lv >= AL_LOG_WARN && strcmp(msg, "hello 3") == 0) log_calls++;
}

static void test_log(void) {
    al_log(AL_LOG_WARN, "hello %d", 3); /* no sink: discarded */
    al_set_log(log_sink, NULL, AL_LOG_WARN);
    al_log(AL_LOG_WARN, "hello %d", 3);
    al_log(AL_LOG_INFO, "hello %d", 3); /* below the level */
    al_set_log(NULL, NULL, AL_LOG_INFO);
    CHECK(log_calls == 1);
}

static void test_rng(void) {
    al_rng a, b, c;
    al_rng_seed(&a, 42, 1);
    al_rng_seed(&b, 42, 1);
    al_rng_seed(&c, 42, 2);
    int same_ab = 1, same_ac = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = al_rng_u32(&a), y = al_rng_u32(&b), z = al_rng_u32(&c);
        same_ab &= x == y;
        same_ac += x == z;
    }
    CHECK(same_ab);
    CHECK(same_ac < 5);
    double s = 0, s2 = 0, u = 0;
    long hist[10] = {0};
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        float v = al_rng_normal(&a);
        s += v;
        s2 += (double)v * v;
        float w = al_rng_uniform(&a);
        CHECK(w >= 0.0f && w < 1.0f);
        u += w;
        hist[al_rng_below(&a, 10)]++;
    }
    CHECK_NEAR(s / N, 0.0, 0.02);
    CHECK_NEAR(s2 / N, 1.0, 0.02);
    CHECK_NEAR(u / N, 0.5, 0.01);
    for (int i = 0; i < 10; i++) CHECK_NEAR(hist[i] / (double)N, 0.1, 0.005);
    CHECK(al_rng_below(&a, 0) == 0);
}

typedef struct {
    const double *v;
    long n;
    double part[8];
    int seen[8];
} sum_args;

static void sum_task(void *arg, int ith, int nth) {
    sum_args *s = arg;
    long lo, hi;
    al_split(s->n, ith, nth, &lo, &hi);
    double acc = 0;
    for (long i = lo; i < hi; i++) acc += s->v[i];
    s->part[ith] = acc;
    s->seen[ith]++;
}

static void test_pool(void) {
    long lo, hi, total = 0;
    for (int i = 0; i < 3; i++) {
        al_split(10, i, 3, &lo, &hi);
        total += hi - lo;
        CHECK(hi - lo == (i == 0 ? 4 : 3));
    }
    CHECK(total == 10);
    const long N = 100001;
    double *v = malloc(sizeof(double) * N);
    for (long i = 0; i < N; i++) v[i] = 1.0 / (double)(i + 1);
    for (int nth = 1; nth <= 3; nth++) {
        al_pool *p;
        REQUIRE_OK(al_pool_new(nth, &p));
        CHECK(al_pool_size(p) == nth);
        double first = 0;
        for (int rep = 0; rep < 200; rep++) {
            sum_args s = {v, N, {0}, {0}};
            al_pool_run(p, sum_task, &s);
            double t = 0;
            for (int i = 0; i < nth; i++) {
                CHECK(s.seen[i] == 1);
                t += s.part[i];
            }
            if (rep == 0) first = t;
            CHECK(t == first); /* bitwise the same every time: static split */
        }
        CHECK_NEAR(first, 12.090156129763336, 1e-9);
        al_pool_free(p);
    }
    free(v);
    al_pool_run(NULL, sum_task, &(sum_args){(double[]){1, 2}, 2, {0}, {0}});
    al_pool *p;
    CHECK_STATUS(al_pool_new(1000, &p), AL_ERANGE);
}

static void noop_task(void *arg, int ith, int nth) {
    AL_UNUSED(arg);
    AL_UNUSED(ith);
    AL_UNUSED(nth);
}

static double run_sum(al_pool *p, const double *v, long n, int nth) {
    sum_args s;
    memset(&s, 0, sizeof s);
    s.v = v;
    s.n = n;
    al_pool_run(p, sum_task, &s);
    double t = 0;
    for (int i = 0; i < nth; i++) {
        CHECK(s.seen[i] == 1);
        t += s.part[i];
    }
    for (int i = nth; i < 8; i++) CHECK(s.seen[i] == 0);
    return t;
}

/* Runs 20 tasks with the calling thread asleep 2 ms between them; returns
 * how many times the pool's workers went to sleep meanwhile. */
static long sleeps_over_gaps(al_pool *p, const double *v, long n) {
    long s0 = al_pool_sleeps(p);
    for (int i = 0; i < 20; i++) {
        run_sum(p, v, n, al_pool_size(p));
        nanosleep(&(struct timespec){0, 2000000L}, NULL);
    }
    return al_pool_sleeps(p) - s0;
}

/* The workers' spin before they sleep (al_pool_set_spin_us, AL_SPIN_US): its
 * errors, the environment's default, the same sums at every setting, and
 * that workers sleep when it is over (counted, al_pool_sleeps): a count, not
 * a time, so a loaded machine does not fail it. */
static void test_pool_spin(void) {
    const long N = 100001;
    double *v = malloc(sizeof(double) * N);
    for (long i = 0; i < N; i++) v[i] = 1.0 / (double)(i + 1);
    CHECK_STATUS(al_pool_set_spin_us(NULL, 5), AL_EINVAL);
    CHECK(al_pool_spin_us(NULL) == 0);
    const char *old = getenv("AL_SPIN_US");
    char *saved = old ? strdup(old) : NULL;
    const struct { const char *env; int want; } cases[] = {
        {NULL, 100}, {"", 100}, {"7", 7}, {"0", 0}, {"100000", 100000}, {"100001", 100}, {"-3", 100}, {"12us", 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (cases[i].env)
            setenv("AL_SPIN_US", cases[i].env, 1);
        else
            unsetenv("AL_SPIN_US");
        al_pool *p;
        REQUIRE_OK(al_pool_new(2, &p));
        CHECK(al_pool_spin_us(p) == cases[i].want);
        al_pool_free(p);
    }
    if (saved) {
        setenv("AL_SPIN_US", saved, 1);
        free(saved);
    } else {
        unsetenv("AL_SPIN_US");
    }
    al_pool *p;
    REQUIRE_OK(al_pool_new(3, &p));
    int before = al_pool_spin_us(p);
    CHECK_STATUS(al_pool_set_spin_us(p, -1), AL_ERANGE);
    CHECK_STATUS(al_pool_set_spin_us(p, 100001), AL_ERANGE);
    CHECK(al_pool_spin_us(p) == before); /* unchanged by the errors */
    double ref = run_sum(p, v, N, 3);
    const int spins[] = {0, 1, 50, 100000, 0};
    for (size_t i = 0; i < sizeof spins / sizeof spins[0]; i++) {
        REQUIRE_OK(al_pool_set_spin_us(p, spins[i]));
        CHECK(al_pool_spin_us(p) == spins[i]);
        for (int rep = 0; rep < 50; rep++) {
            CHECK(run_sum(p, v, N, 3) == ref); /* bitwise, whatever the wait */
            if (rep % 10 == 0) nanosleep(&(struct timespec){0, 200000L}, NULL); /* past a short spin */
        }
    }
    /* the workers sleep when their spin is over: at 0 after (nearly) every
     * task of 2 ms gaps (40 waits of 2 workers; one descheduled past a gap
     * finds the next task and does not), at 0.1 s after (nearly) none */
    REQUIRE_OK(al_pool_set_spin_us(p, 0));
    long at0 = sleeps_over_gaps(p, v, N);
    REQUIRE_OK(al_pool_set_spin_us(p, 100000));
    run_sum(p, v, N, 3); /* the workers' next waits spin 0.1 s */
    long at100ms = sleeps_over_gaps(p, v, N);
    CHECK(at0 >= 20);
    CHECK(at100ms < at0);
    if (getenv("AL_TEST_VERBOSE") || at0 < 20 || at100ms >= at0)
        fprintf(stderr, "workers' sleeps over 20 gaps of 2 ms: %ld spinning 0, %ld spinning 0.1 s\n", at0, at100ms);
    al_pool_free(p);
    free(v);
}

/* The serial pool (al_pool_new_serial, for bench_train --model-threads):
 * its errors, the same parts and sums as a pool of as many threads, and its
 * record of each task function's parts (test_serial_pool: training). */
static void test_serial_pool(void) {
    al_pool *p = NULL;
    CHECK_STATUS(al_pool_new_serial(4, NULL), AL_EINVAL);
    CHECK_STATUS(al_pool_new_serial(0, &p), AL_ERANGE);
    CHECK(p == NULL);
    CHECK_STATUS(al_pool_new_serial(257, &p), AL_ERANGE);
    CHECK(p == NULL);

    const long N = 200003;
    double *v = malloc(sizeof(double) * N);
    for (long i = 0; i < N; i++) v[i] = 1.0 / (double)(i + 1);
    for (int nth = 1; nth <= 7; nth += 3) {
        al_pool *real, *ser;
        REQUIRE_OK(al_pool_new(nth, &real));
        REQUIRE_OK(al_pool_new_serial(nth, &ser));
        CHECK(al_pool_size(ser) == nth);
        CHECK(run_sum(ser, v, N, nth) == run_sum(real, v, N, nth)); /* the same parts */
        al_pool_stat st[4];
        CHECK(al_pool_stats(real, st, 4) == 0); /* a real pool keeps no record */
        al_pool_stats_reset(ser);
        CHECK(al_pool_stats(ser, st, 4) == 0);
        for (int k = 0; k < 3; k++) run_sum(ser, v, N, nth);
        al_pool_run(ser, noop_task, NULL);
        int n = al_pool_stats(ser, st, 4);
        CHECK(n == 2);
        CHECK(st[0].fn == sum_task && st[0].tasks == 3);
        CHECK(st[1].fn == noop_task && st[1].tasks == 1);
        /* the slowest part is at least the mean part and at most their sum */
        CHECK(st[0].sum_s > 0 && st[0].max_s <= st[0].sum_s + 1e-12 && st[0].max_s * nth >= st[0].sum_s - 1e-12);
        CHECK(al_pool_stats(ser, st, 1) == 2); /* the count, whatever the room */
        /* the clock's readings are counted apart from the parts: none for a
         * real pool, more with more tasks, none after a reset */
        CHECK(al_pool_timer_s(real) == 0.0);
        double tm = al_pool_timer_s(ser);
        CHECK(tm >= 0.0 && tm < 1.0);
        al_pool_run(ser, noop_task, NULL);
        CHECK(al_pool_timer_s(ser) >= tm);
        al_pool_stats_reset(ser);
        CHECK(al_pool_stats(ser, st, 4) == 0);
        CHECK(al_pool_timer_s(ser) == 0.0);
        al_pool_free(real);
        al_pool_free(ser);
    }
    free(v);
    CHECK(al_pool_stats(NULL, NULL, 0) == 0);
    al_pool_stats_reset(NULL); /* a no-op */
}

static size_t custom_bytes;
static void *my_malloc(void *user, size_t n) {
    (void)user;
    custom_bytes += n;
    return malloc(n);
}
static void my_free(void *user, void *ptr) {
    (void)user;
    free(ptr);
}

static void test_alloc(void) {
    al_allocator a = {my_malloc, my_free, NULL};
    al_set_allocator(&a);
    al_model *m;
    REQUIRE_OK(al_model_from_spec("input 4; dense 3", 1, &m));
    al_model_free(m);
    al_set_allocator(NULL);
    CHECK(custom_bytes > 0);
    CHECK(al_calloc((size_t)1 << 62, 16) == NULL); /* overflow is caught */
    /* failure injection: every allocation of a model build fails cleanly */
    int failures = 0;
    for (long k = 1; k < 50; k++) {
        al_alloc_fail_at(k);
        al_status st = al_model_from_spec("input 4; dense 3; dense 2", 1, &m);
        al_alloc_fail_at(0);
        if (st == AL_OK) {
            al_model_free(m);
            break;
        }
        CHECK(st == AL_ENOMEM);
        CHECK(m == NULL);
        failures++;
    }
    CHECK(failures >= 3);
}

static void test_arena(void) {
    al_arena a = {0};
    (void)al_arena_bytes(&a, 3);
    (void)al_arena_floats(&a, 5);
    size_t need = a.used;
    CHECK(need == 64 + 20);
    char *block = aligned_alloc(64, 128);
    al_arena b = {block, 128, 0};
    char *p1 = al_arena_bytes(&b, 3);
    float *p2 = al_arena_floats(&b, 5);
    CHECK(p1 == block && (char *)p2 == block + 64);
    CHECK(al_arena_floats(&b, 100) == NULL); /* past the end */
    free(block);
}

static void test_spec(void) {
    enum { MAXL = 64 }; /* the specs here are short */
    al_layer_cfg L[MAXL];
    al_shape in;
    int tok, n;
    REQUIRE_OK(al_spec_parse("refcnn", &in, &tok, L, MAXL, &n));
    CHECK(n == 13 && !tok && in.ndim == 3 && in.d[0] == 1 && in.d[1] == 28);
    CHECK(L[0].type == AL_L_CONV2D && L[0].units == 32 && L[0].k == 3 && L[0].pad == 1 && L[0].stride == 1);
    CHECK(L[2].type == AL_L_MAXPOOL && L[2].k == 2 && L[2].stride == 2);
    char *s = al_spec_format(&in, tok, L, n);
    al_layer_cfg L2[MAXL];
    al_shape in2;
    int tok2, n2;
    REQUIRE_OK(al_spec_parse(s, &in2, &tok2, L2, MAXL, &n2));
    CHECK(n2 == n && memcmp(L, L2, sizeof(al_layer_cfg) * (size_t)n) == 0);
    al_free(s);
    /* the squeeze-excite layers: parse, format canonically, parse back the same */
    REQUIRE_OK(al_spec_parse("input 3x8x8; conv 8 p=1; hardswish; gap; dense 2; relu; dense 8; hardsigmoid; mul from=1; "
                             "mul -1 ; flatten; dense 4",
                             &in, &tok, L, MAXL, &n));
    CHECK(n == 11 && L[1].type == AL_L_HARDSWISH && L[6].type == AL_L_HARDSIGMOID);
    CHECK(L[7].type == AL_L_MUL && L[7].src == 1 && L[8].type == AL_L_MUL && L[8].src == -1);
    CHECK(L[1].src == 0 && L[6].bias == 0);
    s = al_spec_format(&in, tok, L, n);
    CHECK(strstr(s, "; hardswish; gap; dense 2; relu; dense 8; hardsigmoid; mul 1; mul -1; flatten") != NULL);
    REQUIRE_OK(al_spec_parse(s, &in2, &tok2, L2, MAXL, &n2));
    CHECK(n2 == n && memcmp(L, L2, sizeof(al_layer_cfg) * (size_t)n) == 0);
    al_free(s);
    REQUIRE_OK(al_spec_parse("tokens 20\nembedding 64 vocab=100\nlstm 32; dense 100", &in, &tok, L, MAXL, &n));
    CHECK(tok && n == 3 && L[0].vocab == 100 && L[1].units == 32);
    const char *bad[] = {"", "dense 3", "input 0x3", "input 3; dense", "input 3; dense x", "input 3; foo 2",
                         "input 3; dense 3 k=", "input 3; dense 3 zz=1", "input 1x2x3x4; dense 2", "input 3; dropout 2",
                         "input 3; add", "input 3;;", "input 3; dense 3 4", "input 3; mul", "input 3; mul -2",
                         "input 3; mul x", "input 3; hardswish 2", "input 3; hardsigmoid 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        al_status st = al_spec_parse(bad[i], &in, &tok, L, MAXL, &n);
        if (st == AL_OK) fprintf(stderr, "spec '%s' was accepted\n", bad[i]);
        CHECK(st != AL_OK);
        CHECK(strlen(al_last_error()) > 5);
    }
    al_model *m;
    CHECK_STATUS(al_model_from_spec("input 3; dense 4; add 5", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3; dense 4; add -1", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 3; dense 4; mul 1", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec("input 3; dense 4; mul -1", 1, &m), AL_ESHAPE);
    CHECK_STATUS(al_model_from_spec("input 3; embedding 4 vocab=3", 1, &m), AL_EINVAL);
    CHECK_STATUS(al_model_from_spec(NULL, 1, &m), AL_EINVAL);
    REQUIRE_OK(al_model_from_spec("input 3; dense 4; dense 4; add 0", 1, &m));
    CHECK(al_model_num_nodes(m) == 3);
    CHECK(strcmp(al_model_node_type(m, 2), "add") == 0);
    CHECK(al_model_node_type(m, 3) == NULL);
    CHECK_STATUS(al_model_freeze(m, 4), AL_ERANGE);
    CHECK_OK(al_model_set_meta(m, "k", "v1"));
    CHECK_OK(al_model_set_meta(m, "k", "v2"));
    CHECK(strcmp(al_model_meta(m, "k"), "v2") == 0 && al_model_meta(m, "x") == NULL);
    al_model_free(m);
}

/* Weight init is deterministic by seed and differs between seeds. */
static void test_init(void) {
    al_model *a, *b, *c;
    REQUIRE_OK(al_model_from_spec("input 5; dense 4; dense 3", 7, &a));
    REQUIRE_OK(al_model_from_spec("input 5; dense 4; dense 3", 7, &b));
    REQUIRE_OK(al_model_from_spec("input 5; dense 4; dense 3", 8, &c));
    CHECK(memcmp(a->wblock, b->wblock, sizeof(float) * a->nweights) == 0);
    CHECK(memcmp(a->wblock, c->wblock, sizeof(float) * a->nweights) != 0);
    float bound = 1.0f / sqrtf(5.0f);
    for (size_t i = 0; i < a->nodes[0].params[0].n; i++) CHECK(fabsf(a->nodes[0].params[0].w[i]) <= bound);
    float x[10] = {1, 2, 3, 4, 5, 5, 4, 3, 2, 1}, y[6], y1[3];
    REQUIRE_OK(al_model_predict(a, NULL, x, 2, y));
    REQUIRE_OK(al_model_predict(a, NULL, x + 5, 1, y1));
    CHECK(memcmp(y + 3, y1, sizeof y1) == 0);
    al_model_free(a);
    al_model_free(b);
    al_model_free(c);
}

/* The environment switches (core/env.c): numbers, off switches and
 * kernel variants by name, each read one way. */
static char env_msg[256];
static int env_warnings;
static void env_sink(void *user, al_log_level level, const char *msg) {
    (void)user;
    (void)level;
    env_warnings++;
    snprintf(env_msg, sizeof env_msg, "%s", msg);
}
static int even_only(int v) { return v % 2 == 0; }

static void test_env(void) {
    const char *name = "AL_TEST_ENV_SWITCH";
    long v = -1;
    unsetenv(name);
    CHECK(!al_env_number(name, &v) && v == -1 && !al_env_off(name));
    static const struct {
        const char *env;
        int number;
        long value;
        int off;
    } cases[] = {{"", 0, 0, 0},   {"12", 1, 12, 0}, {"-3", 1, -3, 0}, {"0", 1, 0, 1},
                 {"07", 1, 7, 1}, {"12us", 0, 0, 0}, {"off", 0, 0, 0}, {"0ff", 0, 0, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        setenv(name, cases[i].env, 1);
        v = -99;
        const int got = al_env_number(name, &v);
        CHECK(got == cases[i].number && (!got || v == cases[i].value));
        CHECK(al_env_off(name) == cases[i].off);
    }
    static const char *const names[] = {"ref", "one", "two", NULL};
    al_set_log(env_sink, NULL, AL_LOG_WARN);
    unsetenv(name);
    CHECK(al_env_variant(name, names, 4, even_only, 1) == 1 && env_warnings == 0); /* unset: the best, silently */
    setenv(name, "", 1);
    CHECK(al_env_variant(name, names, 4, even_only, 1) == 1 && env_warnings == 0);
    setenv(name, "two", 1);
    CHECK(al_env_variant(name, names, 4, even_only, 1) == 2 && env_warnings == 0);
    setenv(name, "ref", 1);
    CHECK(al_env_variant(name, names, 4, even_only, 1) == 0 && env_warnings == 0);
    setenv(name, "one", 1); /* known, not available: the best, and a warning saying so */
    CHECK(al_env_variant(name, names, 4, even_only, 2) == 2 && env_warnings == 1);
    CHECK(strstr(env_msg, "AL_TEST_ENV_SWITCH=one: not available") && strstr(env_msg, "using two"));
    setenv(name, "three", 1);
    CHECK(al_env_variant(name, names, 4, even_only, 0) == 0 && env_warnings == 2);
    CHECK(strstr(env_msg, "AL_TEST_ENV_SWITCH=three: unknown variant, using ref") != NULL);
    al_set_log(NULL, NULL, AL_LOG_INFO);
    unsetenv(name);
}

int main(void) {
    test_status();
    test_log();
    test_rng();
    test_pool();
    test_serial_pool();
    test_pool_spin();
    test_env();
    test_alloc();
    test_arena();
    test_spec();
    test_init();
    TEST_END("test_core");
}
