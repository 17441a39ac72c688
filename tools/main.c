/* autlearn: the command-line tool. Dispatches to one subcommand per file
 * (tools/cmd_*.c); exit codes are 0 ok, 1 runtime error, 2 usage error. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"train", cmd_train, "train a model from an architecture on an IDX data set"},
    {"eval", cmd_eval, "loss and accuracy of a model file on a data set"},
    {"predict", cmd_predict, "per-sample predictions (top-K probabilities) of a model file"},
    {"info", cmd_info, "architecture, parameters, MACs and metadata of a model file"},
    {"pretrain", cmd_pretrain, "cloud: pre-train on the public part of the data"},
    {"personalize", cmd_personalize, "device: transfer learning on one user's private data"},
    {"scenario", cmd_scenario, "compare autonomous learning with its baselines, per user"},
    {"report", cmd_report, "a scenario's JSON as a self-contained HTML page"},
    {"import", cmd_import, "cloud: convert an ONNX model (e.g. from PyTorch) to a model file"},
    {"compile", cmd_compile, "cloud: fold, fuse and memory-plan a model for training at a freeze point"},
    {"compress", cmd_compress, "cloud: SVD low-rank compression, then retraining on public data"},
    {"quantize", cmd_quantize, "cloud: int8 weights for the frozen part of a model file"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "usage: autlearn <command> [options]\n"
            "\n"
            "On-device training of neural networks (autlearn %s).\n"
            "\n"
            "commands:\n",
            al_version());
    for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "options:\n"
               "  -h, --help     this help; 'autlearn <command> --help' for a command's options\n"
               "  --version      print the version\n"
               "\n"
               "Every command takes --json for machine-readable output on stdout.\n"
               "Threads: --threads N, or the AL_THREADS environment variable (default 1).\n"
               "Exit codes: 0 success, 1 runtime error (bad file, bad data), 2 usage error.\n"
               "Documentation: docs/CLI.md.\n");
}

/* Library warnings reach the user on stderr; debug and info stay silent. */
static void log_to_stderr(void *user, al_log_level level, const char *msg) {
    (void)user;
    fprintf(stderr, "autlearn: %s: %s\n", level >= AL_LOG_ERROR ? "error" : "warning", msg);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "autlearn: no command given\n\n");
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return cli_finish("help", CLI_EXIT_OK);
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("autlearn %s\n", al_version());
        return cli_finish("version", CLI_EXIT_OK);
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            usage(stdout);
            return cli_finish("help", CLI_EXIT_OK);
        }
        /* "autlearn help train" is "autlearn train --help" */
        for (size_t i = 0; i < NCOMMANDS; i++)
            if (!strcmp(argv[2], commands[i].name)) {
                char *args[] = {argv[2], (char *)"--help", NULL};
                return commands[i].run(2, args);
            }
        fprintf(stderr, "autlearn: unknown command '%s' (see 'autlearn --help')\n", argv[2]);
        return CLI_EXIT_USAGE;
    }
    al_set_log(log_to_stderr, NULL, AL_LOG_WARN);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    if (cmd[0] == '-')
        fprintf(stderr, "autlearn: unknown option '%s' (see 'autlearn --help')\n", cmd);
    else
        fprintf(stderr, "autlearn: unknown command '%s' (see 'autlearn --help')\n", cmd);
    return CLI_EXIT_USAGE;
}
