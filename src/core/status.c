/* Status codes, per-thread error messages and the logging sink. */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *al_strerror(al_status s) {
    switch (s) {
    case AL_OK: return "success";
    case AL_EINVAL: return "invalid argument";
    case AL_ENOMEM: return "out of memory";
    case AL_EIO: return "input/output error";
    case AL_EFORMAT: return "malformed file";
    case AL_ECHECKSUM: return "checksum mismatch";
    case AL_ESHAPE: return "shape mismatch";
    case AL_EUNSUPPORTED: return "unsupported";
    case AL_ERANGE: return "value out of range";
    case AL_ENUMERIC: return "numerical failure (NaN or Inf)";
    case AL_EBUDGET: return "memory budget cannot be met";
    case AL_ESTATE: return "invalid state for this call";
    case AL_ECANCELED: return "canceled";
    }
    return "unknown status";
}

const char *al_status_name(al_status s) {
    switch (s) {
    case AL_OK: return "AL_OK";
    case AL_EINVAL: return "AL_EINVAL";
    case AL_ENOMEM: return "AL_ENOMEM";
    case AL_EIO: return "AL_EIO";
    case AL_EFORMAT: return "AL_EFORMAT";
    case AL_ECHECKSUM: return "AL_ECHECKSUM";
    case AL_ESHAPE: return "AL_ESHAPE";
    case AL_EUNSUPPORTED: return "AL_EUNSUPPORTED";
    case AL_ERANGE: return "AL_ERANGE";
    case AL_ENUMERIC: return "AL_ENUMERIC";
    case AL_EBUDGET: return "AL_EBUDGET";
    case AL_ESTATE: return "AL_ESTATE";
    case AL_ECANCELED: return "AL_ECANCELED";
    }
    return "AL_UNKNOWN";
}

const char *al_last_error(void) { return last_error[0] ? last_error : "no error"; }

const char *al_version(void) { return "0.1.0"; }

al_status al_error(al_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

static al_log_fn log_fn;
static void *log_user;
static al_log_level log_min = AL_LOG_INFO;

void al_set_log(al_log_fn fn, void *user, al_log_level min_level) {
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void al_log(al_log_level level, const char *fmt, ...) {
    if (!log_fn || level < log_min) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(log_user, level, buf);
}
