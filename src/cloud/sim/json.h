/* A small, strict JSON reader for the cloud-side tools (the report command
 * reads the scenario JSON with it). RFC 8259 syntax; any input, however
 * malformed, yields AL_EFORMAT with the line and column, never a crash.
 * Nesting is limited to AL_JSON_MAX_DEPTH; numbers are doubles; strings are
 * UTF-8 with escapes decoded (\u0000 is refused: values are C strings). */
#ifndef AL_SIM_JSON_H
#define AL_SIM_JSON_H

#include "core/core.h"

#define AL_JSON_MAX_DEPTH 64
#define AL_JSON_MAX_FILE (64u << 20)

typedef enum al_json_type {
    AL_JSON_NULL = 0,
    AL_JSON_BOOL,
    AL_JSON_NUM,
    AL_JSON_STR,
    AL_JSON_ARR,
    AL_JSON_OBJ
} al_json_type;

typedef struct al_json al_json;
struct al_json {
    al_json_type type;
    double num;        /* AL_JSON_NUM; AL_JSON_BOOL: 0 or 1 */
    char *str;         /* AL_JSON_STR */
    int n;             /* AL_JSON_ARR, AL_JSON_OBJ: number of items */
    al_json *items;    /* n values */
    char **keys;       /* AL_JSON_OBJ: n keys, parallel to items */
};

/* Parses text[0..len) (one value, surrounding white space allowed); *out is
 * al_json_free'd by the caller. */
al_status al_json_parse(const char *text, size_t len, al_json **out);
/* Reads and parses a file of at most AL_JSON_MAX_FILE bytes. */
al_status al_json_load(const char *path, al_json **out);
void al_json_free(al_json *j);
/* The value of `key` in an object (the last one if repeated); NULL when j
 * is not an object or has no such key. */
const al_json *al_json_get(const al_json *j, const char *key);
/* A number, or NAN when j is NULL, null or not a number. */
double al_json_num(const al_json *j);
/* A string, or NULL when j is not a string. */
const char *al_json_str(const al_json *j);

#endif
