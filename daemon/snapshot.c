/* snapshot.c - reference-counted settings and models (see snapshot.h). */
#include "snapshot.h"

#include <stdlib.h>

snapshot *snapshot_create(const m2td_config *config, model_set *models, unsigned generation)
{
    snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->generation = generation;
    s->config = *config;
    s->models = models;
    return s;
}

void snapshot_retain(snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void snapshot_release(snapshot *s)
{
    if (!s)
        return;
    /* acq_rel: the thread that frees must see every other user's writes */
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    model_set_free(s->models);
    free(s);
}

int snapshot_holder_init(snapshot_holder *h)
{
    h->current = NULL;
    return uv_mutex_init(&h->lock);
}

snapshot *snapshot_acquire(snapshot_holder *h)
{
    uv_mutex_lock(&h->lock);
    snapshot *s = h->current;
    if (s)
        snapshot_retain(s);
    uv_mutex_unlock(&h->lock);
    return s;
}

void snapshot_publish(snapshot_holder *h, snapshot *s)
{
    uv_mutex_lock(&h->lock);
    snapshot *old = h->current;
    h->current = s;
    uv_mutex_unlock(&h->lock);
    snapshot_release(old);   /* outside the lock: may close models */
}

void snapshot_holder_destroy(snapshot_holder *h)
{
    snapshot_publish(h, NULL);
    uv_mutex_destroy(&h->lock);
}
