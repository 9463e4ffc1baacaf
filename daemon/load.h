/* load.h - reading the settings and loading the models: at start, for
 * --check-config, and on SIGHUP. */
#ifndef M2TD_LOAD_H
#define M2TD_LOAD_H

#include <stddef.h>

#include "config.h"
#include "snapshot.h"

/* Where settings come from; the flags win over the file. */
typedef struct {
    const char *config_path;   /* NULL: defaults and flags only */
    const char *listen;        /* flags; NULL when not given */
    const char *threads;
    const char *model;
} settings_source;

/* Defaults, then the file, then the flags. */
int load_settings(const settings_source *src, m2td_config *out, char *err, size_t err_size);

/* Loads config->model and runs the self-test. NULL when the models cannot
 * be loaded (err says why); when the self-test fails, a snapshot that is not
 * ready (its not_ready says why). */
snapshot *load_snapshot(const m2td_config *config, unsigned generation, char *err,
                        size_t err_size);

#endif
