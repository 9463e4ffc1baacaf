/* pool.c - fair worker pool (see pool.h).
 *
 * Why not uv_queue_work(): libuv's thread pool is one process-wide FIFO of
 * whole tasks (sized by UV_THREADPOOL_SIZE, shared with file system and DNS
 * work); queueing every job of a big image there would put a small image
 * behind all of them, and the FIFO cannot be reordered. Here the workers
 * are uv_thread_t's with their own run queue under one uv_mutex_t.
 *
 * Locking: everything in struct pool and the bookkeeping fields of each
 * pool_work are under p->lock. The work's own callbacks run without it:
 * run_job concurrently for one stage, finish_stage and stage_jobs only when
 * no job of that work is running, complete last.
 */
#include "pool.h"

#include <stdlib.h>
#include <time.h>
#include <uv.h>

struct pool {
    uv_mutex_t lock;
    uv_cond_t wake;
    uv_thread_t *threads;
    unsigned workers;
    pool_limits limits;
    pool_work *run_head, *run_tail;     /* active works with jobs to hand out */
    pool_work *wait_head, *wait_tail;   /* accepted, not yet active */
    pool_work *active;                  /* every active work (for cancel_all) */
    unsigned active_count, queued_count, busy;
    uint64_t jobs_done, last_progress_ns;
    int stopping;                       /* pool_destroy: exit when idle */
    int refusing;                       /* pool_cancel_all: accept nothing */
};

uint64_t pool_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- queues (under the lock) ---------------------------------------------- */

static void push_run(pool *p, pool_work *w)
{
    w->next_run = NULL;
    if (p->run_tail)
        p->run_tail->next_run = w;
    else
        p->run_head = w;
    p->run_tail = w;
    uv_cond_signal(&p->wake);
}

static pool_work *pop_run(pool *p)
{
    pool_work *w = p->run_head;
    if (w) {
        p->run_head = w->next_run;
        if (!p->run_head)
            p->run_tail = NULL;
    }
    return w;
}

static void push_wait(pool *p, pool_work *w)
{
    w->next_run = NULL;
    if (p->wait_tail)
        p->wait_tail->next_run = w;
    else
        p->wait_head = w;
    p->wait_tail = w;
    p->queued_count++;
}

static pool_work *pop_wait(pool *p)
{
    pool_work *w = p->wait_head;
    if (w) {
        p->wait_head = w->next_run;
        if (!p->wait_head)
            p->wait_tail = NULL;
        p->queued_count--;
    }
    return w;
}

static void link_active(pool *p, pool_work *w, uint64_t now)
{
    w->started_ns = now;
    w->prev_active = NULL;
    w->next_active = p->active;
    if (p->active)
        p->active->prev_active = w;
    p->active = w;
    p->active_count++;
    push_run(p, w);
}

static void unlink_active(pool *p, pool_work *w)
{
    if (w->prev_active)
        w->prev_active->next_active = w->next_active;
    else
        p->active = w->next_active;
    if (w->next_active)
        w->next_active->prev_active = w->prev_active;
    p->active_count--;
    uv_cond_signal(&p->wake);   /* a slot is free: a waiting work may start */
}

/* ---- completion ---------------------------------------------------------- */

/* Works to complete once the lock is released (complete() may free them,
 * and may call back into code that takes other locks). */
typedef struct {
    pool_work *items[16];
    pool_outcome outcomes[16];
    unsigned count;
} finished_list;

static int finished_full(const finished_list *f)
{
    return f->count == sizeof f->items / sizeof f->items[0];
}

static void finished_add(finished_list *f, pool_work *w, pool_outcome outcome)
{
    f->items[f->count] = w;
    f->outcomes[f->count++] = outcome;
}

/* Called with the lock held; returns with it held. */
static void complete_finished(pool *p, finished_list *f)
{
    if (f->count == 0)
        return;
    uv_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < f->count; i++)
        f->items[i]->ops->complete(f->items[i], f->outcomes[i]);
    f->count = 0;
    uv_mutex_lock(&p->lock);
}

/* Waiting works past their queue deadline, then as many waiting works as
 * there are free active slots. FIFO order means the head expires first. */
static void admit_waiting(pool *p, uint64_t now, finished_list *f)
{
    while (p->wait_head && !finished_full(f) && now >= p->wait_head->queue_deadline_ns)
        finished_add(f, pop_wait(p), POOL_QUEUE_TIMEOUT);
    while (p->wait_head && p->active_count < p->limits.max_active)
        link_active(p, pop_wait(p), now);
}

/* ---- stages -------------------------------------------------------------- */

/* Every job of w's stage has returned: run finish_stage and start the next
 * stage, or complete w. Called with the lock held; returns with it held. */
static void end_stage(pool *p, pool_work *w)
{
    pool_outcome outcome = w->stop_reason;
    size_t jobs = 0;
    if (outcome == POOL_DONE) {
        uv_mutex_unlock(&p->lock);
        w->ops->finish_stage(w);
        jobs = w->ops->stage_jobs(w);
        uv_mutex_lock(&p->lock);
        outcome = w->stop_reason;   /* cancel_all may have come meanwhile */
    }
    if (jobs > 0 && outcome == POOL_DONE) {
        w->jobs = jobs;
        w->next_job = 0;
        push_run(p, w);
        return;
    }
    unlink_active(p, w);
    uv_mutex_unlock(&p->lock);
    w->ops->complete(w, outcome);
    uv_mutex_lock(&p->lock);
}

/* Takes one job of w, or retires it if it must stop. Lock held throughout,
 * except while the job runs. */
static void run_one_job(pool *p, pool_work *w, uint64_t now)
{
    if (w->stop_reason == POOL_DONE && w->deadline_ns && now >= w->deadline_ns)
        w->stop_reason = POOL_DEADLINE;
    if (w->stop_reason != POOL_DONE) {
        w->next_job = w->jobs;   /* hand out nothing more */
        if (w->running == 0)
            end_stage(p, w);
        return;                  /* else the last running job ends the stage */
    }
    size_t job = w->next_job++;
    w->running++;
    if (w->next_job < w->jobs)
        push_run(p, w);          /* round-robin: back of the queue */
    p->busy++;
    uv_mutex_unlock(&p->lock);
    w->ops->run_job(w, job);
    uv_mutex_lock(&p->lock);
    p->busy--;
    p->jobs_done++;
    p->last_progress_ns = pool_now_ns();
    w->running--;
    if (w->running == 0 && w->next_job == w->jobs)
        end_stage(p, w);
}

static void wait_for_work(pool *p, uint64_t now)
{
    if (!p->wait_head) {
        uv_cond_wait(&p->wake, &p->lock);
        return;
    }
    /* Wake up for the head's queue deadline even if nothing else happens. */
    uint64_t deadline = p->wait_head->queue_deadline_ns;
    uv_cond_timedwait(&p->wake, &p->lock, deadline > now ? deadline - now : 1);
}

static void worker_main(void *arg)
{
    pool *p = arg;
    finished_list finished = {.count = 0};
    uv_mutex_lock(&p->lock);
    for (;;) {
        uint64_t now = pool_now_ns();
        admit_waiting(p, now, &finished);
        complete_finished(p, &finished);
        pool_work *w = pop_run(p);
        if (w) {
            run_one_job(p, w, now);
            continue;
        }
        if (p->stopping && p->active_count == 0 && !p->wait_head)
            break;
        wait_for_work(p, now);
    }
    uv_cond_broadcast(&p->wake);   /* let the other workers see the exit too */
    uv_mutex_unlock(&p->lock);
}

/* ---- public -------------------------------------------------------------- */

pool *pool_create(unsigned workers, const pool_limits *limits)
{
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = calloc(workers, sizeof *p->threads);
    p->limits = *limits;
    p->last_progress_ns = pool_now_ns();
    if (!p->threads || uv_mutex_init(&p->lock) != 0) {
        free(p->threads);
        free(p);
        return NULL;
    }
    if (uv_cond_init(&p->wake) != 0) {
        uv_mutex_destroy(&p->lock);
        free(p->threads);
        free(p);
        return NULL;
    }
    for (; p->workers < workers; p->workers++) {
        if (uv_thread_create(&p->threads[p->workers], worker_main, p) != 0) {
            pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void pool_set_limits(pool *p, const pool_limits *limits)
{
    uv_mutex_lock(&p->lock);
    p->limits = *limits;
    uv_cond_broadcast(&p->wake);   /* more active slots may start waiting works */
    uv_mutex_unlock(&p->lock);
}

pool_admission pool_submit(pool *p, pool_work *w)
{
    size_t jobs = w->ops->stage_jobs(w);   /* before the pool shares w */
    uint64_t now = pool_now_ns();
    uv_mutex_lock(&p->lock);
    pool_admission verdict = POOL_ACCEPTED;
    if (p->stopping || p->refusing || jobs == 0) {
        verdict = POOL_STOPPED;
    } else if (p->active_count < p->limits.max_active && !p->wait_head) {
        w->queued_ns = now;
        link_active(p, w, now);
    } else if (p->queued_count < p->limits.queue_length) {
        w->queued_ns = now;
        w->queue_deadline_ns = now + p->limits.queue_timeout_ns;
        push_wait(p, w);
        uv_cond_signal(&p->wake);   /* an idle worker arms the queue timer */
    } else {
        verdict = POOL_FULL;
    }
    if (verdict == POOL_ACCEPTED) {
        w->jobs = jobs;
        w->next_job = 0;
        w->running = 0;
        w->stop_reason = POOL_DONE;
    }
    uv_mutex_unlock(&p->lock);
    return verdict;
}

void pool_get_stats(pool *p, pool_stats *out)
{
    uv_mutex_lock(&p->lock);
    out->workers = p->workers;
    out->busy = p->busy;
    out->active = p->active_count;
    out->queued = p->queued_count;
    out->jobs_done = p->jobs_done;
    out->last_progress_ns = p->last_progress_ns;
    uv_mutex_unlock(&p->lock);
}

void pool_cancel_all(pool *p)
{
    finished_list finished = {.count = 0};
    uv_mutex_lock(&p->lock);
    p->refusing = 1;
    for (pool_work *w = p->active; w; w = w->next_active)
        if (w->stop_reason == POOL_DONE)
            w->stop_reason = POOL_CANCELLED;
    while (p->wait_head) {
        finished_add(&finished, pop_wait(p), POOL_CANCELLED);
        if (finished_full(&finished))
            complete_finished(p, &finished);
    }
    complete_finished(p, &finished);
    uv_cond_broadcast(&p->wake);
    uv_mutex_unlock(&p->lock);
}

void pool_destroy(pool *p)
{
    if (!p)
        return;
    uv_mutex_lock(&p->lock);
    p->stopping = 1;
    uv_cond_broadcast(&p->wake);
    uv_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->workers; i++)
        uv_thread_join(&p->threads[i]);
    uv_cond_destroy(&p->wake);
    uv_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}
