/* blas_select.c - see blas_select.h. */
#include "blas_select.h"

#include <stdlib.h>
#include <unistd.h>

static int cpu_runs_skylakex_kernels(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

void m2t_select_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE") || getenv("M2T_NO_BLAS_SELECT") || !cpu_runs_skylakex_kernels())
        return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): carry on with the kernels OpenBLAS chose. */
}
