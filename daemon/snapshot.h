/* snapshot.h - what one request runs with: the settings and the models.
 *
 * SIGHUP builds a new snapshot and makes it current; requests in flight
 * keep a reference to the one they started with, so a reload never changes
 * a model (or a limit) under a running request, and the old models are
 * closed when the last of those requests ends.
 */
#ifndef M2TD_SNAPSHOT_H
#define M2TD_SNAPSHOT_H

#include <stdatomic.h>
#include <uv.h>

#include "config.h"
#include "models.h"

typedef struct {
    atomic_uint refs;
    unsigned generation;       /* 1 at start, +1 per successful reload */
    m2td_config config;
    model_set *models;
    int ready;                 /* models loaded and self-test passed */
    char not_ready[PATH_MAX + 512];   /* why not, for /readyz */
} snapshot;

/* Takes ownership of models (NULL while none could be loaded). */
snapshot *snapshot_create(const m2td_config *config, model_set *models, unsigned generation);
void snapshot_retain(snapshot *s);
void snapshot_release(snapshot *s);

/* The current snapshot, replaced atomically by reloads. */
typedef struct {
    uv_mutex_t lock;
    snapshot *current;
} snapshot_holder;

int snapshot_holder_init(snapshot_holder *h);
/* Returns the current snapshot with a reference the caller releases. */
snapshot *snapshot_acquire(snapshot_holder *h);
/* Makes s current (taking the caller's reference) and drops the old one. */
void snapshot_publish(snapshot_holder *h, snapshot *s);
void snapshot_holder_destroy(snapshot_holder *h);

#endif
