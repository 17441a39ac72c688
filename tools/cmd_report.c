/* autlearn report: the scenario JSON (`autlearn scenario ... --json`) as one
 * self-contained HTML page for people (src/cloud/sim/html.c). */
#include "cli.h"
#include "cloud/sim/html.h"

#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: autlearn report RUN.json -o REPORT.html [options]\n"
            "\n"
            "Writes a single self-contained HTML page (inline CSS and SVG, no scripts, no external\n"
            "resources) from the JSON of 'autlearn scenario': accuracy by method, per-user accuracy,\n"
            "learning curves, the device cost table, per-user details and the configuration.\n"
            "\n"
            "options:\n"
            "  -o, --out FILE   the HTML file to write (required; written atomically)\n"
            "  --title TEXT     page title (default: autlearn <scenario> scenario)\n"
            "  --json           print {\"command\":\"report\",...} on stdout\n"
            "  -h, --help       this help\n"
            "\n"
            "A file that is not valid JSON, or not a scenario report, is a runtime error (exit 1)\n"
            "and leaves no output file.\n");
}

int cmd_report(int argc, char **argv) {
    const char *cmd = "report";
    const char *in = NULL, *out = NULL, *title = NULL;
    int json = 0;
    cli_args a;
    cli_args_init(&a, cmd, argc, argv);
    while (cli_next(&a)) {
        if (cli_flag(&a, "help")) {
        } else if (cli_flag(&a, "json")) {
            json = 1;
        } else if (!strcmp(a.arg, "-o")) {
            /* the short form of --out */
            if (a.i + 1 >= a.argc || (a.argv[a.i + 1][0] == '-' && a.argv[a.i + 1][1] == '-'))
                a.error = cli_usage_error(cmd, "-o needs a value");
            else
                out = a.argv[++a.i];
        } else if (cli_str(&a, "out", &out) || cli_str(&a, "title", &title)) {
        } else if (cli_positional(&a, &in)) {
        } else
            cli_unknown(&a);
    }
    if (a.help) {
        usage(stdout);
        return cli_finish(cmd, CLI_EXIT_OK);
    }
    if (a.error) return a.error;
    if (!in) return cli_usage_error(cmd, "no input: give the scenario JSON file");
    if (!out) return cli_usage_error(cmd, "-o FILE is required");
    al_json *doc = NULL;
    al_status st = al_json_load(in, &doc);
    if (st) return cli_fail_lib(cmd, st);
    st = al_report_html(doc, title, out);
    al_json_free(doc);
    if (st) return cli_fail_lib(cmd, st);
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", "report");
        cli_json_str(&j, "input", in);
        cli_json_str(&j, "output", out);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        printf("report written to %s\n", out);
    }
    return cli_finish(cmd, CLI_EXIT_OK);
}
