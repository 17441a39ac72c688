/* Cloud-side research code: the scenario runner that compares autonomous
 * learning with its baselines, and its JSON/SVG reports. Not part of the
 * device library's API; the CLI's `scenario` command is built on it. */
#ifndef AL_SIM_H
#define AL_SIM_H

#include "autlearn_cloud.h"
#include "train/train.h"

#include <stdio.h>

/* The first five run by default; the prior-corrected and personalized
 * federated baselines when named in --methods:
 *   global+p    the cloud model, output bias shifted by the user's class mix
 *   central+p   centralized, shifted by the user's mix against the pooled data's
 *   fedavg+p    fedavg's final model, shifted against the users' pooled mix
 *   fedavg-ft   fedavg's final model personalized on the device as autonomous is (the
 *               recipe chooser by default, else the same fixed recipe)
 * (text: the "+p" shift is the unigram prior, al_lm_prior_shift; fedper is image only)
 *   fedper      FedPer: every round each user trains the whole model from the shared body and
 *               its own output layer; the cloud averages the body only, the head stays personal
 *   fedrep      FedRep: every round each user first trains its own output layer on the shared
 *               body (held), then the body under its held head; the cloud averages the body only
 *   ditto       Ditto (Li et al. 2021): fedavg as is, and beside each user's update of the global
 *               model w it trains a personal model v_k of its own (ditto_epochs, the proximal term
 *               ditto_lambda/2 ||v_k - w||^2 toward the round's w); v_k never leaves the device and
 *               is what the user is scored with (a by-product of fedavg's run, as fedavg-ft) */
enum {
    AL_M_GLOBAL = 0, AL_M_LOCAL, AL_M_AUTONOMOUS, AL_M_CENTRALIZED, AL_M_FEDAVG,
    AL_M_GLOBAL_PRIOR, AL_M_CENTRAL_PRIOR, AL_M_FEDAVG_PRIOR, AL_M_FEDAVG_FT, AL_M_FEDPER, AL_M_FEDREP, AL_M_DITTO,
    AL_M_COUNT
};
#define AL_M_CLASSIC ((1u << 5) - 1)   /* the methods run when c->methods is 0 */
/* methods mask of the text scenario: data and pre-training only (autlearn pretrain) */
#define AL_M_PRETRAIN_ONLY (1u << 31)
extern const char *const al_method_names[AL_M_COUNT];

#define AL_MAX_CURVE 256

typedef struct al_method_result {
    int ran;
    double *acc;            /* per user: main accuracy (top-1 for images, top-3 for text) */
    double *acc_top1;       /* per user, text only */
    double mean_acc, std_acc, mean_top1;
    double *ppl, *saved;          /* per user, text only: perplexity, keystroke savings */
    double mean_ppl, mean_saved;
    double *word_acc;             /* per user, text only: top-3 over word targets, an <unk> target a miss */
    double *acc_seen, *acc_new;   /* per user, image --shift newclass: accuracy on the samples of the classes
                                   * the cloud saw / never saw (-1: the user has none) */
    uint32_t *body_crc, *head_crc; /* per user, fedper and fedrep: CRC-32 of the body and of the output layer
                                    * of the model the user is scored with (NULL for the other methods) */
    uint32_t *model_crc;          /* per user, ditto: CRC-32 of the personal model's weights (else NULL) */
    double *dist;                 /* per user, ditto: ||v_k - w|| / ||w||, the personal model's distance
                                   * from the final global model w (else NULL) */
    double mean_word_acc;
    double seconds, cpu_seconds;  /* device side, per user (mean) */
    double peak_rss_mb;
    double macs;                  /* device side, per user (mean) */
    double bytes_uploaded;        /* per user */
    double bytes_downloaded;      /* per user: models received from the cloud */
    int diverged;                 /* users whose device job diverged past the trainer's rollbacks (the
                                   * device keeps its last good weights; scored as they are) */
    int clients_dropped;          /* federated methods: client updates the server left out (the
                                   * client's training diverged: al_sim_fedavg_run) over all rounds */
    /* learning curve: mean accuracy over users after each epoch (or round) */
    double curve[AL_MAX_CURVE];
    int ncurve;
} al_method_result;

/* What the text scenario hands its cloud_step: all borrowed for the call. */
typedef struct al_ids al_ids;
typedef struct al_vocab al_vocab;
typedef struct al_text_cloud {
    al_pool *pool;
    const al_ids *pub;        /* the public pre-training stream */
    int users;
    const al_ids *test;       /* per user: the held-out latest address */
    const al_vocab *vocab;
} al_text_cloud;

typedef struct al_scenario_config {
    const char *scenario;     /* "image" */
    const char *data_dir;
    const char *arch;         /* spec or built-in name */
    al_users_config users;
    int pretrain_epochs;
    double pretrain_lr;
    int epochs;               /* device epochs (autonomous, local) */
    double lr;                /* device learning rate */
    int local_epochs;
    double local_lr;
    int rounds, fed_epochs;   /* fedavg (fedper's clients, fedrep's body step: fed_epochs too) */
    int fedrep_head_epochs;   /* fedrep: epochs of the head step each round (the body held) */
    double ditto_lambda;      /* ditto: the personal step's pull toward the round's global model */
    int ditto_epochs;         /* ditto: epochs of the personal step each round; 0: fed_epochs */
    double fed_lr;            /* fedavg's client learning rate (image); 0: lr */
    int central_epochs;
    double central_lr;        /* centralized's learning rate (image); 0: pretrain_lr * 0.2 */
    int fed_cosine;           /* image fedavg: cosine client schedule within each round (else constant) */
    int fed_rollbacks;        /* federated clients' trainer rollbacks before a client counts as diverged
                               * (its update left out of the round); -1: the trainer's default */
    int freeze;               /* -1: the model's default (al_model_resolve_freeze) */
    int aug_variants;
    /* autonomous (image): the device recipe; AL_RECIPE_AUTO (default) the
     * device's chooser (al_personalize_auto), which a --freeze or
     * --aug-variants turns into AL_RECIPE_CONFIG (tools/cmd_scenario.c) */
    al_recipe recipe;
    uint64_t budget_macs;     /* the chooser's search budget (0: none) */
    double auto_val;          /* image: the chooser's held-out fraction per class (0: its default) */
    int auto_folds;           /* image: the chooser's K-fold cross-validation (0: the single split) */
    al_augment_config aug;    /* autonomous: the augmentation of variants 1.. */
    double label_prior;       /* autonomous: al_personalize_config.label_prior (image default 1, 0 = off) */
    double l2sp;              /* autonomous: L2-SP strength toward the cloud weights (al_train_config.l2sp) */
    int lr_split;             /* autonomous: nodes below it train at lr * lr_below; 0 = off */
    int rehearsal;            /* image autonomous: exemplars per cloud class mixed in where the device
                               * holds a class the cloud never saw (--shift newclass); 0 = off */
    double lr_below;
    size_t cache_bytes;
    int batch;
    int threads;
    uint64_t seed;
    unsigned methods;         /* bit mask of AL_M_*; 0 = AL_M_CLASSIC */
    const char *cloud_model;  /* use this pre-trained model instead of pre-training */
    const char *save_cloud;   /* write the pre-trained model here */
    int verbose;              /* progress lines on stderr */
    int eval_validation;      /* every method is scored on the users' validation sets
                               * (users.val_per_user: samples, or for text the most recent
                               * tokens of the private text), the test sets are not touched */
    /* text scenario (scenario_text.c) */
    const char *user_list;    /* comma-separated president names; NULL: the default 10 */
    long user_tokens;         /* cap on a user's private training text (most recent tokens) */
    long pretrain_tokens;     /* public token budget of pre-training */
    int vocab_words;          /* words in the vocabulary besides the specials */
    int select_public;        /* Moore-Lewis selection of the public documents */
    const char *extra_dirs;   /* comma-separated directories of off-domain public text */
    int device_batch;         /* text: the autonomous method's batch (streams when the LSTM trains) */
    int train_words;          /* text: autonomous trains only the output rows of the user's N most used words
                               * (al_personalize_config.train_rows; 0 = all) */
    int ngram_mix;            /* text: the user's bigram model mixed in (al_personalize_config.ngram_mix) by
                               * the chooser (autonomous, fedavg-ft) and the +p methods; 0 = off */
    /* text: a cloud-side step run on the cloud model (loaded from
     * cloud_model or pre-trained) with the scenario's public stream and the
     * users' held-out text, instead of the methods (autlearn compress) */
    al_status (*cloud_step)(void *user, al_model *cloud, const al_text_cloud *d);
    void *cloud_step_user;
} al_scenario_config;


typedef struct al_scenario_result {
    int users;
    int freeze;
    double pretrain_seconds;
    double public_samples;
    double cloud_public_val_acc; /* the cloud model on the public validation split (--public-val); -1: none */
    double first_epoch_seconds, later_epoch_seconds; /* autonomous, mean over users */
    double macs_per_sample;                           /* forward, whole model */
    al_method_result m[AL_M_COUNT];
    int *dominant;            /* users * dominant classes */
    int ndominant;
    char **user_names;        /* text: the presidents */
    double user_tokens_mean, test_tokens_mean;
    double seconds_data, seconds_eval; /* text: where the time went */
    double seconds_method[AL_M_COUNT];
    /* text, --select-public: equal-budget comparison (top-3), -1 when not run */
    double sel_global[2], sel_autonomous[2]; /* [0] random public docs, [1] selected */
    /* text: the cloud model's top-3 on the public validation text (users.public_val; 0 when none);
     * per user, the device chooser's sentence (what it chose and why; NULL without the chooser) */
    double public_val_top3;
    char **choice;
} al_scenario_result;

void al_scenario_config_default(al_scenario_config *c);
/* Loads the IDX directory and splits it into public data and users as
 * c->users with c->seed (the same split for pretrain, personalize, scenario). */
al_status al_sim_load_users(const al_scenario_config *c, al_users **out);
/* Pre-trains c->arch on `pub` (SGD with momentum, cosine schedule). */
al_status al_sim_pretrain(const al_scenario_config *c, al_pool *pool, const al_dataset *pub, al_progress_fn progress,
                          void *progress_user, al_model **out);
al_status al_scenario_image(const al_scenario_config *c, al_scenario_result *r);
/* The input-method scenario on State of the Union addresses (users = presidents). */
al_status al_scenario_text(const al_scenario_config *c, al_scenario_result *r);
void al_scenario_config_text_default(al_scenario_config *c);
/* One user's text for the device (autlearn personalize --scenario text): the
 * addresses of president `name` in data_dir encoded with the model's
 * vocabulary; train = all but the latest (the last cap tokens when cap > 0),
 * test = the latest. */
al_status al_sim_text_user(const char *data_dir, const char *vocab, const char *name, long cap, al_ids *train,
                           al_ids *test);
/* Shared by the scenarios: mean, std and mean top-1 of a method's per-user results. */
void al_sim_stats(al_method_result *m, int n);
/* FedAvg's costs (seconds, CPU, MACs, peak memory, bytes up and down) into a by-product of it
 * (fedavg+p, fedavg-ft), which then adds its own device work. */
void al_sim_copy_costs(al_method_result *e, const al_method_result *m);
double al_sim_rss_now_mb(void);
void al_scenario_result_free(al_scenario_result *r);

/* ---- What the two scenarios share (scenario_common.c) ---- */

/* The scenarios' progress line on stderr when c->verbose: the only place
 * the scenario code prints. */
void al_sim_say(const al_scenario_config *c, const char *fmt, ...) AL_PRINTF(2, 3);
/* "<method>: <measure> <mean>" (images) or the text's top-3, top-1 and perplexity. */
void al_sim_say_method(const al_scenario_config *c, int method, const al_method_result *m);
/* Every method's per-user arrays: acc, and for language models also acc_top1, ppl, saved. */
al_status al_sim_results_alloc(al_scenario_result *r, int users, int lm);
/* The learning curve: the first `points` epochs' accuracies, summed over users, become means. */
void al_sim_curve_mean(al_method_result *m, int points, int users);
/* A method is done: ran, and its mean, std and mean top-1 over users. */
void al_sim_method_done(al_method_result *m, int users);
/* The image chooser's al_personalize_config.val_folds for c: --auto-folds
 * as given, 1 (the single split) with --auto-val, else the library's default. */
int al_sim_auto_folds(const al_scenario_config *c);

/* Runs the methods of c->methods (all when 0) in the scenarios' order:
 * global, autonomous, local, centralized, fedavg (each draws from seeds of
 * its own); r->seconds_method: each one's wall time; after each but fedavg
 * (which reports its rounds), its progress line (al_sim_say_method). */
al_status al_sim_run_methods(const al_scenario_config *c, al_scenario_result *r, al_status (*run)(void *ctx, int method),
                             void *ctx);

/* Wall and CPU clocks of one device job. */
typedef struct al_sim_clock {
    double w0, c0;
} al_sim_clock;
void al_sim_clock_start(al_sim_clock *k);
/* The job's seconds since start less `eval_seconds` spent evaluating for the
 * learning curve (CPU time scaled by the job's CPU/wall ratio). */
void al_sim_clock_stop(const al_sim_clock *k, double eval_seconds, double *wall, double *cpu);

/* The device cost of one method, per user: seconds, CPU seconds and MACs
 * (means over users), the largest resident-set peak above the start. */
typedef struct al_sim_meter {
    al_method_result *m;
    int users;
    int share;          /* 1: each user adds its share (x / users); 0: sums, divided in al_sim_meter_end */
    double base, peak;  /* MB */
} al_sim_meter;
void al_sim_meter_begin(al_sim_meter *t, al_method_result *m, int users, int share);
/* The resident-set peak since al_rss_reset_peak(), against the method's largest. */
void al_sim_meter_peak(al_sim_meter *t);
void al_sim_meter_add(al_sim_meter *t, double wall, double cpu, double macs);
/* The means (share == 0) and the peak into the method's result. */
void al_sim_meter_end(al_sim_meter *t);

/* One user's device jobs, one after the other, each metering itself into t
 * (al_rss_reset_peak, al_sim_clock_*, al_sim_meter_peak, al_sim_meter_add);
 * then the learning curve's first `curve_points` epochs as means, the cost
 * and the statistics (al_sim_method_done). */
typedef al_status (*al_sim_user_job)(void *ctx, int k, al_sim_meter *t);
al_status al_sim_each_user(al_method_result *m, int users, int share, int curve_points, al_sim_user_job job,
                           void *ctx);

/* The learning curve of one user's training: the trainer's progress
 * callback (al_sim_on_epoch) evaluates the model after each epoch and adds
 * the accuracy to curve[epoch - 1]; the time it takes is counted apart. */
typedef struct al_sim_curve al_sim_curve;
struct al_sim_curve {
    al_status (*eval)(const al_sim_curve *cb, double *acc); /* the main accuracy of m on test */
    al_model *m;
    al_pool *pool;
    const void *test;         /* the user's test data: al_dataset (images) or al_ids (text); NULL: no curve */
    int batch;                /* images */
    const al_vocab *vocab;    /* text */
    double *curve;            /* accumulates over users */
    double eval_seconds;
    al_status st;
};
int al_sim_on_epoch(void *user, const al_epoch_info *info, int final);

/* Federated averaging from the cloud model: c->rounds rounds; in each, every
 * user trains a copy of the global model, the global model becomes the
 * sample-weighted mean of the copies and is evaluated on every user. */
typedef struct al_sim_fedavg {
    /* user k's training of `work` (a copy of the global model) in round rd,
     * metered into t; *weight: its weight in the mean (its samples) */
    al_status (*train)(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight);
    /* the global model on user k's test data: the main accuracy in *acc; in
     * the last round also the user's results in the method's result */
    al_status (*eval)(void *ctx, al_model *global, int k, int last, double *acc);
    void *ctx;
    int freeze;               /* the first node the users train */
    const char *measure;      /* of the progress line: "mean accuracy", "top-3" */
    int base_before_models;   /* the resident-set base is read before the global model and the
                               * users' copy exist (text), else after them (images) */
    /* Ditto's personal step of user k in round rd (NULL: none), beside its
     * update of the global model: `global` is the round's global model w
     * (its weights stay as they are until the round's mean); the step meters
     * itself into its own method's result, never into fedavg's */
    al_status (*personal)(void *ctx, const al_model *global, int rd, int k);
    float *final_weights;     /* not NULL: receives the final global model's weights (nweights floats) */
} al_sim_fedavg;
/* Runs it into m (curve, cost, statistics; not bytes_uploaded). A client
 * whose training fails with AL_ENUMERIC (diverged past the trainer's
 * rollbacks) sends no update that round: the server averages the others
 * (a round with none keeps the global model) and counts it in
 * m->clients_dropped, as a deployed server leaves out a client that fails;
 * any other error stops the run. */
al_status al_sim_fedavg_run(const al_scenario_config *c, const al_model *cloud, int users, const al_sim_fedavg *f,
                            al_method_result *m);

/* A shared body and a personal head (fedper, fedrep): the head is the
 * output node's parameters (one span of the weight block); c->rounds
 * rounds, in each every user updates a copy of the shared body with its own
 * head in place, keeps the head, and the body becomes the sample-weighted
 * mean of the copies; each user is then scored with the final body and its
 * own head. */
typedef struct al_sim_personal {
    /* user k's local update of `work` (the shared body, the user's head) in round rd, metered into t;
     * *weight: its weight in the mean (its samples) */
    al_status (*train)(void *ctx, al_model *work, int rd, int k, al_sim_meter *t, double *weight);
    /* the final body with user k's head on the user's test data, into the method's results */
    al_status (*score)(void *ctx, al_model *model, int k);
    void *ctx;
    int method;               /* AL_M_FEDPER or AL_M_FEDREP: its name in messages, its result */
    int freeze;               /* the users' copy is frozen here before the first round */
    int base_before_models;   /* as al_sim_fedavg's */
} al_sim_personal;
/* Runs it into m (cost, statistics, per-user body and head CRC-32; not the
 * bytes); *head_floats: the head's size. */
al_status al_sim_personal_run(const al_scenario_config *c, const al_model *start, int users, const al_sim_personal *p,
                              al_method_result *m, size_t *head_floats);

/* Ditto's personal models beside al_sim_fedavg_run (its `personal` step):
 * one per user, each starting as the model fedavg starts from; the step
 * loads user k's into `work` (al_sim_ditto_load), trains it with L2-SP
 * toward the round's global model (al_train_config.l2sp_ref) and stores it
 * back (al_sim_ditto_store), metering itself into t (whose base is read
 * before `work` exists). `work` is made and planned for `batch` once, by
 * al_sim_ditto_begin. Its buffers become resident in the first step, after
 * fedavg has read its base, so when ditto runs fedavg's peak reading
 * includes them: the process then holds both models planned, as a Ditto
 * device does (fedavg alone reads its own peak). */
typedef struct al_sim_ditto {
    al_method_result *m;      /* ditto's result */
    int users;
    size_t nw;
    float *v;                 /* users x nw: each user's personal model (what stays on its device) */
    float *global;            /* nw: the final global model (al_sim_fedavg.final_weights) */
    al_model *work;           /* the personal step trains this one (frozen as fedavg's clients) */
    al_sim_meter t;           /* the personal steps' cost, summed over rounds and users */
} al_sim_ditto;
al_status al_sim_ditto_begin(al_sim_ditto *d, const al_model *start, int freeze, int batch, int users,
                             al_method_result *m);
void al_sim_ditto_load(al_sim_ditto *d, int k);
void al_sim_ditto_store(al_sim_ditto *d, int k);
/* After fedavg's run: ditto's cost is fedavg's (its bytes, its client updates
 * left out, its device work) plus the personal steps' (MACs, seconds; the
 * larger peak); each user is scored with its personal model (score), its
 * CRC-32 kept (m->model_crc) and its distance from the final global model
 * (m->dist). */
al_status al_sim_ditto_end(al_sim_ditto *d, const al_method_result *fedavg,
                           al_status (*score)(void *ctx, al_model *model, int k), void *ctx);
void al_sim_ditto_free(al_sim_ditto *d);

/* Reports */
al_status al_scenario_write_json(const al_scenario_config *c, const al_scenario_result *r, const char *path);
al_status al_scenario_write_svg(const al_scenario_config *c, const al_scenario_result *r, const char *path);

/* Peak resident set since the last reset (Linux: /proc/self/status VmHWM,
 * reset through /proc/self/clear_refs); 0 when unknown. */
void al_rss_reset_peak(void);
double al_rss_peak_mb(void);
double al_cpu_seconds(void);
double al_wall_seconds(void);

#endif
