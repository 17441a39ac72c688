/* libFuzzer target for the JSON reader (src/cloud/sim/json.c) and the
 * report page it feeds (src/cloud/sim/html.c): `autlearn report RUN.json`
 * reads a file that may come from anywhere. The input is the JSON text.
 * What must hold: any status with a message; a value that parses is a tree
 * whose every node is one of the six types, with a string where a string
 * is, keys on every object item, no deeper than AL_JSON_MAX_DEPTH, and
 * al_json_get / al_json_num / al_json_str answer on any node; the report
 * either refuses the document with a message and leaves no file, or writes
 * a non-empty page. Seed corpus: tests/fuzz/corpus/fuzz_json/ (a small
 * scenario run's JSON and JSON edge cases). Build and run: scripts/fuzz.sh
 * (CMake -DAL_FUZZ=ON, clang). */
#include "cloud/sim/html.h"
#include "fuzz_common.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the tree below j (depth: j's nesting) and returns its node count. */
static long walk(const al_json *j, int depth) {
    FUZZ_ASSERT(depth <= AL_JSON_MAX_DEPTH);
    FUZZ_ASSERT(j->type >= AL_JSON_NULL && j->type <= AL_JSON_OBJ);
    if (j->type == AL_JSON_STR) FUZZ_ASSERT(j->str != NULL && al_json_str(j) == j->str);
    else FUZZ_ASSERT(al_json_str(j) == NULL);
    if (j->type == AL_JSON_NUM) FUZZ_ASSERT(isfinite(j->num) && al_json_num(j) == j->num);
    if (j->type == AL_JSON_BOOL) FUZZ_ASSERT(j->num == 0.0 || j->num == 1.0);
    long count = 1;
    if (j->type == AL_JSON_ARR || j->type == AL_JSON_OBJ) {
        FUZZ_ASSERT(j->n >= 0 && (j->n == 0 || j->items != NULL));
        for (int i = 0; i < j->n; i++) {
            if (j->type == AL_JSON_OBJ) {
                FUZZ_ASSERT(j->keys != NULL && j->keys[i] != NULL);
                /* a key finds an item of that key (the last one if repeated) */
                const al_json *g = al_json_get(j, j->keys[i]);
                FUZZ_ASSERT(g != NULL);
            }
            count += walk(&j->items[i], depth + 1);
        }
    } else {
        FUZZ_ASSERT(al_json_get(j, "scenario") == NULL);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_begin();
    al_json *doc = NULL;
    al_status st = al_json_parse((const char *)data, size, &doc);
    fuzz_check_status(st);
    if (st != AL_OK) {
        FUZZ_ASSERT(doc == NULL);
        return 0;
    }
    FUZZ_ASSERT(doc != NULL);
    FUZZ_ASSERT(walk(doc, 0) >= 1);
    const char *path = fuzz_scratch_path("report.html");
    unlink(path);
    st = al_report_html(doc, "fuzz", path);
    fuzz_check_status(st);
    struct stat sb;
    if (st == AL_OK) FUZZ_ASSERT(stat(path, &sb) == 0 && sb.st_size > 0);
    else FUZZ_ASSERT(stat(path, &sb) != 0); /* a refused report leaves no file */
    unlink(path);
    al_json_free(doc);
    return 0;
}
