"""The representation study: the image estimator's 2D and 3D outputs as inputs, targets and labels of the lifters,
on Human3.6M and on LSP.

Stages; each one is skipped when its output exists, so an interrupted study resumes where it stopped:

1. the estimator: `--estimator RUN`, or one trained into <results>/representations/estimator/ with
   `--estimator-config` (default opts/metro_tiny.yaml on a CPU, opts/metro_r50.yaml on a GPU);
2. images of the lifting frames (training subjects every `--image-stride`-th frame, test subjects every
   `--test-stride`-th, all cameras) rendered once into cache_dir in the parsed-Human3.6M layout, or `--images DIR`;
3. predictions/{train,test,test_truncated}.npz: the estimator's 2D (image px), root-relative and absolute 3D
   for every lifting frame, and for partial-body crops of some test frames;
4. the lifter rows, through the paper-experiment runner (seeds, parallel jobs, resume): supervised and relative
   lifters on GT 2D, GT 2D + noise of the estimator's mean 2D error, estimator 2D at test only / in training and
   test, estimator 3D as targets, depth-order labels from estimator 3D or from the annotator-noise model;
5. evaluation -> summary.json: the estimator's own 3D as a row, 2D input errors (mean px, PCK), the truncated
   slice, LSP (a rendered LSP-layout set or `--lsp-images DIR`) and the data of the galleries.

Evaluation is always against GT 3D; nothing of the test subjects is seen in training. Plots:
paper_plots/representations.py, which reads only these files.

Modules: `design` (the rows and the settings only the study knows), `arguments`, `cache` (image sets rendered once),
`predict` (the estimator over the lifting frames and LSP), `evaluation` (the measurements) and `study` (the stages
in order, `main`). With `--launcher slurm` the estimator's training and the lifter rows run as Slurm jobs.
"""
