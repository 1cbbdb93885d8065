/* rng.c — counter-based generator and identity hash (see rng.h).
 * Pure functions of their inputs: no global state, safe in any thread. */
#include "isweep/rng.h"

#include <math.h>

uint64_t isw_mix64(uint64_t x) {
  /* splitmix64 finaliser (Stafford variant 13) */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t isw_hash64(const void *data, size_t n, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = 0xcbf29ce484222325ULL ^ isw_mix64(seed);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return isw_mix64(h ^ (uint64_t)n);
}

void isw_rng_init(isw_rng *r, uint64_t sweep_seed, uint64_t id, uint64_t stream) {
  uint64_t k = isw_mix64(sweep_seed + 0x9e3779b97f4a7c15ULL);
  k = isw_mix64(k ^ id);
  k = isw_mix64(k + 0x632be59bd9b4e019ULL * (stream + 1));
  r->key = k;
  r->counter = 0;
  r->has_spare = 0;
  r->spare = 0.0;
}

uint64_t isw_rng_u64(isw_rng *r) {
  uint64_t c = r->counter++;
  /* two rounds make consecutive counters independent-looking */
  return isw_mix64(isw_mix64(r->key + 0x9e3779b97f4a7c15ULL * c) ^ r->key);
}

double isw_rng_uniform(isw_rng *r) {
  return (double)(isw_rng_u64(r) >> 11) * 0x1.0p-53;
}

double isw_rng_normal(isw_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1 = 1.0 - isw_rng_uniform(r); /* (0, 1] so log is finite */
  double u2 = isw_rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1));
  double ang = 6.283185307179586476925286766559 * u2;
  r->spare = rad * sin(ang);
  r->has_spare = 1;
  return rad * cos(ang);
}

uint64_t isw_rng_below(isw_rng *r, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = isw_rng_u64(r);
  } while (x >= limit);
  return x % n;
}

void isw_rng_normal_fill(isw_rng *r, double *x, size_t n, double mean, double std) {
  for (size_t i = 0; i < n; ++i) x[i] = mean + std * isw_rng_normal(r);
}

void isw_rng_uniform_fill(isw_rng *r, double *x, size_t n, double lo, double hi) {
  for (size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * isw_rng_uniform(r);
}

void isw_rng_permutation(isw_rng *r, int64_t *perm, size_t n) {
  for (size_t i = 0; i < n; ++i) perm[i] = (int64_t)i;
  for (size_t i = n; i > 1; --i) {
    size_t j = (size_t)isw_rng_below(r, i);
    int64_t t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}
