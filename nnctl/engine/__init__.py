"""The fast paths beside the readable engine: a BLAS gemm with fused updates and compiled
optimizer steps. Each gives the bits of `nnctl.core`'s code and is tested against it."""
