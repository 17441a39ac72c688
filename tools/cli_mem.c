/* Memory plans in the CLI (personalize, train): the JSON keys and the text
 * line of al_mem_plan (docs/CLI.md), and the peak RSS the process measured. */
#include "cli.h"
#include "cloud/sim/sim.h"

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

void cli_mem_plan_json(cli_json *j, const al_mem_plan *p, int with_cache) {
    if (p->budget)
        cli_json_num(j, "mem_budget_mb", mib(p->budget));
    else
        cli_json_null(j, "mem_budget_mb");
    cli_json_num(j, "planned_mb", mib(p->total));
    cli_json_int(j, "batch_requested", p->batch_requested);
    cli_json_int(j, "batch_used", p->batch_used);
    cli_json_bool(j, "batch_shrunk", p->batch_used < p->batch_requested);
    if (with_cache) {
        cli_json_num(j, "cache_mb_requested", mib(p->cache_requested));
        cli_json_num(j, "cache_mb_used", mib(p->cache_used));
        cli_json_str(j, "cache_past_bound", p->cache_spill ? "spill" : "recompute");
    }
    cli_json_begin_object(j, "planned_parts_mb");
    cli_json_num(j, "weights", mib(p->weights));
    cli_json_num(j, "gradients", mib(p->grads));
    cli_json_num(j, "optimizer", mib(p->optim));
    cli_json_num(j, "activations", mib(p->activations));
    cli_json_num(j, "batch_buffers", mib(p->batch_buffers + p->staging));
    cli_json_num(j, "snapshot", mib(p->snapshot));
    cli_json_num(j, "gemm_packing", mib(p->gemm));
    if (with_cache) cli_json_num(j, "cache", mib(p->cache + p->cache_index));
    cli_json_num(j, "other", mib(p->overhead + (with_cache ? 0 : p->cache + p->cache_index)));
    cli_json_end_object(j);
    cli_json_num(j, "data_mb_not_counted", mib(p->dataset));
    /* measured: this process's peak resident set so far (Linux VmHWM; 0 when unknown) */
    cli_json_num(j, "peak_rss_mb", al_rss_peak_mb());
}

void cli_mem_plan_print(const al_mem_plan *p, int with_cache) {
    printf("memory: planned %.2f MiB", mib(p->total));
    if (p->budget) printf(" of a %.2f MiB budget", mib(p->budget));
    printf(" (weights %.2f, gradients %.2f, optimizer %.2f, activations %.2f, buffers %.2f, snapshot %.2f, ",
           mib(p->weights), mib(p->grads), mib(p->optim), mib(p->activations), mib(p->batch_buffers + p->staging),
           mib(p->snapshot));
    if (with_cache) printf("cache %.2f, ", mib(p->cache + p->cache_index));
    printf("GEMM packing %.2f, other %.2f; data %.2f MiB not counted); batch %d", mib(p->gemm),
           mib(p->overhead + (with_cache ? 0 : p->cache + p->cache_index)), mib(p->dataset), p->batch_used);
    if (p->batch_used < p->batch_requested)
        printf(" (shrunk from %d: the result differs from a batch-%d run)", p->batch_requested, p->batch_requested);
    if (with_cache) {
        printf(", cache bound %.2f MiB", mib(p->cache_used));
        if (p->cache_used < p->cache_requested)
            printf(" (shrunk from %.2f; past it entries are %s)", mib(p->cache_requested),
                   p->cache_spill ? "spilled" : "recomputed");
    }
    printf("\n");
}

void cli_mem_plan_show(const char *cmd, const al_mem_plan *p, int json, int with_cache) {
    if (json) {
        cli_json j;
        cli_json_init(&j, stdout);
        cli_json_begin_object(&j, NULL);
        cli_json_str(&j, "command", cmd);
        cli_json_bool(&j, "dry_run", 1);
        cli_mem_plan_json(&j, p, with_cache);
        cli_json_end_object(&j);
        cli_json_end(&j);
    } else {
        cli_mem_plan_print(p, with_cache);
    }
}
