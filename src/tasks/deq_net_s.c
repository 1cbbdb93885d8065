/* deq_net_s.c — the float32 build of deq_net.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "deq_net.c"
