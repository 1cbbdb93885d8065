/* bench_maml_step_s.c — the float32 build of bench_maml_step.c (nn.h). */
#include "isweep/real_s.h"
#include "bench_maml_step.c"
