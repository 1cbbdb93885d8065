/* imaml_s.c — the float32 build of imaml.c (nn.h: the LAPACK s/d pattern). */
#include "isweep/real_s.h"
#include "imaml.c"
