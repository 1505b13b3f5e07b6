"""One job: train a grid point and write its model file and metrics (:mod:`.runner`), the model
file itself (:mod:`.modelio`), the winner's training trace (:mod:`.trace`), and the progress line
the logger plugin prints while jobs run (:mod:`.board`)."""
