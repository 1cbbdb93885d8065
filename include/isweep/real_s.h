/* real_s.h — switches what follows to the float32 build of the typed
 * kernels (nn.h explains the pattern): isw_real = float and every typed
 * name gets the suffix _s.  Included first by the src/tasks/ *_s.c
 * wrappers, or between two inclusions of a header by code that uses both
 * precisions (then real_end.h switches back).  Every name a typed source
 * defines with external linkage, and every type whose layout depends on
 * isw_real, is listed here; a missing one is a duplicate symbol at link
 * time or a type clash at compile time, never a silent mix. */
#define ISW_REAL_FLOAT 1
#undef ISW_BLAS
#undef ISW_LAPACKE
#define ISW_BLAS(name) cblas_s##name
#define ISW_LAPACKE(name) LAPACKE_s##name

#define isw_real isw_real_s
/* nn.h */
#define isw_nn_gemm isw_nn_gemm_s
#define isw_nn_gemm_add isw_nn_gemm_add_s
#define isw_nn_adam_step isw_nn_adam_step_s
/* solvers.h */
#define isw_solver isw_solver_s
#define isw_solver_create isw_solver_create_s
#define isw_solver_destroy isw_solver_destroy_s
#define isw_solver_reset isw_solver_reset_s
#define isw_solver_step isw_solver_step_s
#define isw_solver_fallbacks isw_solver_fallbacks_s
#define isw_solver_map isw_solver_map_s
#define isw_solver_solve isw_solver_solve_s
#define isw_solver_residuals isw_solver_residuals_s
/* deq.h */
#define isw_deq_model isw_deq_model_s
#define isw_deq_model_create isw_deq_model_create_s
#define isw_deq_model_destroy isw_deq_model_destroy_s
#define isw_deq_block isw_deq_block_s
#define isw_deq_model_init isw_deq_model_init_s
#define isw_deq_spectral_norm isw_deq_spectral_norm_s
#define isw_deq_spectral_radius isw_deq_spectral_radius_s
#define isw_deq_affine isw_deq_affine_s
#define isw_deq_step isw_deq_step_s
#define isw_deq_step_back isw_deq_step_back_s
#define isw_deq_activate isw_deq_activate_s
#define isw_deq_bwd_opts isw_deq_bwd_opts_s
#define isw_deq_work isw_deq_work_s
#define isw_deq_work_create isw_deq_work_create_s
#define isw_deq_work_destroy isw_deq_work_destroy_s
#define isw_deq_work_set_reference isw_deq_work_set_reference_s
#define isw_deq_work_bytes isw_deq_work_bytes_s
#define isw_deq_loss_grad isw_deq_loss_grad_s
#define isw_deq_evaluate isw_deq_evaluate_s
#define isw_deq_train isw_deq_train_s
/* maml.h; isw_maml_train is maml.c's typed run */
#define isw_maml_init_params isw_maml_init_params_s
#define isw_maml_sample_tasks isw_maml_sample_tasks_s
#define isw_maml_tasks isw_maml_tasks_s
#define isw_maml_tasks_init isw_maml_tasks_init_s
#define isw_maml_tasks_free isw_maml_tasks_free_s
#define isw_maml_tasks_meta_batch isw_maml_tasks_meta_batch_s
#define isw_maml_tasks_eval_set isw_maml_tasks_eval_set_s
#define isw_maml_ws isw_maml_ws_s
#define isw_maml_ws_create isw_maml_ws_create_s
#define isw_maml_ws_destroy isw_maml_ws_destroy_s
#define isw_maml_ws_set_reference isw_maml_ws_set_reference_s
#define isw_maml_ws_params isw_maml_ws_params_s
#define isw_maml_loss_grad isw_maml_loss_grad_s
#define isw_maml_hvp isw_maml_hvp_s
#define isw_maml_hvp_prepare isw_maml_hvp_prepare_s
#define isw_maml_hvp_prepared isw_maml_hvp_prepared_s
#define isw_maml_meta_grad isw_maml_meta_grad_s
#define isw_maml_evaluate isw_maml_evaluate_s
#define isw_maml_all_finite isw_maml_all_finite_s
#define isw_maml_train isw_maml_train_s
/* imaml.h; isw_imaml_train is imaml.c's typed run */
#define isw_imaml_ws isw_imaml_ws_s
#define isw_imaml_ws_create isw_imaml_ws_create_s
#define isw_imaml_ws_destroy isw_imaml_ws_destroy_s
#define isw_imaml_ws_set_reference isw_imaml_ws_set_reference_s
#define isw_imaml_inner isw_imaml_inner_s
#define isw_imaml_meta_grad isw_imaml_meta_grad_s
#define isw_imaml_evaluate isw_imaml_evaluate_s
#define isw_imaml_evaluate_prox isw_imaml_evaluate_prox_s
#define isw_imaml_train isw_imaml_train_s
