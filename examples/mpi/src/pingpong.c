/* MPI ping-pong between rank 0 and rank 1: the round-trip latency of small messages and
 * the bandwidth of large ones. Every rank says where it runs (host, Slurm node). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double pingpong(int rank, char *buf, int bytes, int reps) {
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (int i = 0; i < reps; i++) {
        if (rank == 0) {
            MPI_Send(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD);
            MPI_Recv(buf, bytes, MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else if (rank == 1) {
            MPI_Recv(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(buf, bytes, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        }
    }
    return (MPI_Wtime() - start) / reps; /* seconds per round trip */
}

int main(int argc, char **argv) {
    int rank, size, len;
    char host[MPI_MAX_PROCESSOR_NAME];
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &len);
    const char *node = getenv("SLURMD_NODENAME");
    printf("rank %d of %d on %s node %s\n", rank, size, host, node ? node : "-");
    fflush(stdout);
    if (size < 2) {
        if (rank == 0) fprintf(stderr, "ping-pong needs 2 ranks, got %d\n", size);
        MPI_Finalize();
        return 2;
    }
    const int small = 8, large = 1 << 20;
    char *buf = calloc(large, 1);
    pingpong(rank, buf, small, 100); /* warm-up */
    double lat = pingpong(rank, buf, small, 2000);
    pingpong(rank, buf, large, 5);
    double big = pingpong(rank, buf, large, 50);
    if (rank == 0) {
        printf("latency: %.3f us\n", lat / 2 * 1e6);              /* one way */
        printf("bandwidth: %.1f MB/s\n", 2.0 * large / big / 1e6); /* both ways */
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
