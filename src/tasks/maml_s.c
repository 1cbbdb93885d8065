/* maml_s.c — the float32 build of maml.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "maml.c"
