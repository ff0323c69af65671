# Empty dependencies file for ecrdiag.
# This may be replaced when dependencies are built.
