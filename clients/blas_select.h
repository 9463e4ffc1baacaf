/* blas_select.h - pick OpenBLAS's AVX-512 kernels where it does not itself. */
#ifndef M2T_BLAS_SELECT_H
#define M2T_BLAS_SELECT_H

/*
 * OpenBLAS 0.3.21 (Debian 12) does not recognise AMD Zen 4/5 and runs its
 * Haswell (AVX2) kernels there, at about half the speed of its SkylakeX
 * (AVX-512) kernels, which those CPUs execute fine. OpenBLAS reads
 * OPENBLAS_CORETYPE only when it is loaded, so on such a CPU, when the
 * variable is unset, this sets it and re-executes the program once.
 * Results of the convolutions may change in the last bits; the entropy
 * model does not use BLAS, so bitstreams stay decodable everywhere.
 * Call first thing in main(). Set M2T_NO_BLAS_SELECT=1 to disable.
 */
void m2t_select_blas_kernels(char **argv);

#endif
