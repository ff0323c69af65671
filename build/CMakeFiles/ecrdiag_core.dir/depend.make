# Empty dependencies file for ecrdiag_core.
# This may be replaced when dependencies are built.
