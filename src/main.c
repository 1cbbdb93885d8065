/* main.c — argv -> cli -> MPI init -> run -> exit code; nothing else. */
#include <stdio.h>
int main(void) {
  fputs("isweep: under construction\n", stderr);
  return 1;
}
