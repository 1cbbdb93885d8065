/* nn_s.c — the float32 build of nn.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "nn.c"
