/* test_rng.c — the counter-based generator: reproducible, stream-separated,
 * and with the right first two moments. */
#include <stdint.h>

#include "isweep/rng.h"
#include "testutil.h"

static void test_same_key_same_stream(void) {
  isw_rng a, b;
  isw_rng_init(&a, 42, 7, ISW_STREAM_DATA);
  isw_rng_init(&b, 42, 7, ISW_STREAM_DATA);
  for (int i = 0; i < 1000; ++i) CU_ASSERT_EQUAL_FATAL(isw_rng_u64(&a), isw_rng_u64(&b));
}

static void test_streams_differ(void) {
  isw_rng a, b, c;
  isw_rng_init(&a, 42, 7, ISW_STREAM_DATA);
  isw_rng_init(&b, 42, 7, ISW_STREAM_INIT);
  isw_rng_init(&c, 43, 7, ISW_STREAM_DATA);
  int same_ab = 0, same_ac = 0;
  for (int i = 0; i < 1000; ++i) {
    uint64_t x = isw_rng_u64(&a);
    same_ab += x == isw_rng_u64(&b);
    same_ac += x == isw_rng_u64(&c);
  }
  CU_ASSERT_EQUAL(same_ab, 0);
  CU_ASSERT_EQUAL(same_ac, 0);
}

static void test_normal_moments(void) {
  isw_rng r;
  isw_rng_init(&r, 1, 2, 3);
  const int n = 200000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    double x = isw_rng_normal(&r);
    s += x;
    s2 += x * x;
  }
  double mean = s / n, var = s2 / n - mean * mean;
  /* 5 standard errors: mean se = 1/sqrt(n) = 0.0022, var se = sqrt(2/n) = 0.0032 */
  CU_ASSERT(fabs(mean) < 0.012);
  CU_ASSERT(fabs(var - 1.0) < 0.016);
}

static void test_uniform_range_and_mean(void) {
  isw_rng r;
  isw_rng_init(&r, 9, 9, 9);
  double s = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    double u = isw_rng_uniform(&r);
    CU_ASSERT_FATAL(u >= 0.0 && u < 1.0);
    s += u;
  }
  CU_ASSERT(fabs(s / n - 0.5) < 5 * 0.2887 / sqrt(n));
}

static void test_permutation_is_a_permutation(void) {
  isw_rng r;
  isw_rng_init(&r, 5, 6, 7);
  int64_t perm[257];
  int seen[257] = {0};
  isw_rng_permutation(&r, perm, 257);
  for (int i = 0; i < 257; ++i) {
    CU_ASSERT_FATAL(perm[i] >= 0 && perm[i] < 257);
    seen[perm[i]]++;
  }
  for (int i = 0; i < 257; ++i) CU_ASSERT_EQUAL(seen[i], 1);
}

static void test_hash_stable_and_sensitive(void) {
  const char a[] = "task=deq;width=16", b[] = "task=deq;width=17";
  CU_ASSERT_EQUAL(isw_hash64(a, sizeof a - 1, 0), isw_hash64(a, sizeof a - 1, 0));
  CU_ASSERT_NOT_EQUAL(isw_hash64(a, sizeof a - 1, 0), isw_hash64(b, sizeof b - 1, 0));
  CU_ASSERT_NOT_EQUAL(isw_hash64(a, sizeof a - 1, 0), isw_hash64(a, sizeof a - 1, 1));
}

int main(int argc, char **argv) {
  static const isw_test_case cases[] = {
      {"the same key gives the same stream", test_same_key_same_stream},
      {"different streams, seeds give different numbers", test_streams_differ},
      {"normals have mean 0 and variance 1", test_normal_moments},
      {"uniforms lie in [0,1) with mean 1/2", test_uniform_range_and_mean},
      {"a permutation hits every index once", test_permutation_is_a_permutation},
      {"the identity hash is stable and sensitive", test_hash_stable_and_sensitive},
      {NULL, NULL}};
  return isw_test_main(argc, argv, "rng", cases);
}
