/* real_end.h — ends a real_s.h section (see there): back to the float64
 * names.  The typed headers already included for float stay declared under
 * their _s names. */
#undef ISW_REAL_FLOAT
#undef ISW_BLAS
#undef ISW_LAPACKE
#define ISW_BLAS(name) cblas_d##name
#define ISW_LAPACKE(name) LAPACKE_d##name
#undef isw_real
#undef isw_nn_gemm
#undef isw_nn_adam_step
#undef isw_solver
#undef isw_solver_create
#undef isw_solver_destroy
#undef isw_solver_reset
#undef isw_solver_step
#undef isw_solver_fallbacks
#undef isw_solver_map
#undef isw_solver_solve
#undef isw_solver_residuals
#undef isw_deq_model
#undef isw_deq_model_create
#undef isw_deq_model_destroy
#undef isw_deq_block
#undef isw_deq_model_init
#undef isw_deq_spectral_norm
#undef isw_deq_spectral_radius
#undef isw_deq_affine
#undef isw_deq_step
#undef isw_deq_step_back
#undef isw_deq_activate
#undef isw_deq_bwd_opts
#undef isw_deq_work
#undef isw_deq_work_create
#undef isw_deq_work_destroy
#undef isw_deq_work_set_reference
#undef isw_deq_work_bytes
#undef isw_deq_loss_grad
#undef isw_deq_evaluate
#undef isw_deq_train
