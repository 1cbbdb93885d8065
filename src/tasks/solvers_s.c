/* solvers_s.c — the float32 build of solvers.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "solvers.c"
