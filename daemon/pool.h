/* pool.h - worker threads shared fairly by concurrent requests.
 *
 * A piece of work (one request) advances in stages; the jobs of a stage are
 * independent and may run on several workers at once, and a stage starts
 * only when every job of the previous one has returned. This is the shape
 * of libm2t's task API, plus the image decoding and encoding around it.
 *
 * Scheduling is round-robin between the active works, one job at a time:
 * a worker takes the work at the head of the run queue, claims its next
 * job, and puts it back at the tail if jobs remain. So a big image spreads
 * over every worker when it is alone, and a small one arriving behind it
 * waits for at most one job per active work, not for the whole big image.
 *
 * At most max_active works are active; later ones wait in a FIFO of at most
 * queue_length (pool_submit() refuses beyond that) for at most
 * queue_timeout_ns. A work past its deadline gets no more jobs.
 */
#ifndef M2TD_POOL_H
#define M2TD_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    POOL_DONE,           /* every stage ran; the work's own result says how it went */
    POOL_QUEUE_TIMEOUT,  /* waited longer than the queue timeout; never started */
    POOL_DEADLINE,       /* passed its deadline while active; remaining jobs skipped */
    POOL_CANCELLED,      /* pool_cancel_all() */
} pool_outcome;

typedef struct pool_work pool_work;

typedef struct {
    /* Jobs of the current stage; 0 when the work is complete. */
    size_t (*stage_jobs)(pool_work *w);
    /* Runs one job; jobs of one stage may run concurrently. */
    void (*run_job)(pool_work *w, size_t job);
    /* Called once all jobs of the stage have returned, before stage_jobs. */
    void (*finish_stage)(pool_work *w);
    /* The last call the pool makes for w, from any thread; w may be freed. */
    void (*complete)(pool_work *w, pool_outcome outcome);
} pool_work_ops;

/* Embedded in the submitter's own structure. */
struct pool_work {
    const pool_work_ops *ops;
    uint64_t deadline_ns;        /* CLOCK_MONOTONIC; 0: none. Set before submitting. */
    uint64_t queued_ns;          /* set by the pool: when submitted */
    uint64_t started_ns;         /* set by the pool: when it became active */
    /* the pool's bookkeeping, under its lock */
    size_t jobs, next_job, running;
    uint64_t queue_deadline_ns;
    pool_outcome stop_reason;    /* != POOL_DONE: give out no more jobs */
    pool_work *next_run;         /* run queue or wait queue */
    pool_work *prev_active, *next_active;
};

typedef struct {
    unsigned max_active;
    unsigned queue_length;
    uint64_t queue_timeout_ns;
} pool_limits;

typedef struct {
    unsigned workers;
    unsigned busy;               /* workers running a job now */
    unsigned active;             /* works started and not complete */
    unsigned queued;             /* works waiting to start */
    uint64_t jobs_done;
    uint64_t last_progress_ns;   /* when a job last returned */
} pool_stats;

typedef enum { POOL_ACCEPTED, POOL_FULL, POOL_STOPPED } pool_admission;

typedef struct pool pool;

/* NULL if the threads cannot be started. */
pool *pool_create(unsigned workers, const pool_limits *limits);
void pool_set_limits(pool *p, const pool_limits *limits);
/* On POOL_ACCEPTED, w->ops->complete will be called exactly once. */
pool_admission pool_submit(pool *p, pool_work *w);
void pool_get_stats(pool *p, pool_stats *out);
/* Completes every waiting work, stops every active one after its running
 * jobs, and refuses new ones (shutdown after the drain timeout). */
void pool_cancel_all(pool *p);
/* Lets every accepted work complete, then joins the workers and frees. */
void pool_destroy(pool *p);

uint64_t pool_now_ns(void);

#endif
