/* The scenario report as one self-contained HTML page (inline CSS and SVG,
 * no scripts, no external resources): per-user accuracy by method, learning
 * curves, the cost table. Input is the JSON that al_scenario_write_json
 * writes (`autlearn scenario ... --json`). The CLI's `report` command. */
#ifndef AL_SIM_HTML_H
#define AL_SIM_HTML_H

#include "json.h"

/* Checks that `doc` is a scenario report (AL_EFORMAT naming what is wrong
 * otherwise) and writes the page to `path` atomically (a temporary file,
 * then rename): on any error no file is left at `path`. `title` may be NULL. */
al_status al_report_html(const al_json *doc, const char *title, const char *path);

#endif
