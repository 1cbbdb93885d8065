/* maml_net_s.c — the float32 build of maml_net.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "maml_net.c"
