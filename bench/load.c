/* m2td-load - a small HTTP load generator for m2td (docs/daemon-performance.md).
 *
 *   m2td-load --url http://127.0.0.1:8080 --endpoint compress|decompress
 *             --file INPUT [--quality Q] [--concurrency N] [--requests M]
 *             [--warmup K] [--rss-pid PID --rss-after K]
 *
 * N threads, each with its own keep-alive connection, send M requests in
 * all (after K warm-up requests that are not timed) and check every answer:
 * status 200 and the same bytes as the first answer. Prints one line:
 * images per second, latency percentiles, errors; with --rss-pid, the
 * server's resident memory after the first --rss-after requests and at the
 * end.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_file.h"

typedef struct {
    const char *url;
    const char *endpoint;
    const char *file;
    unsigned quality, concurrency, requests, warmup, rss_after;
    long rss_pid;
} options;

typedef struct {
    uint8_t *data;
    size_t size, cap;
} buffer;

typedef struct {
    const options *opt;
    char full_url[512];
    const char *content_type;
    uint8_t *body;
    size_t body_size;
    atomic_uint next;             /* next request number to send */
    atomic_uint errors, mismatches;
    double *latency;              /* per timed request, seconds */
    pthread_mutex_t lock;
    uint8_t *reference;           /* the first answer; every other must equal it */
    size_t reference_size;
    long rss_first_kb;
} run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t collect(char *ptr, size_t size, size_t count, void *arg)
{
    buffer *b = arg;
    size_t n = size * count;
    if (b->size + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 20;
        while (cap < b->size + n)
            cap *= 2;
        uint8_t *bigger = realloc(b->data, cap);
        if (!bigger)
            return 0;
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->size, ptr, n);
    b->size += n;
    return n;
}

static long rss_kb(long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* Same bytes as the first answer (taken as the reference). */
static int check_answer(run *r, const buffer *b)
{
    pthread_mutex_lock(&r->lock);
    int ok;
    if (!r->reference) {
        r->reference = malloc(b->size);
        if (r->reference)
            memcpy(r->reference, b->data, b->size);
        r->reference_size = b->size;
        ok = r->reference != NULL;
    } else {
        ok = b->size == r->reference_size && memcmp(b->data, r->reference, b->size) == 0;
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

static void *client(void *arg)
{
    run *r = arg;
    const options *o = r->opt;
    CURL *curl = curl_easy_init();
    char header[128];
    snprintf(header, sizeof header, "Content-Type: %s", r->content_type);
    struct curl_slist *headers = curl_slist_append(NULL, header);
    headers = curl_slist_append(headers, "Expect:");   /* no 100-continue round trip */
    buffer b = {0};
    curl_easy_setopt(curl, CURLOPT_URL, r->full_url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, (const char *)r->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_size);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    unsigned total = o->warmup + o->requests;
    for (unsigned i; (i = atomic_fetch_add(&r->next, 1)) < total;) {
        b.size = 0;
        double start = now_s();
        CURLcode rc = curl_easy_perform(curl);
        double took = now_s() - start;
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200)
            atomic_fetch_add(&r->errors, 1);
        else if (!check_answer(r, &b))
            atomic_fetch_add(&r->mismatches, 1);
        if (i >= o->warmup)
            r->latency[i - o->warmup] = took;
        if (o->rss_pid && i + 1 == o->rss_after)
            r->rss_first_kb = rss_kb(o->rss_pid);
    }
    free(b.data);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return NULL;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, unsigned n, double p)
{
    unsigned i = (unsigned)ceil(p * n) - 1;
    return sorted[i < n ? i : n - 1];
}

static int parse(int argc, char **argv, options *o)
{
    static const struct option longs[] = {
        {"url", required_argument, NULL, 'u'},
        {"endpoint", required_argument, NULL, 'e'},
        {"file", required_argument, NULL, 'f'},
        {"quality", required_argument, NULL, 'q'},
        {"concurrency", required_argument, NULL, 'c'},
        {"requests", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},
        {"rss-pid", required_argument, NULL, 'p'},
        {"rss-after", required_argument, NULL, 'a'},
        {NULL, 0, NULL, 0},
    };
    *o = (options){.url = "http://127.0.0.1:8080", .endpoint = "compress", .concurrency = 1,
                   .requests = 100, .rss_after = 100};
    for (int c; (c = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
        switch (c) {
        case 'u':
            o->url = optarg;
            break;
        case 'e':
            o->endpoint = optarg;
            break;
        case 'f':
            o->file = optarg;
            break;
        case 'q':
            o->quality = (unsigned)atoi(optarg);
            break;
        case 'c':
            o->concurrency = (unsigned)atoi(optarg);
            break;
        case 'n':
            o->requests = (unsigned)atoi(optarg);
            break;
        case 'w':
            o->warmup = (unsigned)atoi(optarg);
            break;
        case 'p':
            o->rss_pid = atol(optarg);
            break;
        case 'a':
            o->rss_after = (unsigned)atoi(optarg);
            break;
        default:
            return -1;
        }
    }
    int known = strcmp(o->endpoint, "compress") == 0 || strcmp(o->endpoint, "decompress") == 0;
    return o->file && known && o->concurrency > 0 && o->requests > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    options o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: m2td-load --url URL --endpoint compress|decompress --file IN "
                        "[--quality Q] [--concurrency N] [--requests M] [--warmup K] "
                        "[--rss-pid PID --rss-after K]\n");
        return 2;
    }
    static run r;
    r.opt = &o;
    pthread_mutex_init(&r.lock, NULL);
    if (bench_read_file(o.file, &r.body, &r.body_size) != 0) {
        perror(o.file);
        return 1;
    }
    int compress = strcmp(o.endpoint, "compress") == 0;
    r.content_type = !compress ? "application/octet-stream"
                     : r.body[0] == 'P' ? "image/x-portable-anymap" : "image/png";
    snprintf(r.full_url, sizeof r.full_url, "%s/v1/%s", o.url, o.endpoint);
    if (compress && o.quality)
        snprintf(r.full_url + strlen(r.full_url), sizeof r.full_url - strlen(r.full_url),
                 "?quality=%u", o.quality);
    r.latency = calloc(o.requests, sizeof *r.latency);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_t *threads = calloc(o.concurrency, sizeof *threads);
    if (!r.latency || !threads)
        return 1;
    /* the warm-up requests run first, on one connection, untimed */
    unsigned timed = o.requests;
    double start = 0;
    if (o.warmup) {
        o.requests = 0;
        client(&r);
        o.requests = timed;
        atomic_store(&r.next, o.warmup);
    }
    start = now_s();
    for (unsigned i = 0; i < o.concurrency; i++)
        pthread_create(&threads[i], NULL, client, &r);
    for (unsigned i = 0; i < o.concurrency; i++)
        pthread_join(threads[i], NULL);
    double took = now_s() - start;
    qsort(r.latency, timed, sizeof *r.latency, by_value);
    printf("endpoint=%s concurrency=%u requests=%u seconds=%.2f images_per_s=%.3f "
           "p50_ms=%.1f p90_ms=%.1f p99_ms=%.1f max_ms=%.1f errors=%u mismatches=%u",
           o.endpoint, o.concurrency, timed, took, timed / took,
           1000 * percentile(r.latency, timed, 0.50), 1000 * percentile(r.latency, timed, 0.90),
           1000 * percentile(r.latency, timed, 0.99), 1000 * r.latency[timed - 1],
           atomic_load(&r.errors), atomic_load(&r.mismatches));
    if (o.rss_pid)
        printf(" rss_after_%u_kb=%ld rss_end_kb=%ld", o.rss_after, r.rss_first_kb,
               rss_kb(o.rss_pid));
    printf("\n");
    curl_global_cleanup();
    free(threads);
    free(r.latency);
    free(r.reference);
    free(r.body);
    return atomic_load(&r.errors) || atomic_load(&r.mismatches) ? 1 : 0;
}
