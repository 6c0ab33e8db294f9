"""Several processes: starting ranks and the collectives genbench's code uses."""
