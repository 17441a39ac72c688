/* The library's environment switches, read one way everywhere (the
 * variables are listed in docs/CLI.md, "Environment"):
 *  - a number (AL_THREADS, AL_SPIN_US): whole decimal, else ignored;
 *  - an off switch (AL_CONV_SIMD, AL_CONV_SHARES, AL_CONV_IMPLICIT,
 *    AL_I8_DOTPROD, AL_I8DW_VBMI): a value starting with '0' turns the
 *    feature off, anything else (or unset) leaves it on;
 *  - a kernel variant by name (AL_GEMM, AL_I8GEMM, AL_DWCONV): one this
 *    CPU has replaces the automatic choice; an unknown or unavailable name
 *    is a warning, and the automatic choice stays. */
#include "core/core.h"

#include <stdlib.h>
#include <string.h>

int al_env_number(const char *name, long *v) {
    const char *s = getenv(name);
    if (!s || !*s) return 0;
    char *end;
    *v = strtol(s, &end, 10);
    return *end == '\0';
}

int al_env_off(const char *name) {
    const char *s = getenv(name);
    return s && s[0] == '0';
}

int al_env_on_once(atomic_int *once, const char *name) {
    int v = atomic_load(once);
    if (v < 0) {
        v = !al_env_off(name);
        atomic_store(once, v);
    }
    return v;
}

int al_env_variant(const char *name, const char *const *names, int n, int (*available)(int), int best) {
    const char *s = getenv(name);
    if (!s || !*s) return best;
    for (int v = 0; v < n; v++)
        if (names[v] && strcmp(s, names[v]) == 0) {
            if (available(v)) return v;
            al_log(AL_LOG_WARN, "%s=%s: not available on this CPU, using %s", name, s, names[best]);
            return best;
        }
    al_log(AL_LOG_WARN, "%s=%s: unknown variant, using %s", name, s, names[best]);
    return best;
}
