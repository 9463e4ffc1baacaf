/*
 * mixture_ref.h - an independent double-precision model of gmm_cdf.h's
 * normative rules, written from the text of that header, for the tests to
 * compare the library against; and random mixtures for them to use.
 */
#ifndef M2T_TEST_MIXTURE_REF_H
#define M2T_TEST_MIXTURE_REF_H

#include <math.h>
#include <stdint.h>

#include "entropy/gmm_cdf.h"
#include "test_util.h"

typedef struct {
    int k;
    float w[M2T_GMM_MAX_K], mu[M2T_GMM_MAX_K], sigma[M2T_GMM_MAX_K];
} mixture;

/* The reference reading of a mixture: integer weights, sanitised parameters. */
typedef struct {
    int k;
    uint32_t weight[M2T_GMM_MAX_K];   /* indexed like the input; 0 = unused */
    double mu[M2T_GMM_MAX_K], sigma[M2T_GMM_MAX_K];
    int32_t lo, hi;
} mixture_ref;

static inline void ref_weights(const mixture *m, uint32_t *weight)
{
    int largest = 0;
    uint32_t sum = 0;
    for (int i = 0; i < m->k; i++) {
        double w = m->w[i];
        if (!(w >= 0) || isinf(w))
            w = 0;
        if (w > 1)
            w = 1;
        /* = (uint32)(w * 32768.0f + 0.5f): w * 32768 is exact, and below
         * 2^23 adding 0.5 in float never rounds across an integer. */
        weight[i] = (uint32_t)floor(w * 32768.0 + 0.5);
        sum += weight[i];
        if (weight[i] > weight[largest])
            largest = i;
    }
    uint32_t others = sum - weight[largest];
    if (others < 32768) {
        weight[largest] = 32768 - others;
    } else {
        for (int i = 0; i < m->k; i++)
            weight[i] = 0;
        weight[largest] = 32768;
    }
}

static inline void ref_prepare(const mixture *m, mixture_ref *r)
{
    const double limit = M2T_GMM_VALUE_LIMIT;
    r->k = m->k;
    ref_weights(m, r->weight);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < m->k; i++) {
        double mu = m->mu[i], sigma = m->sigma[i];
        mu = isnan(mu) ? 0 : fmin(fmax(mu, -limit), limit);
        sigma = isnan(sigma) ? 1 : fmin(fmax(sigma, (double)0.11f), 1e4);
        r->mu[i] = mu;
        r->sigma[i] = sigma;
        if (r->weight[i] > 0) {
            lo = fmin(lo, mu - 6 * sigma);
            hi = fmax(hi, mu + 6 * sigma);
        }
    }
    r->lo = (int32_t)fmax(floor(lo), -limit);
    r->hi = (int32_t)fmin(ceil(hi), limit);
    if (r->hi - r->lo + 1 > M2T_GMM_MAX_SUPPORT) {
        double acc = 0;
        for (int i = 0; i < m->k; i++)
            acc += r->weight[i] * r->mu[i];
        double c = fmin(fmax(floor(acc / 32768 + 0.5), -limit), limit);
        r->lo = (int32_t)fmin(fmax(c - 128, -limit), limit - 255);
        r->hi = r->lo + 255;
    }
}

/* The mixture CDF (with the integer weights) at x, in double, via erfc. */
static inline double ref_cdf(const mixture_ref *r, double x)
{
    double p = 0;
    for (int i = 0; i < r->k; i++)
        if (r->weight[i] > 0)
            p += r->weight[i] / 32768.0 * normal_cdf((x - r->mu[i]) / r->sigma[i]);
    return p;
}

/* cum(s) as gmm_cdf.h defines it, with exact Phi instead of the table. */
static inline double ref_cum(const mixture_ref *r, int32_t s)
{
    int32_t n = r->hi - r->lo + 1;
    double span = 65536.0 - n - 1;
    return span * (ref_cdf(r, s - 0.5) - ref_cdf(r, r->lo - 0.5)) + (s - r->lo);
}

/* Random mixtures of several kinds, to cover the input space. */
enum {
    KIND_TYPICAL,      /* three independent components, moderate scales */
    KIND_CLUSTERED,    /* three components around one centre, as a trained
                          model mostly predicts */
    KIND_TINY,         /* scales at and below the 0.11 floor */
    KIND_HUGE,         /* scales up to and past the 1e4 ceiling */
    KIND_FAR_APART,    /* means thousands apart: the support re-centres */
    KIND_AT_LIMIT,     /* means at and past +-LIMIT */
    KIND_UNNORMALISED, /* weights summing to 1 +- 1e-3 */
    KIND_GARBAGE,      /* NaN, infinities, negative weights and scales */
    KIND_COUNT
};

static inline float rng_special(test_rng *rng)
{
    static const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e30f, -1e30f,
                                     1e-40f, 2.0f, -1.0f};
    return specials[rng_below(rng, sizeof(specials) / sizeof(specials[0]))];
}

static inline void random_mixture(test_rng *rng, int kind, mixture *m)
{
    m->k = kind == KIND_TYPICAL || kind == KIND_CLUSTERED ? 3
                                                          : 1 + (int)rng_below(rng, M2T_GMM_MAX_K);
    double cluster_centre = 3.0 * rng_gaussian(rng);
    double cluster_scale = exp(rng_range(rng, log(0.11), log(6.0)));
    double logits[M2T_GMM_MAX_K], total = 0;
    for (int i = 0; i < m->k; i++) {
        logits[i] = exp(2.0 * rng_gaussian(rng));
        total += logits[i];
    }
    for (int i = 0; i < m->k; i++) {
        m->w[i] = (float)(logits[i] / total);
        double centre = 8.0 * rng_gaussian(rng);
        m->mu[i] = (float)(centre);
        m->sigma[i] = (float)exp(rng_range(rng, log(0.05), log(30.0)));
        switch (kind) {
        case KIND_CLUSTERED:
            m->mu[i] = (float)(cluster_centre + cluster_scale * rng_gaussian(rng));
            m->sigma[i] = (float)(cluster_scale * exp(0.3 * rng_gaussian(rng)));
            break;
        case KIND_TINY:
            m->sigma[i] = (float)rng_range(rng, 0.0, 0.2);
            m->mu[i] = (float)rng_range(rng, -3, 3);
            break;
        case KIND_HUGE:
            m->sigma[i] = (float)exp(rng_range(rng, log(20.0), log(1e5)));
            break;
        case KIND_FAR_APART:
            m->mu[i] = (float)rng_range(rng, -30000, 30000);
            break;
        case KIND_AT_LIMIT:
            m->mu[i] = (float)((rng_below(rng, 2) ? 1 : -1) * rng_range(rng, 32700, 33000));
            break;
        case KIND_UNNORMALISED:
            m->w[i] = (float)(m->w[i] * (1 + rng_range(rng, -1e-3, 1e-3)));
            break;
        case KIND_GARBAGE:
            if (rng_below(rng, 3) == 0)
                m->w[i] = rng_special(rng);
            if (rng_below(rng, 3) == 0)
                m->mu[i] = rng_special(rng);
            if (rng_below(rng, 3) == 0)
                m->sigma[i] = rng_special(rng);
            break;
        default:
            break;
        }
    }
}

/* A value drawn from the mixture (given its sanitised form), rounded and
 * clamped to the coding limit. */
static inline int32_t sample_mixture(test_rng *rng, const mixture_ref *r)
{
    uint32_t pick = rng_below(rng, 32768), acc = 0;
    int i = 0;
    for (; i < r->k - 1; i++) {
        acc += r->weight[i];
        if (pick < acc)
            break;
    }
    double v = floor(r->mu[i] + r->sigma[i] * rng_gaussian(rng) + 0.5);
    return (int32_t)fmin(fmax(v, -M2T_GMM_VALUE_LIMIT), M2T_GMM_VALUE_LIMIT);
}

#endif
