/* imaml_net_s.c — the float32 build of imaml_net.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "imaml_net.c"
