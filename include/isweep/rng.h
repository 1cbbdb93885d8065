/* rng.h — counter-based random numbers keyed by (sweep seed, identity, stream).
 *
 * A generator is a key plus a counter: draw k of a stream is a pure function
 * of (key, k), so results never depend on which rank runs a config or in
 * which order configs run.  Streams of one config are told apart by a small
 * stream number (see ISW_STREAM_*).  Not cryptographic. */
#ifndef ISWEEP_RNG_H
#define ISWEEP_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Stream numbers used by tasks; a task may use any value, these are common. */
enum {
  ISW_STREAM_DATA = 1,      /* training data / training tasks */
  ISW_STREAM_TEST_DATA = 2, /* held-out data / test tasks */
  ISW_STREAM_INIT = 3,      /* model initialisation */
  ISW_STREAM_TRAIN = 4,     /* minibatches, meta-batches, dropout... */
  ISW_STREAM_SPLIT = 5      /* train/test split of a real data set */
};

typedef struct {
  uint64_t key;     /* mixed from (sweep seed, identity, stream) */
  uint64_t counter; /* number of 64-bit words drawn so far */
  int has_spare;    /* Box-Muller keeps its second normal */
  double spare;
} isw_rng;

/* Start the stream `stream` of the object `id` under `sweep_seed`. */
void isw_rng_init(isw_rng *r, uint64_t sweep_seed, uint64_t id, uint64_t stream);
uint64_t isw_rng_u64(isw_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
double isw_rng_uniform(isw_rng *r);
/* Standard normal (Box-Muller). */
double isw_rng_normal(isw_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t isw_rng_below(isw_rng *r, uint64_t n);
/* x[i] = mean + std * N(0,1), i < n. */
void isw_rng_normal_fill(isw_rng *r, double *x, size_t n, double mean, double std);
/* x[i] = U[lo, hi), i < n. */
void isw_rng_uniform_fill(isw_rng *r, double *x, size_t n, double lo, double hi);
/* Fisher-Yates permutation of 0..n-1 into perm. */
void isw_rng_permutation(isw_rng *r, int64_t *perm, size_t n);

/* 64-bit hash of a byte string (FNV-1a folded through a strong finaliser),
 * for stable identities. */
uint64_t isw_hash64(const void *data, size_t n, uint64_t seed);
/* The finaliser on its own: a bijective mix of one word. */
uint64_t isw_mix64(uint64_t x);

#endif
