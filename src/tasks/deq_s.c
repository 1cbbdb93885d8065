/* deq_s.c — the float32 build of deq.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "deq.c"
