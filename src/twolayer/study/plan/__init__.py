"""What to run: the config (:mod:`.config`) validated by its schema (:mod:`.schema`), the grid
axes (:mod:`.axes`), the names of points and models (:mod:`.naming`), the job spec a training job
receives (:mod:`.jobspec`), what a job needs (:mod:`.resources`), the code digests that decide what
reruns (:mod:`.provenance`) and how the workflow was invoked (:mod:`.invocation`)."""
