/* mpi_hello.c — the smallest proof that a launcher started ranks that see each other.
 * Each rank prints one line: "rank R size S sum X node NODE", where X is the sum of all
 * ranks from an MPI_Allreduce (S*(S-1)/2 when every rank took part) and NODE is the
 * SLURM node it runs on (SLURMD_NODENAME, "-" outside SLURM).  Used by
 * tests/slurm_test.py to check `srun --mpi=pmix` and `mpirun` inside an allocation. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int rank = 0, size = 0, sum = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  const char *node = getenv("SLURMD_NODENAME");
  printf("rank %d size %d sum %d node %s\n", rank, size, sum, node ? node : "-");
  fflush(stdout);
  MPI_Finalize();
  return 0;
}
